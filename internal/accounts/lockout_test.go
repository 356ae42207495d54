package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keep-dev/keep/internal/auth"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// clock is a fake time source that only moves when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type lockoutEnv struct {
	s     *Service
	db    store.DB
	clock *clock
}

const (
	testEmail    = "lock@example.com"
	testPassword = "correct horse battery"
)

// newLockoutEnv builds the accounts service on db with cheap password
// hashing, a fake clock and a user testEmail / testPassword.
func newLockoutEnv(t *testing.T, db store.DB, cfg Config) *lockoutEnv {
	t.Helper()
	ctx := context.Background()
	hasher := auth.NewHasher(auth.Params{Memory: 8, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}, 8)
	rec, err := records.New(ctx, db, records.Options{Hasher: Policy{Hasher: hasher, MinLength: 8}})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.LoadKeySet(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewTokens(keys, auth.TokenConfig{Issuer: "https://keep.test", Audience: "https://keep.test"})
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	s := New(Deps{DB: db, Records: rec, Hasher: hasher, Tokens: tokens, Config: cfg, Now: c.Now})
	if _, err := rec.Signup(ctx, records.Body{"email": jsonString(testEmail), "password": jsonString(testPassword)}); err != nil {
		t.Fatal(err)
	}
	return &lockoutEnv{s: s, db: db, clock: c}
}

// outcome classifies a login result.
func outcome(err error) string {
	var rl *RateLimitError
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrInvalidCredentials):
		return "invalid"
	case errors.As(err, &rl):
		return fmt.Sprintf("locked %s", rl.RetryAfter)
	}
	return "error: " + err.Error()
}

func (e *lockoutEnv) login(email, password string) string {
	_, err := e.s.Login(context.Background(), email, password, ClientInfo{IP: "192.0.2.1"})
	return outcome(err)
}

// row reads the lockout row of ident; ok is false when there is none.
func (e *lockoutEnv) row(t *testing.T, ident string) (failures, lockCount int, lockedUntil time.Time, ok bool) {
	t.Helper()
	var until any
	err := e.db.QueryRow(context.Background(), `SELECT failures, lock_count, locked_until FROM _keep_login_attempts WHERE identifier = ?`,
		lockKey(loginLockID(ident))).Scan(&failures, &lockCount, &until)
	if errors.Is(err, store.ErrNotFound) {
		return 0, 0, time.Time{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	if until != nil {
		if lockedUntil, err = scanTimestamp(until); err != nil {
			t.Fatal(err)
		}
	}
	return failures, lockCount, lockedUntil, true
}

// TestLoginLockoutParallel is acceptance 3 of issue 3: 50 parallel wrong
// passwords count exactly, the lock refuses the right password, and it ends
// on time and clears. An unknown email goes through exactly the same.
func TestLoginLockoutParallel(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		const attempts, maxFailures = 50, 10
		e := newLockoutEnv(t, open(t), Config{LoginMaxFailures: maxFailures})

		hammer := func(email string) map[string]int {
			var (
				mu  sync.Mutex
				got = map[string]int{}
				wg  sync.WaitGroup
			)
			for range attempts {
				wg.Go(func() {
					o := e.login(email, "wrong password!")
					mu.Lock()
					got[o]++
					mu.Unlock()
				})
			}
			wg.Wait()
			return got
		}
		want := map[string]int{"invalid": maxFailures, "locked 1m0s": attempts - maxFailures}

		for _, email := range []string{testEmail, "nobody@example.com"} {
			t.Run(strings.Split(email, "@")[0], func(t *testing.T) {
				start := e.clock.Now()
				if diff := cmp.Diff(want, hammer(email)); diff != "" {
					t.Fatalf("outcomes of %d parallel wrong passwords (-want +got):\n%s", attempts, diff)
				}
				failures, lockCount, until, _ := e.row(t, email)
				if failures != 0 || lockCount != 1 || !until.Equal(start.Add(LockBase)) {
					t.Fatalf("row: failures %d, lock_count %d, locked_until %v; want 0, 1, %v", failures, lockCount, until, start.Add(LockBase))
				}
				// Refused before the password is checked, with the time left.
				e.clock.Advance(20 * time.Second)
				if got := e.login(email, testPassword); got != "locked 40s" {
					t.Fatalf("correct password while locked: %s, want locked 40s", got)
				}
				e.clock.Advance(40 * time.Second)
				wantAfter := "ok"
				if email != testEmail {
					wantAfter = "invalid"
				}
				if got := e.login(email, testPassword); got != wantAfter {
					t.Fatalf("login after the lock: %s, want %s", got, wantAfter)
				}
			})
		}
		// The success cleared the account's row entirely.
		if _, _, _, ok := e.row(t, testEmail); ok {
			t.Fatalf("row of %s still there after a successful login", testEmail)
		}
	})
}

