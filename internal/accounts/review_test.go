package accounts_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keep-dev/keep/internal/accounts"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// Tests for the findings of the identity security review.

// TestPasswordChangeVoidsPendingChallenge: a login that passed the old
// password cannot finish its second factor after the password changed.
func TestPasswordChangeVoidsPendingChallenge(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		f := newMFAFixture(t, open(t))
		secret, _ := f.enable("alice")
		f.clock.Advance(30 * time.Second) // the enrolment used this step's code
		tok := f.challenge("alice")
		if err := f.svc.ChangePassword(context.Background(), f.caller("alice"), "password of alice", "a new password 42"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.verify(tok, f.code(secret), ""); !errors.Is(err, accounts.ErrUnauthenticated) {
			t.Fatalf("challenge from before the change: %v", err)
		}
	})
}

// TestDisableTOTPCountsWrongPasswords: the password check of TOTP disable
// is no free oracle: wrong passwords lock like wrong logins.
func TestDisableTOTPCountsWrongPasswords(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		f := newMFAFixture(t, open(t))
		f.enable("alice")
		ctx := context.Background()
		for i := range 10 {
			if err := f.svc.DisableTOTP(ctx, f.caller("alice"), "wrong password 1"); !errors.Is(err, records.ErrForbidden) {
				t.Fatalf("attempt %d: %v", i, err)
			}
		}
		if err := f.svc.DisableTOTP(ctx, f.caller("alice"), "password of alice"); !errors.Is(err, accounts.ErrTooManyAttempts) {
			t.Fatalf("after 10 wrong passwords: %v", err)
		}
	})
}

// TestLockIdentifiersAreNamespaced: typing another counter's key as an
// email cannot lock that counter (here: a user's second factor).
func TestLockIdentifiersAreNamespaced(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		f := newMFAFixture(t, open(t))
		secret, _ := f.enable("alice")
		ctx := context.Background()
		for range 12 {
			_, _ = f.svc.Login(ctx, "mfa:"+f.ids["alice"], "anything at all", accounts.ClientInfo{})
		}
		f.clock.Advance(30 * time.Second) // the enrolment used this step's code
		f.mustVerify(f.challenge("alice"), f.code(secret), "")
	})
}

// TestResetRevokesAPIKeys: account recovery takes away every credential
// the old password could have minted.
func TestResetRevokesAPIKeys(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		e := newEmailEnv(t, open(t), accounts.Config{})
		id := e.signup("alice@example.com", "alice password 1")
		ctx := context.Background()
		caller := records.Caller{}
		caller.Auth.ID = id
		caller.Auth.Email = "alice@example.com"
		caller.Session = "s1"
		key, err := e.acc.CreateAPIKey(ctx, caller, accounts.APIKeyInput{Name: "ci", ExpiresAt: e.clock.Now().Add(24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.acc.Authenticate(ctx, key.Key, accounts.ClientInfo{}); err != nil {
			t.Fatal(err)
		}
		if err := e.acc.RequestReset(ctx, "alice@example.com"); err != nil {
			t.Fatal(err)
		}
		if err := e.acc.ConfirmReset(ctx, e.onlyMail("alice@example.com"), "a brand new passphrase"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.acc.Authenticate(ctx, key.Key, accounts.ClientInfo{}); !errors.Is(err, accounts.ErrUnauthenticated) {
			t.Fatalf("API key after a reset: %v", err)
		}
	})
}
