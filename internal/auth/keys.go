package auth

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
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
//	private_key BLOB / BYTEA NOT NULL    -- the Ed25519 seed, sealed (see below)
//	public_key  BLOB / BYTEA NOT NULL
//	created     TEXT (SQLite, keyTimeLayout) / TIMESTAMPTZ (PostgreSQL)
//	retired     NULL while the key is active
//
// SECURITY: private_key holds the seed sealed by a Sealer (the data
// directory's secret box) with the kid as additional data, so the database
// or a backup alone cannot mint tokens, and a sealed seed copied to another
// row does not open. A 32-byte value is a seed stored in clear by an older
// Keep: it is still read, and LoadKeySet seals it in place.

// Sealer seals signing keys at rest. A nil Sealer stores them in clear; only
// tests do that.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

func keyAAD(kid string) []byte { return []byte("keep.signing-key:" + kid) }

// storedPrivate is the private_key value of k.
func storedPrivate(box Sealer, k Key) ([]byte, error) {
	if box == nil {
		return k.Private.Seed(), nil
	}
	sealed, err := box.Seal(k.Private.Seed(), keyAAD(k.ID))
	if err != nil {
		return nil, fmt.Errorf("auth: sealing signing key %s: %w", k.ID, err)
	}
	return sealed, nil
}

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
// not follow later changes to the table: [RefreshKeySet] brings it up to
// date, [RotateSigningKey] and [RetireSigningKeys] change the table.
func LoadKeySet(ctx context.Context, db store.DB, box Sealer) (*KeySet, error) {
	keys, err := readActiveKeys(ctx, db, box)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		keys, err = createFirstKey(ctx, db, box)
		if err != nil {
			return nil, err
		}
	}
	if err := sealLegacy(ctx, db, box, keys); err != nil {
		return nil, err
	}
	ks, err := NewKeySet(keys[0], keys[1:]...)
	if err != nil {
		return nil, err
	}
	ks.box = box
	return ks, nil
}

// sealLegacy seals, in place, the seeds an older Keep stored in clear. The
// update matches the clear value, so a concurrent sealing by another
// process is not undone.
func sealLegacy(ctx context.Context, db store.DB, box Sealer, keys []Key) error {
	if box == nil {
		return nil
	}
	for _, k := range keys {
		if !k.legacy {
			continue
		}
		sealed, err := storedPrivate(box, k)
		if err != nil {
			return err
		}
		if err := db.Tx(ctx, func(q store.Querier) error {
			_, err := q.Exec(ctx, `UPDATE _keep_signing_keys SET private_key = ? WHERE kid = ? AND private_key = ?`,
				sealed, k.ID, k.Private.Seed())
			return err
		}); err != nil {
			return fmt.Errorf("auth: sealing signing key %s: %w", k.ID, err)
		}
	}
	return nil
}

// Rotation and retirement.
//
// A key's life: it is inserted and, being the newest, signs; a newer key
// supersedes it and it only verifies; once every token it can have signed
// has expired it is retired (retired set, the row kept for the record) and
// no instance trusts it any more. A key is superseded when the next newer
// key is created, but an instance that has not refreshed yet keeps signing
// with it for up to its refresh interval, so the grace period before
// retirement is token TTL + leeway + refresh interval (see
// [RetireSigningKeys]). Retirement is by time only, never by count: capping
// the number of verify-only keys would cut off tokens that are still valid.

// RotateSigningKey stores a new signing key and returns it. Keys that signed
// before stay active, verifying only, until [RetireSigningKeys] retires them;
// running instances switch to the new key at their next [RefreshKeySet].
//
// The new key's created time is now, or just after the newest active key if
// that is later (a clock behind its peers' must not leave the new key
// unused): "newest created signs" is what every instance reads.
func RotateSigningKey(ctx context.Context, db store.DB, box Sealer) (Key, error) {
	return RotateSigningKeyThen(ctx, db, box, nil)
}

// RotateSigningKeyThen is RotateSigningKey that also runs then, when not
// nil, in the transaction that stores the key (the audit entry of the
// rotation), so the key and what then writes commit together.
func RotateSigningKeyThen(ctx context.Context, db store.DB, box Sealer, then func(q store.Querier, kid string) error) (Key, error) {
	dialect := db.Dialect()
	var fresh Key
	err := db.Tx(ctx, func(q store.Querier) error {
		if err := lockKeys(ctx, q, dialect); err != nil {
			return err
		}
		existing, err := readActiveKeys(ctx, q, box)
		if err != nil {
			return err
		}
		if fresh, err = NewKey(); err != nil {
			return err
		}
		if len(existing) > 0 && !fresh.Created.After(existing[0].Created) {
			fresh.Created = existing[0].Created.Add(time.Millisecond)
		}
		created, err := keyTimeArg(dialect, fresh.Created)
		if err != nil {
			return err
		}
		priv, err := storedPrivate(box, fresh)
		if err != nil {
			return err
		}
		if _, err := q.Exec(ctx, insertKey, fresh.ID, tokenAlg, priv, []byte(fresh.Public), created); err != nil {
			return fmt.Errorf("auth: storing signing key %s: %w", fresh.ID, err)
		}
		if then != nil {
			return then(q, fresh.ID)
		}
		return nil
	})
	if err != nil {
		return Key{}, err
	}
	return fresh, nil
}

