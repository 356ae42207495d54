package accounts_test

import (
	"context"
	"errors"
	"testing"

	"github.com/keep-dev/keep/internal/accounts"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// TestMFAFailuresLockPerUser: wrong codes count per user across challenges,
// so logging in again does not buy fresh guesses; after the lock a right
// code is refused too, and after it passes the right code works.
func TestMFAFailuresLockPerUser(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		f := newMFAFixture(t, open(t))
		secret, _ := f.enable("alice")
		wrong := "000000"
		if f.code(secret) == wrong {
			wrong = "111111"
		}
		failures := 0
		for failures < 10 { // the default LoginMaxFailures
			tok := f.challenge("alice")
			for i := 0; i < 4 && failures < 10; i++ { // under the 5 a challenge allows
				_, err := f.verify(tok, wrong, "")
				wantErr(t, err, accounts.ErrInvalidCredentials)
				failures++
			}
		}
		tok := f.challenge("alice")
		if _, err := f.verify(tok, f.code(secret), ""); !errors.Is(err, accounts.ErrTooManyAttempts) {
			t.Fatalf("right code during the lock: %v", err)
		}
		f.clock.Advance(2 * 60e9)
		f.mustVerify(f.challenge("alice"), f.code(secret), "")
	})
}

// TestEmailRequestsAreLimitedPerAddress: verify and reset requests count per
// address whether or not an account exists, answering 429 past the limit.
func TestEmailRequestsAreLimitedPerAddress(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		e := newEmailEnv(t, open(t), accounts.Config{LoginMaxFailures: 3})
		e.signup("alice@example.com", "alice password 1")
		ctx := context.Background()
		for _, email := range []string{"alice@example.com", "nobody@example.com"} {
			for i := 0; i < 3; i++ {
				if err := e.acc.RequestReset(ctx, email); err != nil {
					t.Fatalf("%s request %d: %v", email, i, err)
				}
			}
			if err := e.acc.RequestReset(ctx, email); !errors.Is(err, accounts.ErrTooManyAttempts) {
				t.Fatalf("%s: fourth request: %v", email, err)
			}
			// Another kind and another address are counted apart.
			if err := e.acc.RequestVerification(ctx, email); err != nil {
				t.Fatalf("%s verify: %v", email, err)
			}
		}
		e.acc.Wait()
	})
}
