package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/keep-dev/keep/internal/store"
)

// Checkpoint is a signed statement that the log held Seq entries ending in
// HeadHash at Time.
type Checkpoint struct {
	Seq       int64  `json:"seq"`
	HeadHash  string `json:"head_hash"`
	Time      string `json:"time"`
	KeyID     string `json:"key_id"`
	Signature string `json:"signature"` // base64 Ed25519 signature
	PublicKey string `json:"public_key,omitempty"`
}

// Event is the audit entry of a checkpoint written on demand.
func (c Checkpoint) Event() Event {
	return Event{Action: "audit.checkpoint", Target: "audit", Details: map[string]any{"seq": c.Seq, "head_hash": c.HeadHash}}
}

const checkpointDomain = "keep.audit.checkpoint.v1\x00"

// checkpointMessage is what a checkpoint signs.
func checkpointMessage(seq int64, headHash, t string) []byte {
	b := []byte(checkpointDomain)
	b = binary.BigEndian.AppendUint64(b, uint64(seq))
	h, _ := hex.DecodeString(headHash)
	b = append(b, h...)
	return append(b, t...)
}

// Checkpoint seals pending entries and writes a signed checkpoint of the
// head, in the database and, when configured, to the checkpoint file.
func (l *Log) Checkpoint(ctx context.Context) (Checkpoint, error) {
	if _, err := l.Seal(ctx); err != nil {
		return Checkpoint{}, err
	}
	seq, h, err := head(ctx, l.db)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint: %w", err)
	}
	c := Checkpoint{Seq: seq, HeadHash: h, Time: l.now().UTC().Format(TimeFormat), KeyID: l.keys.keyID}
	c.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(l.keys.signer, checkpointMessage(c.Seq, c.HeadHash, c.Time)))
	if err := l.db.Tx(ctx, func(q store.Querier) error {
		_, err := q.Exec(ctx, `INSERT INTO _keep_audit_checkpoints (seq, head_hash, time, key_id, signature)
  VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, c.Seq, c.HeadHash, c.Time, c.KeyID, c.Signature)
		return err
	}); err != nil {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint: %w", err)
	}
	if l.file != "" {
		if err := appendCheckpointFile(l.file, c, l.keys.signer.Public().(ed25519.PublicKey)); err != nil {
			return c, err
		}
	}
	return c, nil
}

// appendCheckpointFile appends c as a JSON line with the public key, and
// syncs, so the copy survives a crash once Checkpoint returns.
func appendCheckpointFile(path string, c Checkpoint, pub ed25519.PublicKey) error {
	c.PublicKey = base64.StdEncoding.EncodeToString(pub)
	line, err := json.Marshal(c)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit: checkpoint file: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("audit: checkpoint file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("audit: checkpoint file: %w", err)
	}
	return f.Close()
}

// verifyCheckpoint checks c's signature with the log's key.
func (l *Log) verifyCheckpoint(c Checkpoint) bool {
	if c.KeyID != l.keys.keyID {
		return false
	}
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil {
		return false
	}
	if len(c.HeadHash) != 64 {
		return false
	}
	if _, err := hex.DecodeString(c.HeadHash); err != nil {
		return false
	}
	return ed25519.Verify(l.keys.signer.Public().(ed25519.PublicKey), checkpointMessage(c.Seq, c.HeadHash, c.Time), sig)
}
