package auth

import (
	"bytes"
	"context"
	"errors"
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
			first, err := LoadKeySet(ctx, db, nil)
			if err != nil {
				t.Fatal(err)
			}
			second, err := LoadKeySet(ctx, db, nil)
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

			ks, err := LoadKeySet(ctx, db, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{newer.ID, older.ID}, ks.KeyIDs()); diff != "" {
				t.Fatalf("key ids (-want +got):\n%s", diff)
			}
			// created survives the round trip on both dialects.
			keys, err := readActiveKeys(ctx, db, nil)
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
			ks, err := LoadKeySet(ctx, db, nil)
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
					ks, err := LoadKeySet(ctx, db, nil)
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
			if _, err := LoadKeySet(ctx, db, nil); err == nil {
				t.Fatal("LoadKeySet accepted a key whose public half does not match")
			}
		})
	})
}

// activeKeys reads the active keys, failing the test on error.
func activeKeys(t *testing.T, db store.DB) []Key {
	t.Helper()
	keys, err := readActiveKeys(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestSigningKeyRotation is acceptance 7 of issue 3: after a rotation made by
// another process (the CLI) and picked up by RefreshKeySet, new tokens carry
// the new kid, tokens signed by the old key keep verifying until they expire,
// and JWKS lists both keys.
func TestSigningKeyRotation(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()
		db := open(t)
		server, err := LoadKeySet(ctx, db, nil) // the running server's set
		if err != nil {
			t.Fatal(err)
		}
		old := activeKeys(t, db)[0]
		now := testNow
		tk := newTestTokens(t, server, &now)
		oldToken, oldExp, err := tk.Issue("user1")
		if err != nil {
			t.Fatal(err)
		}

		next, err := RotateSigningKey(ctx, db, nil) // the CLI, on its own connection
		if err != nil {
			t.Fatal(err)
		}
		if next.ID == old.ID || !next.Created.After(old.Created) {
			t.Fatalf("rotation returned %v after %v", next, old)
		}
		if got := server.SigningKeyID(); got != old.ID {
			t.Fatalf("set changed before a refresh: signs with %s", got)
		}
		if err := RefreshKeySet(ctx, db, server); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{next.ID, old.ID}, server.KeyIDs()); diff != "" {
			t.Fatalf("key ids after refresh (-want +got):\n%s", diff)
		}
		assertJWKS(t, server, next, old)

		newToken, _, err := tk.Issue("user2")
		if err != nil {
			t.Fatal(err)
		}
		if kid := tokenKid(t, newToken); kid != next.ID {
			t.Fatalf("new token has kid %s, want the new key %s", kid, next.ID)
		}
		if kid := tokenKid(t, oldToken); kid != old.ID {
			t.Fatalf("old token has kid %s, want %s", kid, old.ID)
		}
		for name, token := range map[string]string{"old": oldToken, "new": newToken} {
			if _, err := tk.Verify(token); err != nil {
				t.Fatalf("%s token refused after rotation: %v", name, err)
			}
		}
		// A fresh process (another instance) agrees.
		other, err := LoadKeySet(ctx, db, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := newTestTokens(t, other, &now).Verify(oldToken); err != nil {
			t.Fatalf("another instance refuses the old token: %v", err)
		}

		// The old token ends at its expiry (plus leeway), as an expired
		// token and not as one with an unknown key.
		now = oldExp.Add(DefaultTokenLeeway - time.Second)
		if _, err := tk.Verify(oldToken); err != nil {
			t.Fatalf("old token refused before it expired: %v", err)
		}
		now = oldExp.Add(DefaultTokenLeeway)
		if _, err := tk.Verify(oldToken); !errors.Is(err, ErrExpiredToken) {
			t.Fatalf("old token at expiry: %v, want ErrExpiredToken", err)
		}
	})
}

