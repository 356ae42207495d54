package auth

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// insertTestKey stores k as LoadKeySet would, retired if retired is
// non-zero.
func insertTestKey(t *testing.T, db store.DB, k Key, retired time.Time) {
	t.Helper()
	ctx := context.Background()
	created, err := keyTimeArg(db.Dialect(), k.Created)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Tx(ctx, func(q store.Querier) error {
		if _, err := q.Exec(ctx, insertKey, k.ID, "EdDSA", k.Private.Seed(), []byte(k.Public), created); err != nil {
			return err
		}
		if retired.IsZero() {
			return nil
		}
		r, err := keyTimeArg(db.Dialect(), retired)
		if err != nil {
			return err
		}
		_, err = q.Exec(ctx, `UPDATE _keep_signing_keys SET retired = ? WHERE kid = ?`, r, k.ID)
		return err
	})
	if err != nil {
		t.Fatalf("inserting key: %v", err)
	}
}

func countKeys(t *testing.T, db store.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM _keep_signing_keys`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func keyAt(t *testing.T, created time.Time) Key {
	k := mustKey(t)
	k.Created = created
	return k
}

func TestLoadKeySet(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()

		t.Run("creates a key once", func(t *testing.T) {
			db := open(t)
			first, err := LoadKeySet(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			second, err := LoadKeySet(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if first.SigningKeyID() != second.SigningKeyID() {
				t.Fatalf("second load signs with %s, first with %s", second.SigningKeyID(), first.SigningKeyID())
			}
			if n := countKeys(t, db); n != 1 {
				t.Fatalf("%d keys stored, want 1", n)
			}
			// The reloaded key is the same key, not just the same id.
			now := testNow
			token, _, err := newTestTokens(t, first, &now).Issue("user1")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := newTestTokens(t, second, &now).Verify(token); err != nil {
				t.Fatalf("reloaded set rejects the first set's token: %v", err)
			}
			a, _ := first.JWKS()
			b, _ := second.JWKS()
			if !bytes.Equal(a, b) {
				t.Fatalf("JWKS differ:\n%s\n%s", a, b)
			}
		})

		t.Run("newest active key signs", func(t *testing.T) {
			db := open(t)
			base := time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
			older, newer, retired := keyAt(t, base), keyAt(t, base.Add(time.Hour)), keyAt(t, base.Add(2*time.Hour))
			insertTestKey(t, db, newer, time.Time{})
			insertTestKey(t, db, older, time.Time{})
			insertTestKey(t, db, retired, base.Add(3*time.Hour))

			ks, err := LoadKeySet(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{newer.ID, older.ID}, ks.KeyIDs()); diff != "" {
				t.Fatalf("key ids (-want +got):\n%s", diff)
			}
			// created survives the round trip on both dialects.
			keys, err := readActiveKeys(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range []Key{newer, older} {
				if !keys[i].Created.Equal(want.Created) || !bytes.Equal(keys[i].Private, want.Private) {
					t.Fatalf("key %s read back as created %v, want %v (or private key differs)", want.ID, keys[i].Created, want.Created)
				}
			}
			if n := countKeys(t, db); n != 3 {
				t.Fatalf("%d keys stored, want 3 (nothing added)", n)
			}
		})

		t.Run("only retired keys means a new key", func(t *testing.T) {
			db := open(t)
			old := keyAt(t, testNow)
			insertTestKey(t, db, old, testNow.Add(time.Hour))
			ks, err := LoadKeySet(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if ks.SigningKeyID() == old.ID || len(ks.KeyIDs()) != 1 {
				t.Fatalf("key ids %v, want one new key", ks.KeyIDs())
			}
		})

		t.Run("concurrent first loads agree", func(t *testing.T) {
			db := open(t)
			const n = 8
			ids := make([]string, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					ks, err := LoadKeySet(ctx, db)
					errs[i] = err
					if err == nil {
						ids[i] = ks.SigningKeyID()
					}
				})
			}
			wg.Wait()
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("load %d: %v", i, errs[i])
				}
				if ids[i] != ids[0] {
					t.Fatalf("loads disagree on the signing key: %v", ids)
				}
			}
			if got := countKeys(t, db); got != 1 {
				t.Fatalf("%d keys stored, want 1", got)
			}
		})

		t.Run("corrupt key fails closed", func(t *testing.T) {
			db := open(t)
			k := mustKey(t)
			other := mustKey(t)
			k.Public = other.Public // seed and public key disagree
			insertTestKey(t, db, k, time.Time{})
			if _, err := LoadKeySet(ctx, db); err == nil {
				t.Fatal("LoadKeySet accepted a key whose public half does not match")
			}
		})
	})
}
