package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/keep-dev/keep/internal/store"
)

// keys are the log's secrets. Each is 32 random bytes made on first use and
// stored sealed in _keep_audit_keys with its purpose as additional data, so
// one cannot be swapped for another.
type keys struct {
	mac    []byte             // HMAC key of the chain
	redact []byte             // HMAC key of redacted values
	signer ed25519.PrivateKey // checkpoint signatures
	keyID  string             // names the checkpoint public key
}

// The purposes of the log's keys.
const (
	purposeMAC        = "chain-mac"
	purposeRedact     = "redact"
	purposeCheckpoint = "checkpoint-ed25519"
)

func loadKeys(ctx context.Context, db store.DB, box Sealer, now func() time.Time) (keys, error) {
	var k keys
	var err error
	if k.mac, err = loadKey(ctx, db, box, purposeMAC, now); err != nil {
		return k, err
	}
	if k.redact, err = loadKey(ctx, db, box, purposeRedact, now); err != nil {
		return k, err
	}
	seed, err := loadKey(ctx, db, box, purposeCheckpoint, now)
	if err != nil {
		return k, err
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

// loadKey reads the key of purpose, making it first when there is none.
// Two processes starting at once agree: the insert does nothing when the
// other one won, and both then read the winner's key.
func loadKey(ctx context.Context, db store.DB, box Sealer, purpose string, now func() time.Time) ([]byte, error) {
	aad := []byte("keep.audit.key:" + purpose)
	for range 2 {
		var sealed string
		err := db.QueryRow(ctx, `SELECT sealed FROM _keep_audit_keys WHERE purpose = ?`, purpose).Scan(&sealed)
		if err == nil {
			raw, err := base64.StdEncoding.DecodeString(sealed)
			if err != nil {
				return nil, fmt.Errorf("audit: key %s is damaged", purpose)
			}
			key, err := box.Open(raw, aad)
			if err != nil || len(key) != 32 {
				return nil, fmt.Errorf("audit: key %s cannot be opened with this install's secret key", purpose)
			}
			return key, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("audit: read key %s: %w", purpose, err)
		}
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		sealedKey, err := box.Seal(key, aad)
		if err != nil {
			return nil, fmt.Errorf("audit: seal key %s: %w", purpose, err)
		}
		if err := db.Tx(ctx, func(q store.Querier) error {
			_, err := q.Exec(ctx, `INSERT INTO _keep_audit_keys (purpose, sealed, created) VALUES (?, ?, ?)
  ON CONFLICT (purpose) DO NOTHING`, purpose, base64.StdEncoding.EncodeToString(sealedKey), now().UTC().Format(TimeFormat))
			return err
		}); err != nil {
			return nil, fmt.Errorf("audit: store key %s: %w", purpose, err)
		}
	}
	return nil, fmt.Errorf("audit: key %s could not be created", purpose)
}

// PublicKey returns the checkpoint verification key and its id, for
// exporting alongside checkpoints.
func (l *Log) PublicKey() (ed25519.PublicKey, string) {
	return l.keys.signer.Public().(ed25519.PublicKey), l.keys.keyID
}