func TestRotateSigningKey(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()

		t.Run("on an empty table", func(t *testing.T) {
			db := open(t)
			k, err := RotateSigningKey(ctx, db, nil)
			if err != nil {
				t.Fatal(err)
			}
			ks, err := LoadKeySet(ctx, db, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{k.ID}, ks.KeyIDs()); diff != "" {
				t.Fatalf("key ids (-want +got):\n%s", diff)
			}
		})

		t.Run("newer than a key from a clock ahead", func(t *testing.T) {
			db := open(t)
			ahead := keyAt(t, time.Now().UTC().Add(time.Hour).Truncate(time.Millisecond))
			insertTestKey(t, db, ahead, time.Time{})
			k, err := RotateSigningKey(ctx, db, nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := ahead.Created.Add(time.Millisecond); !k.Created.Equal(want) {
				t.Fatalf("created %v, want %v", k.Created, want)
			}
			if got := activeKeys(t, db)[0].ID; got != k.ID {
				t.Fatalf("signing key after rotation is %s, want the new %s", got, k.ID)
			}
		})

		t.Run("keeps retired keys retired", func(t *testing.T) {
			db := open(t)
			gone := keyAt(t, testNow)
			insertTestKey(t, db, gone, testNow.Add(time.Hour))
			if _, err := RotateSigningKey(ctx, db, nil); err != nil {
				t.Fatal(err)
			}
			if keys := activeKeys(t, db); len(keys) != 1 || keys[0].ID == gone.ID {
				t.Fatalf("active keys %v", keys)
			}
		})

		t.Run("concurrent rotations are ordered", func(t *testing.T) {
			db := open(t)
			if _, err := LoadKeySet(ctx, db, nil); err != nil {
				t.Fatal(err)
			}
			const n = 8
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { _, errs[i] = RotateSigningKey(ctx, db, nil) })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("rotation %d: %v", i, err)
				}
			}
			keys := activeKeys(t, db)
			if len(keys) != n+1 {
				t.Fatalf("%d active keys, want %d", len(keys), n+1)
			}
			// Each rotation saw the one before, so no two keys share a
			// created time and every instance picks the same signer.
			for i := 1; i < len(keys); i++ {
				if !keys[i-1].Created.After(keys[i].Created) {
					t.Fatalf("keys %s and %s are not strictly ordered by created", keys[i-1].ID, keys[i].ID)
				}
			}
		})
	})
}