// RetireSigningKeys retires every verify-only key that was superseded more
// than grace ago and returns their ids. grace must cover the longest time a
// token signed by a superseded key can still be accepted: token TTL, plus
// the verification leeway, plus the longest refresh interval of any instance
// (which may keep signing with the old key until it refreshes). Instances
// sharing a database must therefore agree on the token TTL.
//
// The signing key is never retired. Superseded is measured from the created
// time of the next newer active key, which is never earlier than the true
// moment, so the estimate errs towards keeping a key longer. The check runs
// on a read first, so calling this often costs a write only when a key is
// due.
func RetireSigningKeys(ctx context.Context, db store.DB, box Sealer, grace time.Duration) ([]string, error) {
	return retireSigningKeys(ctx, db, box, grace, time.Now())
}

func retireSigningKeys(ctx context.Context, db store.DB, box Sealer, grace time.Duration, now time.Time) ([]string, error) {
	if grace <= 0 {
		return nil, errors.New("auth: retirement grace must be positive")
	}
	keys, err := readActiveKeys(ctx, db, box)
	if err != nil {
		return nil, err
	}
	if len(dueForRetirement(keys, grace, now)) == 0 {
		return nil, nil
	}
	dialect := db.Dialect()
	retiredAt, err := keyTimeArg(dialect, now)
	if err != nil {
		return nil, err
	}
	var retired []string
	err = db.Tx(ctx, func(q store.Querier) error {
		retired = nil // fn may be retried
		if err := lockKeys(ctx, q, dialect); err != nil {
			return err
		}
		// Decide again inside the transaction: a rotation may have
		// committed since the read above.
		keys, err := readActiveKeys(ctx, q, box)
		if err != nil {
			return err
		}
		for _, kid := range dueForRetirement(keys, grace, now) {
			if _, err := q.Exec(ctx, `UPDATE _keep_signing_keys SET retired = ? WHERE kid = ? AND retired IS NULL`, retiredAt, kid); err != nil {
				return fmt.Errorf("auth: retiring signing key %s: %w", kid, err)
			}
			retired = append(retired, kid)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return retired, nil
}

// dueForRetirement returns the ids of the keys in active (newest first) that
// were superseded more than grace before now.
func dueForRetirement(active []Key, grace time.Duration, now time.Time) []string {
	var due []string
	for i := 1; i < len(active); i++ {
		if now.Sub(active[i-1].Created) > grace {
			due = append(due, active[i].ID)
		}
	}
	return due
}

// RefreshKeySet brings ks in line with the table: the newest active key
// signs, the other active keys verify, and keys retired (or deleted) since
// are dropped, so tokens they signed stop verifying. A running server calls
// it periodically to pick up a rotation made by another process. When the
// table has no active key it makes one, as [LoadKeySet] does.
//
// The new state is published in one step, and only when it differs. ks's
// writer lock is held across the read, so concurrent refreshes of one set
// apply in the order they read and a stale read never overwrites a newer
// one. On error ks is left as it was.
func RefreshKeySet(ctx context.Context, db store.DB, ks *KeySet) error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	keys, err := readActiveKeys(ctx, db, ks.box)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		if keys, err = createFirstKey(ctx, db, ks.box); err != nil {
			return err
		}
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	if slices.Equal(ids, ks.snap.Load().order) {
		return nil
	}
	snap, err := buildSnapshot(keys[0], keys[1:])
	if err != nil {
		return err
	}
	ks.snap.Store(snap)
	return nil
}

// lockKeys serialises writers of the key table on PostgreSQL (see
// [LoadKeySet]); SQLite's single writer does that already.
func lockKeys(ctx context.Context, q store.Querier, d store.Dialect) error {
	if d != store.Postgres {
		return nil
	}
	// EXCLUSIVE conflicts with itself and with writers but not with plain
	// reads. Taken before any query, so even at REPEATABLE READ the reads
	// that follow see the other transaction's commit.
	if _, err := q.Exec(ctx, `LOCK TABLE _keep_signing_keys IN EXCLUSIVE MODE`); err != nil {
		return fmt.Errorf("auth: locking signing keys: %w", err)
	}
	return nil
}

// createFirstKey inserts a new key unless another writer got there first,
// and returns the active keys either way.
func createFirstKey(ctx context.Context, db store.DB, box Sealer) ([]Key, error) {
	dialect := db.Dialect()
	fresh, err := NewKey()
	if err != nil {
		return nil, err
	}
	priv, err := storedPrivate(box, fresh)
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
		if err := lockKeys(ctx, q, dialect); err != nil {
			return err
		}
		existing, err := readActiveKeys(ctx, q, box)
		if err != nil {
			return err
		}
		if len(existing) > 0 {
			keys = existing
			return nil
		}
		if _, err := q.Exec(ctx, insertKey, fresh.ID, tokenAlg, priv, []byte(fresh.Public), created); err != nil {
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
func readActiveKeys(ctx context.Context, q store.Querier, box Sealer) (keys []Key, err error) {
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
		k, err := keyFromRow(kid, alg, seed, public, createdColumn, box)
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
func keyFromRow(kid, alg string, stored, public []byte, created any, box Sealer) (Key, error) {
	if alg != tokenAlg {
		return Key{}, fmt.Errorf("auth: signing key %s: unsupported algorithm %q", kid, alg)
	}
	seed, legacy := stored, len(stored) == ed25519.SeedSize
	if !legacy {
		if box == nil {
			return Key{}, fmt.Errorf("auth: signing key %s is sealed and this process has no secret key to open it", kid)
		}
		var err error
		if seed, err = box.Open(stored, keyAAD(kid)); err != nil {
			return Key{}, fmt.Errorf("auth: signing key %s does not open with this install's secret key", kid)
		}
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
	k := Key{ID: kid, Private: priv, Public: pub, Created: t, legacy: legacy && box != nil}
	if err := checkKey(k, true); err != nil {
		return Key{}, err
	}
	return k, nil
}
