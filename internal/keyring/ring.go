package keyring

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/keep-dev/keep/internal/store"
)

// Key purposes.
const (
	PurposeData  = "data"
	PurposeIndex = "index"
)

// Key states.
const (
	StateCurrent = "current"
	StateActive  = "active"
)

// ErrWrongRootKey means a stored key does not open under the root key: the
// process was started with another KEEP_MASTER_KEY than the one the keys
// were wrapped with (or the table was changed).
var ErrWrongRootKey = errors.New("keyring: the root key does not open the stored keys (wrong KEEP_MASTER_KEY or --master-key-file?)")

// Ring holds the unwrapped keys of one database. It is safe for concurrent
// use. Data keys are loaded by id when first needed, so keys added by
// another process (keep keys rotate) are picked up at the first value that
// names them; the current key is read inside each writing transaction (see
// Sealer). Create it with Open.
type Ring struct {
	db   store.DB
	root RootKey

	mu    sync.RWMutex
	data  map[KeyID]cipher.AEAD
	index []byte            // the blind-index key
	scope map[string][]byte // per-scope HMAC keys derived from index
}

// String never shows key material.
func (r *Ring) String() string { return "keyring.Ring(REDACTED)" }

// LogValue never shows key material.
func (r *Ring) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// Open loads the keyring of db under root, making the first data key and
// the blind-index key when there are none. It fails with ErrWrongRootKey
// when the stored keys were wrapped under another root key.
func Open(ctx context.Context, db store.DB, root RootKey) (*Ring, error) {
	if !root.valid() {
		return nil, errors.New("keyring: no root key")
	}
	r := &Ring{db: db, root: root, data: map[KeyID]cipher.AEAD{}, scope: map[string][]byte{}}
	for _, purpose := range []string{PurposeData, PurposeIndex} {
		if err := r.ensure(ctx, purpose); err != nil {
			return nil, err
		}
	}
	rows, err := db.Query(ctx, `SELECT id, purpose, wrapped FROM _keep_keys`)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, purpose, wrapped string
		if err := rows.Scan(&id, &purpose, &wrapped); err != nil {
			return nil, fmt.Errorf("keyring: %w", err)
		}
		kid, err := ParseKeyID(id)
		if err != nil {
			return nil, err
		}
		key, err := unwrap(root, kid, purpose, wrapped)
		if err != nil {
			return nil, err
		}
		switch purpose {
		case PurposeData:
			aead, err := newAEAD(key)
			clear(key)
			if err != nil {
				return nil, err
			}
			r.data[kid] = aead
		case PurposeIndex:
			r.index = key
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if r.index == nil {
		return nil, errors.New("keyring: no blind-index key")
	}
	return r, nil
}

// ensure makes a current key of purpose when there is none. Two processes
// starting at once both try; the unique index on current keys lets one win.
func (r *Ring) ensure(ctx context.Context, purpose string) error {
	// A read first: the usual start needs no write transaction (on SQLite,
	// the one writer), so a CLI command does not wait for a busy server.
	var n int
	if err := r.db.QueryRow(ctx, `SELECT count(*) FROM _keep_keys WHERE purpose = ? AND state = ?`, purpose, StateCurrent).Scan(&n); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	if n > 0 {
		return nil
	}
	err := r.db.Tx(ctx, func(q store.Querier) error {
		var n int
		if err := q.QueryRow(ctx, `SELECT count(*) FROM _keep_keys WHERE purpose = ? AND state = ?`, purpose, StateCurrent).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		_, err := insertKey(ctx, q, r.root, purpose)
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		return nil // made by another process meanwhile
	}
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	return nil
}

func newID() KeyID {
	var k KeyID
	_, _ = rand.Read(k[:])
	return k
}

// insertKey makes a random key of purpose, stores it wrapped as current and
// returns its id. The caller has made room (no current key of purpose).
func insertKey(ctx context.Context, q store.Querier, root RootKey, purpose string) (KeyID, error) {
	id := newID()
	key := make([]byte, keyLen)
	_, _ = rand.Read(key)
	defer clear(key)
	wrapped, err := wrap(root, id, purpose, key)
	if err != nil {
		return KeyID{}, err
	}
	_, err = q.Exec(ctx, `INSERT INTO _keep_keys (id, purpose, state, wrapped, created) VALUES (?, ?, ?, ?, ?)`,
		id.String(), purpose, StateCurrent, wrapped, time.Now().UnixMilli())
	return id, err
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return cipher.NewGCM(block)
}

// wrapAAD binds a wrapped key to its id and purpose, so a wrapped key moved
// to another row does not open.
func wrapAAD(id KeyID, purpose string) []byte {
	return []byte("keep/keyring/wrap/v1\x00" + id.String() + "\x00" + purpose)
}

// wrap seals key under root: base64 of nonce || sealed.
func wrap(root RootKey, id KeyID, purpose string, key []byte) (string, error) {
	aead, err := newAEAD(root.bytes())
	if err != nil {
		return "", err
	}
	nonce := make([]byte, NonceLen)
	_, _ = rand.Read(nonce)
	out := aead.Seal(nonce, nonce, key, wrapAAD(id, purpose))
	return base64.StdEncoding.EncodeToString(out), nil
}

func unwrap(root RootKey, id KeyID, purpose, wrapped string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(wrapped)
	if err != nil || len(b) < NonceLen+TagLen {
		return nil, fmt.Errorf("%w (key %s is malformed)", ErrWrongRootKey, id)
	}
	aead, err := newAEAD(root.bytes())
	if err != nil {
		return nil, err
	}
	key, err := aead.Open(nil, b[:NonceLen], b[NonceLen:], wrapAAD(id, purpose))
	if err != nil || len(key) != keyLen {
		return nil, fmt.Errorf("%w (key %s)", ErrWrongRootKey, id)
	}
	return key, nil
}

// aeadFor returns the data key id, loading it through q when this process
// has not seen it yet (a key added by another process). A key the table
// does not hold is ErrIntegrity.
func (r *Ring) aeadFor(ctx context.Context, q store.Querier, id KeyID) (cipher.AEAD, error) {
	r.mu.RLock()
	aead := r.data[id]
	r.mu.RUnlock()
	if aead != nil {
		return aead, nil
	}
	var wrapped string
	err := q.QueryRow(ctx, `SELECT wrapped FROM _keep_keys WHERE id = ? AND purpose = ?`, id.String(), PurposeData).Scan(&wrapped)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: unknown key %s", ErrIntegrity, id)
	}
	if err != nil {
		return nil, fmt.Errorf("keyring: loading key %s: %w", id, err)
	}
	key, err := unwrap(r.root, id, PurposeData, wrapped)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	if aead, err = newAEAD(key); err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.data[id] = aead
	r.mu.Unlock()
	return aead, nil
}

// Sealer seals under one data key. It is safe for concurrent use.
type Sealer struct {
	id   KeyID
	aead cipher.AEAD
}

// Key is the id of the key the sealer seals under.
func (s *Sealer) Key() KeyID { return s.id }

// Sealer returns a sealer for the current data key, read through q: inside
// a writing transaction, so a rotation by any process applies to the very
// next write.
//
// On PostgreSQL the current key's row is read FOR SHARE and held until the
// write commits, so a rotation waits for the writes sealing under the old
// key and its re-encryption job cannot pass a record that commits later. A
// read that waited on a rotation finds the old row no longer current (its
// snapshot predates the new one) and is run again.
func (r *Ring) Sealer(ctx context.Context, q store.Querier) (*Sealer, error) {
	query := `SELECT id FROM _keep_keys WHERE purpose = ? AND state = ?`
	if r.db.Dialect() == store.Postgres {
		query += ` FOR SHARE`
	}
	var id string
	err := q.QueryRow(ctx, query, PurposeData, StateCurrent).Scan(&id)
	if errors.Is(err, store.ErrNotFound) {
		err = q.QueryRow(ctx, query, PurposeData, StateCurrent).Scan(&id)
	}
	if err != nil {
		return nil, fmt.Errorf("keyring: current key: %w", err)
	}
	kid, err := ParseKeyID(id)
	if err != nil {
		return nil, err
	}
	aead, err := r.aeadFor(ctx, q, kid)
	if err != nil {
		return nil, err
	}
	return &Sealer{id: kid, aead: aead}, nil
}

// Seal encrypts plaintext for context (the place it is stored).
func (s *Sealer) Seal(plaintext, context []byte) []byte {
	out := make([]byte, headerLen, Overhead+len(plaintext))
	out[0] = Version
	copy(out[1:], s.id[:])
	nonce := out[headerLen : headerLen+NonceLen]
	out = out[:headerLen+NonceLen]
	_, _ = rand.Read(nonce)
	return s.aead.Seal(out, nonce, plaintext, aad(out[:headerLen], context))
}

// Open decrypts ct for context with the key ct names (never another). Any
// failure is ErrIntegrity, except a failure to read a key from the
// database. q is where an unknown key is looked up (nil: the database).
func (r *Ring) Open(ctx context.Context, q store.Querier, ct, context []byte) ([]byte, error) {
	h, err := Parse(ct)
	if err != nil {
		return nil, err
	}
	if q == nil {
		q = r.db
	}
	aead, err := r.aeadFor(ctx, q, h.Key)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, h.Nonce, h.Sealed, aad(h.header, context))
	if err != nil {
		return nil, ErrIntegrity
	}
	return pt, nil
}

// BlindIndex is HMAC-SHA-256 of value under a key derived (HKDF-SHA-256)
// from the blind-index key for scope (for fields: collection and field id),
// so equal values in different fields have unrelated indexes.
func (r *Ring) BlindIndex(scope string, value []byte) []byte {
	r.mu.RLock()
	k := r.scope[scope]
	r.mu.RUnlock()
	if k == nil {
		var err error
		k, err = hkdf.Key(sha256.New, r.index, nil, "keep/keyring/blind/v1\x00"+scope, 32)
		if err != nil {
			panic("keyring: hkdf: " + err.Error()) // only for lengths out of range
		}
		r.mu.Lock()
		r.scope[scope] = k
		r.mu.Unlock()
	}
	m := hmac.New(sha256.New, k)
	m.Write(value)
	return m.Sum(nil)
}
