package auth

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"fmt"
	"slices"
	"time"

	"github.com/keep-dev/keep/internal/store"
)

// Signing keys live in _keep_signing_keys, created by the migrations of each
// engine:
//
//	kid         TEXT PRIMARY KEY
//	algorithm   TEXT NOT NULL            -- "EdDSA"
//	private_key BLOB / BYTEA NOT NULL    -- 32-byte Ed25519 seed
//	public_key  BLOB / BYTEA NOT NULL
//	created     TEXT (SQLite, keyTimeLayout) / TIMESTAMPTZ (PostgreSQL)
//	retired     NULL while the key is active
//
// SECURITY: private_key holds the seed unencrypted until internal/keyring
// lands (a later issue); then it will be sealed with AAD binding the kid.
// Until then anyone who can read the database or a backup can mint tokens.

// keyTimeLayout is how SQLite stores created: fixed width and UTC, so that
// text order is time order.
const keyTimeLayout = "2006-01-02T15:04:05.000Z"

const selectActiveKeys = `SELECT kid, algorithm, private_key, public_key, created
FROM _keep_signing_keys WHERE retired IS NULL`

const insertKey = `INSERT INTO _keep_signing_keys (kid, algorithm, private_key, public_key, created)
VALUES (?, ?, ?, ?, ?)`

// LoadKeySet reads the active (non-retired) signing keys: the newest by
// created signs, the others only verify. When there is no active key it
// generates one and stores it, so a fresh installation works without a setup
// step.
//
// Several instances may start at once against one PostgreSQL database. The
// insert therefore runs in a transaction that first takes a table lock and
// looks again; an instance that loses the race uses the winner's key instead
// of adding a second one that its peers would not know about. (SQLite has one
// writer, so its transactions are serialised anyway.)
//
// LoadKeySet neither rotates nor retires keys, and the set it returns does
// not follow later changes to the table; rotation and refreshing running
// instances come with the key management commands.
func LoadKeySet(ctx context.Context, db store.DB) (*KeySet, error) {
	keys, err := readActiveKeys(ctx, db)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		keys, err = createFirstKey(ctx, db)
		if err != nil {
			return nil, err
		}
	}
	return NewKeySet(keys[0], keys[1:]...)
}

// createFirstKey inserts a new key unless another writer got there first,
// and returns the active keys either way.
func createFirstKey(ctx context.Context, db store.DB) ([]Key, error) {
	dialect := db.Dialect()
	fresh, err := NewKey()
	if err != nil {
		return nil, err
	}
	created, err := keyTimeArg(dialect, fresh.Created)
	if err != nil {
		return nil, err
	}
	var keys []Key
	err = db.Tx(ctx, func(q store.Querier) error {
		keys = nil // fn may be retried; start each attempt clean
		if dialect == store.Postgres {
			// EXCLUSIVE conflicts with itself and with writers but not with
			// plain reads. Taken before any query, so even at REPEATABLE
			// READ the check below sees the other transaction's commit.
			if _, err := q.Exec(ctx, `LOCK TABLE _keep_signing_keys IN EXCLUSIVE MODE`); err != nil {
				return fmt.Errorf("auth: locking signing keys: %w", err)
			}
		}
		existing, err := readActiveKeys(ctx, q)
		if err != nil {
			return err
		}
		if len(existing) > 0 {
			keys = existing
			return nil
		}
		if _, err := q.Exec(ctx, insertKey, fresh.ID, tokenAlg, fresh.Private.Seed(), []byte(fresh.Public), created); err != nil {
			return fmt.Errorf("auth: storing signing key %s: %w", fresh.ID, err)
		}
		keys = []Key{fresh}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// keyTimeArg returns the value to bind for created: SQLite keeps the
// formatted text, PostgreSQL a timestamptz.
func keyTimeArg(d store.Dialect, t time.Time) (any, error) {
	switch d {
	case store.SQLite:
		return t.UTC().Format(keyTimeLayout), nil
	case store.Postgres:
		return t.UTC(), nil
	}
	return nil, fmt.Errorf("auth: unsupported dialect %q", d)
}

// parseKeyTime reads created as the engine returns it: text from SQLite
// (some drivers hand text over as bytes), time.Time from PostgreSQL.
func parseKeyTime(v any) (time.Time, error) {
	switch v := v.(type) {
	case time.Time:
		return v.UTC(), nil
	case string:
		return time.Parse(keyTimeLayout, v)
	case []byte:
		return time.Parse(keyTimeLayout, string(v))
	}
	return time.Time{}, fmt.Errorf("unexpected type %T", v)
}

// readActiveKeys returns the active keys, newest first (ties broken by kid
// so every instance picks the same signing key). Sorting here rather than in
// SQL keeps the order independent of how each dialect compares created.
func readActiveKeys(ctx context.Context, q store.Querier) (keys []Key, err error) {
	rows, err := q.Query(ctx, selectActiveKeys)
	if err != nil {
		return nil, fmt.Errorf("auth: reading signing keys: %w", err)
	}
	defer func() {
		if cerr := rows.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("auth: reading signing keys: %w", cerr)
		}
	}()
	for rows.Next() {
		var (
			kid, alg      string
			seed, public  []byte
			createdColumn any
		)
		if err := rows.Scan(&kid, &alg, &seed, &public, &createdColumn); err != nil {
			return nil, fmt.Errorf("auth: reading signing keys: %w", err)
		}
		k, err := keyFromRow(kid, alg, seed, public, createdColumn)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("auth: reading signing keys: %w", err)
	}
	slices.SortFunc(keys, func(a, b Key) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	return keys, nil
}

// keyFromRow rebuilds a Key and checks it, failing closed on anything
// unexpected: an unknown algorithm or a seed that does not produce the stored
// public key means the table was changed by something other than Keep.
// Errors name the kid, which is public, and never the key material.
func keyFromRow(kid, alg string, seed, public []byte, created any) (Key, error) {
	if alg != tokenAlg {
		return Key{}, fmt.Errorf("auth: signing key %s: unsupported algorithm %q", kid, alg)
	}
	if len(seed) != ed25519.SeedSize {
		return Key{}, fmt.Errorf("auth: signing key %s: private key has the wrong size", kid)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	if !bytes.Equal(pub, public) {
		return Key{}, fmt.Errorf("auth: signing key %s: public key does not match private key", kid)
	}
	t, err := parseKeyTime(created)
	if err != nil {
		return Key{}, fmt.Errorf("auth: signing key %s: bad created time: %w", kid, err)
	}
	k := Key{ID: kid, Private: priv, Public: pub, Created: t}
	if err := checkKey(k, true); err != nil {
		return Key{}, err
	}
	return k, nil
}
