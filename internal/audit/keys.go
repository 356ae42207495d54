package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// KeySource derives the log's keys. The data directory's secret box is one:
// its keys follow from secret.key alone, so nothing in the database can
// delete, replace or regenerate them.
type KeySource interface {
	Derive(purpose string) ([]byte, error)
}

// keys are the log's secrets, each derived for one purpose.
type keys struct {
	pending []byte             // HMAC key of pending entries: only Keep can queue one
	mac     []byte             // HMAC key of the sealed chain
	redact  []byte             // HMAC key of redacted values
	signer  ed25519.PrivateKey // checkpoint signatures
	keyID   string             // names the checkpoint public key
}

// The purposes of the log's keys.
const (
	purposePending    = "audit.pending-mac.v1"
	purposeMAC        = "audit.chain-mac.v1"
	purposeRedact     = "audit.redact.v1"
	purposeCheckpoint = "audit.checkpoint-ed25519.v1"
)

func deriveKeys(src KeySource) (keys, error) {
	var k keys
	for _, d := range []struct {
		purpose string
		dst     *[]byte
	}{{purposePending, &k.pending}, {purposeMAC, &k.mac}, {purposeRedact, &k.redact}} {
		b, err := src.Derive(d.purpose)
		if err != nil || len(b) != 32 {
			return k, fmt.Errorf("audit: deriving the %s key: %v", d.purpose, err)
		}
		*d.dst = b
	}
	seed, err := src.Derive(purposeCheckpoint)
	if err != nil || len(seed) != ed25519.SeedSize {
		return k, fmt.Errorf("audit: deriving the checkpoint key: %v", err)
	}
	k.signer = ed25519.NewKeyFromSeed(seed)
	k.keyID = publicKeyID(k.signer.Public().(ed25519.PublicKey))
	return k, nil
}

// publicKeyID is the first 16 bytes of the public key's SHA-256, in hex.
func publicKeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:16])
}