func TestRetireSigningKeys(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()
		base := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
		const grace = 30 * time.Minute

		// oldest signed until middle was made, middle until newest was.
		setup := func(t *testing.T) (store.DB, Key, Key, Key) {
			db := open(t)
			oldest, middle, newest := keyAt(t, base), keyAt(t, base.Add(time.Hour)), keyAt(t, base.Add(2*time.Hour))
			for _, k := range []Key{oldest, middle, newest} {
				insertTestKey(t, db, k, time.Time{})
			}
			return db, oldest, middle, newest
		}
		ids := func(keys []Key) []string {
			var out []string
			for _, k := range keys {
				out = append(out, k.ID)
			}
			return out
		}

		t.Run("only once superseded for longer than grace", func(t *testing.T) {
			db, oldest, middle, newest := setup(t)
			// At exactly grace after newest was made, middle may still
			// have signed a valid token: it stays.
			now := base.Add(2*time.Hour + grace)
			got, err := retireSigningKeys(ctx, db, nil, grace, now)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{oldest.ID}, got); diff != "" {
				t.Fatalf("retired (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{newest.ID, middle.ID}, ids(activeKeys(t, db))); diff != "" {
				t.Fatalf("active (-want +got):\n%s", diff)
			}
			if n := countKeys(t, db); n != 3 {
				t.Fatalf("%d rows, want 3: retiring keeps the row", n)
			}
			// Nothing more is due: no change.
			if got, err := retireSigningKeys(ctx, db, nil, grace, now); err != nil || len(got) != 0 {
				t.Fatalf("second run retired %v, %v", got, err)
			}
			got, err = retireSigningKeys(ctx, db, nil, grace, now.Add(time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{middle.ID}, got); diff != "" {
				t.Fatalf("retired (-want +got):\n%s", diff)
			}
		})

		t.Run("never the signing key", func(t *testing.T) {
			db, _, _, newest := setup(t)
			if _, err := retireSigningKeys(ctx, db, nil, grace, base.Add(1000*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{newest.ID}, ids(activeKeys(t, db))); diff != "" {
				t.Fatalf("active (-want +got):\n%s", diff)
			}
		})

		t.Run("nothing before grace", func(t *testing.T) {
			db, oldest, middle, newest := setup(t)
			// oldest was superseded 1h30m ago, but the grace is longer.
			got, err := retireSigningKeys(ctx, db, nil, 2*time.Hour, base.Add(2*time.Hour+30*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 0 {
				t.Fatalf("retired %v", got)
			}
			if diff := cmp.Diff([]string{newest.ID, middle.ID, oldest.ID}, ids(activeKeys(t, db))); diff != "" {
				t.Fatalf("active (-want +got):\n%s", diff)
			}
		})

		t.Run("refresh drops retired keys", func(t *testing.T) {
			db, oldest, _, newest := setup(t)
			ks, err := LoadKeySet(ctx, db, nil)
			if err != nil {
				t.Fatal(err)
			}
			// A token from the oldest key, forged with a clock at which it
			// is still unexpired, so only the key decides.
			now := testNow
			tk := newTestTokens(t, ks, &now)
			token := forge(t, oldest.Private, header(oldest.ID), claims(now))
			if _, err := tk.Verify(token); err != nil {
				t.Fatalf("token of a verify-only key refused: %v", err)
			}
			if _, err := retireSigningKeys(ctx, db, nil, grace, base.Add(3*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := RefreshKeySet(ctx, db, ks); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{newest.ID}, ks.KeyIDs()); diff != "" {
				t.Fatalf("key ids (-want +got):\n%s", diff)
			}
			assertJWKS(t, ks, newest)
			if _, err := tk.Verify(token); !errors.Is(err, ErrInvalidToken) || errors.Is(err, ErrExpiredToken) {
				t.Fatalf("token of a retired key: %v, want invalid", err)
			}
		})

		t.Run("grace must be positive", func(t *testing.T) {
			db, _, _, _ := setup(t)
			if _, err := RetireSigningKeys(ctx, db, nil, 0); err == nil {
				t.Fatal("zero grace accepted")
			}
		})
	})
}

func TestRefreshKeySet(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()

		t.Run("no change keeps the snapshot", func(t *testing.T) {
			db := open(t)
			ks, err := LoadKeySet(ctx, db, nil)
			if err != nil {
				t.Fatal(err)
			}
			before := ks.snap.Load()
			if err := RefreshKeySet(ctx, db, ks); err != nil {
				t.Fatal(err)
			}
			if ks.snap.Load() != before {
				t.Fatal("refresh without a change rebuilt the set")
			}
		})

		t.Run("several rotations at once", func(t *testing.T) {
			db := open(t)
			ks, err := LoadKeySet(ctx, db, nil)
			if err != nil {
				t.Fatal(err)
			}
			first := ks.SigningKeyID()
			a, err := RotateSigningKey(ctx, db, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := RotateSigningKey(ctx, db, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := RefreshKeySet(ctx, db, ks); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{b.ID, a.ID, first}, ks.KeyIDs()); diff != "" {
				t.Fatalf("key ids (-want +got):\n%s", diff)
			}
		})

		t.Run("all keys retired elsewhere", func(t *testing.T) {
			db := open(t)
			ks, err := LoadKeySet(ctx, db, nil)
			if err != nil {
				t.Fatal(err)
			}
			first := ks.SigningKeyID()
			err = db.Tx(ctx, func(q store.Querier) error {
				r, err := keyTimeArg(db.Dialect(), time.Now())
				if err != nil {
					return err
				}
				_, err = q.Exec(ctx, `UPDATE _keep_signing_keys SET retired = ?`, r)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := RefreshKeySet(ctx, db, ks); err != nil {
				t.Fatal(err)
			}
			if ids := ks.KeyIDs(); len(ids) != 1 || ids[0] == first {
				t.Fatalf("key ids %v, want one new key", ids)
			}
		})

		t.Run("error leaves the set alone", func(t *testing.T) {
			db := open(t)
			ks, err := LoadKeySet(ctx, db, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := RotateSigningKey(ctx, db, nil); err != nil {
				t.Fatal(err)
			}
			before := ks.KeyIDs()
			cancelled, cancel := context.WithCancel(ctx)
			cancel()
			if err := RefreshKeySet(cancelled, db, ks); err == nil {
				t.Fatal("refresh with a cancelled context succeeded")
			}
			if diff := cmp.Diff(before, ks.KeyIDs()); diff != "" {
				t.Fatalf("key ids changed (-before +after):\n%s", diff)
			}
		})

		t.Run("concurrent refreshes and rotations converge", func(t *testing.T) {
			db := open(t)
			ks, err := LoadKeySet(ctx, db, nil)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for range 4 {
				wg.Go(func() {
					_, err := RotateSigningKey(ctx, db, nil)
					errs <- err
				})
				wg.Go(func() { errs <- RefreshKeySet(ctx, db, ks) })
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := RefreshKeySet(ctx, db, ks); err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, k := range activeKeys(t, db) {
				want = append(want, k.ID)
			}
			if diff := cmp.Diff(want, ks.KeyIDs()); diff != "" {
				t.Fatalf("key ids (-db +set):\n%s", diff)
			}
		})
	})
}