// TestLockoutDoublesUpToMax checks the lock lengths of successive locks.
func TestLockoutDoublesUpToMax(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		e := newLockoutEnv(t, open(t), Config{LoginMaxFailures: 3, LockMax: 5 * time.Minute})
		for i, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute} {
			for j := range 3 {
				if got := e.login(testEmail, "wrong password!"); got != "invalid" {
					t.Fatalf("lock %d, failure %d: %s, want invalid", i, j, got)
				}
			}
			if got, w := e.login(testEmail, testPassword), "locked "+want.String(); got != w {
				t.Fatalf("lock %d: %s, want %s", i, got, w)
			}
			e.clock.Advance(want)
		}
		if got := e.login(testEmail, testPassword); got != "ok" {
			t.Fatalf("after the last lock: %s, want ok", got)
		}
	})
}

// TestLockoutWindow checks that failures are counted within the window only,
// and that a quiet period (no failure and no lock for a window) makes the
// next lock start short again.
func TestLockoutWindow(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		e := newLockoutEnv(t, open(t), Config{LoginMaxFailures: 3, LoginWindow: 10 * time.Minute})
		fail := func(n int) {
			t.Helper()
			for range n {
				if got := e.login(testEmail, "wrong password!"); got != "invalid" {
					t.Fatalf("failure: %s, want invalid", got)
				}
			}
		}
		fail(2)
		e.clock.Advance(10 * time.Minute) // the window of those two ends
		fail(2)
		if got := e.login(testEmail, testPassword); got != "ok" {
			t.Fatalf("2 failures in the new window: %s, want ok", got)
		}

		fail(3) // lock 1: one minute
		e.clock.Advance(time.Minute)
		fail(3) // lock 2, within the window of lock 1: two minutes
		if got := e.login(testEmail, testPassword); got != "locked 2m0s" {
			t.Fatalf("second lock: %s, want locked 2m0s", got)
		}
		// The lock ended, then a whole quiet window: back to one minute.
		e.clock.Advance(2*time.Minute + 10*time.Minute)
		fail(3)
		if got := e.login(testEmail, testPassword); got != "locked 1m0s" {
			t.Fatalf("lock after a quiet window: %s, want locked 1m0s", got)
		}
		// The rows the sweep removes are exactly the quiet ones.
		e.clock.Advance(11 * time.Minute)
		fail(1)
		e.login("other@example.com", "wrong password!")
		e.clock.Advance(10 * time.Minute)
		e.login("third@example.com", "wrong password!")
		e.s.pruneLoginAttempts(context.Background())
		var idents []string
		rows, err := e.db.Query(context.Background(), `SELECT identifier FROM _keep_login_attempts ORDER BY identifier`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			idents = append(idents, id)
		}
		if diff := cmp.Diff([]string{"login:third@example.com"}, idents); diff != "" {
			t.Fatalf("rows after pruning (-want +got):\n%s", diff)
		}
	})
}

// TestLoginSuccessClears checks that a success forgets failures and the lock
// count, so the next lock is the shortest again.
func TestLoginSuccessClears(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		e := newLockoutEnv(t, open(t), Config{LoginMaxFailures: 3})
		for range 2 {
			e.login(testEmail, "wrong password!")
		}
		if got := e.login(testEmail, testPassword); got != "ok" {
			t.Fatalf("login: %s", got)
		}
		for range 2 {
			e.login(testEmail, "wrong password!")
		}
		if got := e.login(testEmail, testPassword); got != "ok" {
			t.Fatalf("2 failures after a success: %s, want ok", got)
		}
		for range 3 {
			e.login(testEmail, "wrong password!")
		}
		e.clock.Advance(time.Minute)
		if got := e.login(testEmail, testPassword); got != "ok" {
			t.Fatalf("after the first lock: %s, want ok", got)
		}
		for range 3 {
			e.login(testEmail, "wrong password!")
		}
		if got := e.login(testEmail, testPassword); got != "locked 1m0s" {
			t.Fatalf("lock after a success: %s, want locked 1m0s", got)
		}
	})
}

// TestLockoutOddIdentifiers checks that identifiers no account can have
// (holding NUL, or too long) lock like any other instead of erroring.
func TestLockoutOddIdentifiers(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		e := newLockoutEnv(t, open(t), Config{LoginMaxFailures: 2, LockMax: 30 * time.Second})
		for _, email := range []string{"nul\x00@example.com", strings.Repeat("x", 300) + "@example.com"} {
			got := []string{e.login(email, "pw"), e.login(email, "pw"), e.login(email, "pw")}
			if diff := cmp.Diff([]string{"invalid", "invalid", "locked 30s"}, got); diff != "" {
				t.Fatalf("%.20q (-want +got):\n%s", email, diff)
			}
		}
	})
}

func TestLockDurations(t *testing.T) {
	for _, tc := range []struct {
		max  time.Duration
		want []time.Duration
	}{
		{15 * time.Minute, []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 15 * time.Minute}},
		{time.Minute, []time.Duration{time.Minute}},
		{20 * time.Second, []time.Duration{20 * time.Second}},
		{1000 * 24 * time.Hour, nil},
	} {
		got := Config{LockMax: tc.max}.lockDurations()
		if tc.want == nil {
			if len(got) != maxLockLevels || got[0] != time.Minute || got[len(got)-1] > tc.max {
				t.Errorf("LockMax %v: %v", tc.max, got)
			}
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("LockMax %v (-want +got):\n%s", tc.max, diff)
		}
	}
}
