package accounts_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/keep-dev/keep/internal/accounts"
	"github.com/keep-dev/keep/internal/auth"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// TestLoginTimingDoesNotRevealAccounts: with the real Argon2id parameters, a
// login for an unknown email costs what a wrong password for a real one
// costs (the dummy hash), so timing tells nothing. The bound is loose — a
// factor of 2 between the fastest of interleaved runs (the minimum, not the
// median: it is what the work costs when nothing else runs, so a loaded CI
// machine does not make it flaky) — because it guards against a missing
// hash (a 100× difference), not against noise.
func TestLoginTimingDoesNotRevealAccounts(t *testing.T) {
	if testing.Short() {
		t.Skip("times real Argon2id hashes")
	}
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()
		db := open(t)
		hasher := auth.NewHasher(auth.DefaultParams(), 1)
		rec, err := records.New(ctx, db, records.Options{Hasher: accounts.Policy{Hasher: hasher, MinLength: 8}})
		if err != nil {
			t.Fatal(err)
		}
		keys, err := auth.LoadKeySet(ctx, db, nil)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := auth.NewTokens(keys, auth.TokenConfig{Issuer: "keep", Audience: "keep"})
		if err != nil {
			t.Fatal(err)
		}
		acc := accounts.New(accounts.Deps{DB: db, Records: rec, Hasher: hasher, Tokens: tok,
			Config: accounts.Config{LoginMaxFailures: 1000}})
		if _, err := rec.Signup(ctx, records.Body{"email": jsonValue("alice@example.com"), "password": jsonValue("alice password 1")}); err != nil {
			t.Fatal(err)
		}
		timeLogin := func(email string) time.Duration {
			start := time.Now()
			_, err := acc.Login(ctx, email, "wrong password 1", accounts.ClientInfo{})
			d := time.Since(start)
			if !errors.Is(err, accounts.ErrInvalidCredentials) {
				t.Fatalf("login %s: %v", email, err)
			}
			return d
		}
		var known, unknown []time.Duration
		timeLogin("alice@example.com") // warm up caches and pools
		for range 15 {
			known = append(known, timeLogin("alice@example.com"))
			unknown = append(unknown, timeLogin("nobody@example.com"))
		}
		k, u := slices.Min(known), slices.Min(unknown)
		if ratio := float64(max(k, u)) / float64(min(k, u)); ratio > 2 {
			t.Fatalf("fastest login: known email %v, unknown %v (ratio %.2f)", k, u, ratio)
		}
		t.Logf("fastest wrong-password login: known %v, unknown %v", k, u)
	})
}
