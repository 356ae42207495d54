package accounts_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keep-dev/keep/internal/accounts"
	"github.com/keep-dev/keep/internal/auth"
	"github.com/keep-dev/keep/internal/records"
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

// TestEmailRequestsCoolDownPerAddress: at most one mail per address and
// kind a minute, without ever locking the owner out of a link.
func TestEmailRequestsCoolDownPerAddress(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		e := newEmailEnv(t, open(t), accounts.Config{})
		e.signup("alice@example.com", "alice password 1")
		ctx := context.Background()
		for range 5 {
			if err := e.acc.RequestReset(ctx, "alice@example.com"); err != nil {
				t.Fatal(err)
			}
		}
		first := e.onlyMail("alice@example.com") // waits for the requests' work
		e.clock.Advance(2 * time.Minute)
		if err := e.acc.RequestReset(ctx, "alice@example.com"); err != nil {
			t.Fatal(err)
		}
		second := e.onlyMail("alice@example.com")
		badLink(t, e.acc.ConfirmReset(ctx, first, "a brand new passphrase"))
		if err := e.acc.ConfirmReset(ctx, second, "a brand new passphrase"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestResetLiftsTheLock: an attacker can keep an email locked, but the owner
// gets back in through a password reset, which lifts the lock.
func TestResetLiftsTheLock(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		e := newEmailEnv(t, open(t), accounts.Config{LoginMaxFailures: 3})
		e.signup("alice@example.com", "alice password 1")
		ctx := context.Background()
		for range 3 {
			_, _ = e.acc.Login(ctx, "alice@example.com", "wrong password 1", accounts.ClientInfo{})
		}
		if _, err := e.acc.Login(ctx, "alice@example.com", "alice password 1", accounts.ClientInfo{}); !errors.Is(err, accounts.ErrTooManyAttempts) {
			t.Fatalf("want the lock, got %v", err)
		}
		if err := e.acc.RequestReset(ctx, "alice@example.com"); err != nil {
			t.Fatal(err)
		}
		if err := e.acc.ConfirmReset(ctx, e.onlyMail("alice@example.com"), "a brand new passphrase"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.acc.Login(ctx, "alice@example.com", "a brand new passphrase", accounts.ClientInfo{}); err != nil {
			t.Fatalf("login after the reset: %v", err)
		}
	})
}

// TestDeletingAUserEndsItsSessions: the sessions go with the user (a
// foreign key cascade), so its tokens stop working at once.
func TestDeletingAUserEndsItsSessions(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		f := newFixture(t, open(t))
		id := f.user("carol")
		s := f.login("carol")
		if err := f.rec.Delete(context.Background(), records.Caller{Superuser: true}, "users", id); err != nil {
			t.Fatal(err)
		}
		if f.alive(s) {
			t.Fatal("a deleted user's session still works")
		}
	})
}

// TestHashUpgradesOnLogin: when the hashing parameters rise, the next login
// re-hashes the password with them, transparently.
func TestHashUpgradesOnLogin(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		f := newFixture(t, open(t))
		id := f.user("dave")
		stronger := auth.NewHasher(auth.Params{Memory: 128, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}, 4)
		acc := accounts.New(accounts.Deps{DB: f.db, Records: f.rec, Hasher: stronger, Tokens: f.tok})
		ctx := context.Background()
		if _, err := acc.Login(ctx, "dave@example.com", password("dave"), client); err != nil {
			t.Fatal(err)
		}
		var hash string
		if err := f.db.QueryRow(ctx, `SELECT password_hash FROM c_users WHERE id = ?`, id).Scan(&hash); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(hash, "m=128,t=2,p=1") {
			t.Fatalf("hash not upgraded: %s", hash[:30])
		}
		if _, err := acc.Login(ctx, "dave@example.com", password("dave"), client); err != nil {
			t.Fatalf("login with the upgraded hash: %v", err)
		}
	})
}

// TestSignupIsLimitedPerAddress: repeated signups for one address answer
// 429 past the limit, taken or not.
func TestSignupIsLimitedPerAddress(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		e := newEmailEnv(t, open(t), accounts.Config{LoginMaxFailures: 2})
		ctx := context.Background()
		body := records.Body{"email": jsonValue("erin@example.com"), "password": jsonValue("erin password 1")}
		if _, err := e.acc.Signup(ctx, body); err != nil {
			t.Fatal(err)
		}
		if _, err := e.acc.Signup(ctx, body); !errors.Is(err, records.ErrConflict) {
			t.Fatalf("second signup: %v", err)
		}
		if _, err := e.acc.Signup(ctx, body); !errors.Is(err, accounts.ErrTooManyAttempts) {
			t.Fatalf("third signup: %v", err)
		}
		other := records.Body{"email": jsonValue("frank@example.com"), "password": jsonValue("frank password 1")}
		if _, err := e.acc.Signup(ctx, other); err != nil {
			t.Fatalf("another address: %v", err)
		}
	})
}
