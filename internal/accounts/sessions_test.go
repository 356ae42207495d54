package accounts_test

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keep-dev/keep/internal/access"
	"github.com/keep-dev/keep/internal/accounts"
	"github.com/keep-dev/keep/internal/auth"
	"github.com/keep-dev/keep/internal/keyring"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// fakeClock is a clock tests move by hand. It is safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const (
	testIdle     = time.Hour
	testLifetime = 24 * time.Hour
	testTokenTTL = 2 * time.Hour // longer than testIdle, so the idle check is what ends a session
)

type fixture struct {
	t     testing.TB
	db    store.DB
	rec   *records.Service
	acc   *accounts.Service
	clock *fakeClock
	tok   *auth.Tokens
}

func newFixture(t testing.TB, db store.DB) *fixture {
	t.Helper()
	return newFixtureRing(t, db, nil)
}

// newFixtureRing is newFixture with ring sealing encrypted fields.
func newFixtureRing(t testing.TB, db store.DB, ring *keyring.Ring) *fixture {
	t.Helper()
	ctx := context.Background()
	hasher := auth.NewHasher(auth.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}, 4)
	rec, err := records.New(ctx, db, records.Options{Hasher: accounts.Policy{Hasher: hasher, MinLength: 8}, Keyring: ring})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.LoadKeySet(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
	tok, err := auth.NewTokens(keys, auth.TokenConfig{Issuer: "https://keep.test", Audience: "https://keep.test", TTL: testTokenTTL, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	acc := accounts.New(accounts.Deps{
		DB: db, Records: rec, Hasher: hasher, Tokens: tok, Now: clock.Now,
		Config: accounts.Config{SessionIdle: testIdle, SessionLifetime: testLifetime, RefreshGrace: 10 * time.Second},
	})
	rec.OnUserUpdate(acc.UserUpdated)
	return &fixture{t: t, db: db, rec: rec, acc: acc, clock: clock, tok: tok}
}

func jsonValue(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// user signs up name@example.com and returns its id.
func (f *fixture) user(name string) string {
	f.t.Helper()
	rec, err := f.rec.Signup(context.Background(), records.Body{
		"email": jsonValue(name + "@example.com"), "password": jsonValue(password(name))})
	if err != nil {
		f.t.Fatal(err)
	}
	return rec.ID()
}

func password(name string) string { return "password of " + name }

// session is one signed-in client: the tokens it holds now.
type session struct {
	name            string
	id              string
	access, refresh string
	user            string
	client          accounts.ClientInfo
}

var client = accounts.ClientInfo{IP: "192.0.2.1", UserAgent: "sessions-test"}

func (f *fixture) login(name string) *session {
	f.t.Helper()
	ctx := context.Background()
	res, err := f.acc.Login(ctx, name+"@example.com", password(name), client)
	if err != nil {
		f.t.Fatalf("login %s: %v", name, err)
	}
	if res.AccessToken == "" || res.TokenType != "Bearer" || res.ExpiresIn <= 0 || res.User == nil ||
		!strings.HasPrefix(res.RefreshToken, accounts.RefreshTokenPrefix) {
		f.t.Fatalf("login %s: bad result %+v", name, res)
	}
	c, err := f.acc.Authenticate(ctx, res.AccessToken, client)
	if err != nil {
		f.t.Fatalf("authenticate fresh login: %v", err)
	}
	if c.Session == "" {
		f.t.Fatal("caller of a fresh login has no session")
	}
	return &session{name: name, id: c.Session, access: res.AccessToken, refresh: res.RefreshToken, user: c.Auth.ID, client: client}
}

func (f *fixture) caller(s *session) records.Caller {
	f.t.Helper()
	c, err := f.acc.Authenticate(context.Background(), s.access, s.client)
	if err != nil {
		f.t.Fatalf("authenticate %s: %v", s.name, err)
	}
	return c
}

// refresh rotates s's tokens and reports the error, if any.
func (f *fixture) refresh(s *session) error {
	res, err := f.acc.Refresh(context.Background(), s.refresh, s.client)
	if err != nil {
		return err
	}
	if res.AccessToken == "" || res.RefreshToken == "" || res.RefreshToken == s.refresh || res.User == nil || res.TokenType != "Bearer" {
		f.t.Fatalf("bad refresh result %+v", res)
	}
	s.access, s.refresh = res.AccessToken, res.RefreshToken
	return nil
}

// alive checks s both ways, with its access token and by refreshing, and
// fails the test when the two disagree.
func (f *fixture) alive(s *session) bool {
	f.t.Helper()
	_, aerr := f.acc.Authenticate(context.Background(), s.access, s.client)
	if aerr != nil && !errors.Is(aerr, accounts.ErrUnauthenticated) {
		f.t.Fatalf("authenticate %s: %v", s.name, aerr)
	}
	rerr := f.refresh(s)
	if rerr != nil && !errors.Is(rerr, accounts.ErrUnauthenticated) {
		f.t.Fatalf("refresh %s: %v", s.name, rerr)
	}
	if (aerr == nil) != (rerr == nil) {
		f.t.Fatalf("session %s: authenticate says %v, refresh says %v", s.name, aerr, rerr)
	}
	return aerr == nil
}

// expectAlive checks every session against want: names listed are alive,
// all others ended.
func (f *fixture) expectAlive(all []*session, want ...string) {
	f.t.Helper()
	set := map[string]bool{}
	for _, w := range want {
		set[w] = true
	}
	for _, s := range all {
		if got := f.alive(s); got != set[s.name] {
			f.t.Errorf("session %s alive = %v, want %v", s.name, got, set[s.name])
		}
	}
	if f.t.Failed() {
		f.t.FailNow()
	}
}

func TestRefreshRotation(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		f := newFixture(t, open(t))
		ctx := context.Background()
		f.user("alice")
		s := f.login("alice")
		other := f.login("alice")

		first := *s // the tokens of the login
		if err := f.refresh(s); err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if s.access == first.access {
			t.Fatal("refresh returned the same access token")
		}

		t.Run("used token is refused within the grace window, session lives", func(t *testing.T) {
			f.clock.Advance(9 * time.Second)
			_, err := f.acc.Refresh(ctx, first.refresh, client)
			if !errors.Is(err, records.ErrConflict) || !errors.Is(err, accounts.ErrRefreshRace) {
				t.Fatalf("replay within grace: %v, want ErrRefreshRace", err)
			}
			if _, err := f.acc.Authenticate(ctx, s.access, client); err != nil {
				t.Fatalf("session ended by a replay within grace: %v", err)
			}
		})
		second := *s
		if err := f.refresh(s); err != nil { // the successor still works
			t.Fatalf("refresh successor: %v", err)
		}

		t.Run("replay outside the grace window kills the family", func(t *testing.T) {
			f.clock.Advance(11 * time.Second)
			if _, err := f.acc.Refresh(ctx, second.refresh, client); !errors.Is(err, accounts.ErrUnauthenticated) {
				t.Fatalf("replay: %v, want ErrUnauthenticated", err)
			}
			for what, tok := range map[string]string{"first": first.access, "second": second.access, "latest": s.access} {
				if _, err := f.acc.Authenticate(ctx, tok, client); !errors.Is(err, accounts.ErrUnauthenticated) {
					t.Errorf("%s access token after reuse: %v", what, err)
				}
			}
			if _, err := f.acc.Refresh(ctx, s.refresh, client); !errors.Is(err, accounts.ErrUnauthenticated) {
				t.Errorf("latest refresh token after reuse: %v", err)
			}
			var reason string
			if err := f.db.QueryRow(ctx, `SELECT revoke_reason FROM _keep_sessions WHERE id = ?`, s.id).Scan(&reason); err != nil || reason != "refresh token reuse" {
				t.Errorf("revoke reason %q, %v", reason, err)
			}
		})
		t.Run("other sessions are untouched", func(t *testing.T) {
			if !f.alive(other) {
				t.Fatal("the user's other session ended")
			}
		})
		t.Run("tokens are stored only as hashes", func(t *testing.T) {
			rows, err := f.db.Query(ctx, `SELECT hash, COALESCE(replaced_by, '') FROM _keep_refresh_tokens`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			hexHash := regexp.MustCompile(`^[0-9a-f]{64}$`)
			n := 0
			for rows.Next() {
				var h, rb string
				if err := rows.Scan(&h, &rb); err != nil {
					t.Fatal(err)
				}
				n++
				if !hexHash.MatchString(h) || (rb != "" && !hexHash.MatchString(rb)) {
					t.Fatalf("stored token is not a hash: %q %q", h, rb)
				}
				for _, tok := range []string{first.refresh, second.refresh, s.refresh, other.refresh} {
					if strings.Contains(h, tok) || strings.Contains(rb, tok) {
						t.Fatal("plaintext refresh token stored")
					}
				}
			}
			if n < 5 {
				t.Fatalf("%d token rows, want at least 5", n)
			}
		})
	})
}

func TestRefreshRefusesGarbage(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		f := newFixture(t, open(t))
		f.user("alice")
		s := f.login("alice")
		for name, tok := range map[string]string{
			"empty":        "",
			"unknown":      accounts.RefreshTokenPrefix + strings.Repeat("A", len(s.refresh)-len(accounts.RefreshTokenPrefix)),
			"no prefix":    strings.TrimPrefix(s.refresh, accounts.RefreshTokenPrefix),
			"extended":     s.refresh + "A",
			"access token": s.access,
			"nul":          s.refresh[:len(s.refresh)-1] + "\x00",
		} {
			t.Run(name, func(t *testing.T) {
				if _, err := f.acc.Refresh(context.Background(), tok, client); !errors.Is(err, accounts.ErrUnauthenticated) {
					t.Fatalf("got %v, want ErrUnauthenticated", err)
				}
			})
		}
		if !f.alive(s) {
			t.Fatal("garbage refresh attempts ended the session")
		}
	})
}

func TestAccessTokenWithoutSession(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		f := newFixture(t, open(t))
		id := f.user("alice")
		tok, _, err := f.tok.Issue(id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.acc.Authenticate(context.Background(), tok, client); !errors.Is(err, accounts.ErrUnauthenticated) {
			t.Fatalf("token without a session: %v", err)
		}
		// A session id of another user does not help either.
		f.user("bob")
		bob := f.login("bob")
		tok, _, err = f.tok.IssueSession(id, bob.id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.acc.Authenticate(context.Background(), tok, client); !errors.Is(err, accounts.ErrUnauthenticated) {
			t.Fatalf("token naming another user's session: %v", err)
		}
	})
}

func TestConcurrentRefresh(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		f := newFixture(t, open(t))
		ctx := context.Background()
		f.user("alice")
		s := f.login("alice")

		const n = 20
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []accounts.LoginResult
			races   int
		)
		for range n {
			wg.Go(func() {
				res, err := f.acc.Refresh(ctx, s.refresh, client)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					winners = append(winners, res)
				case errors.Is(err, accounts.ErrRefreshRace):
					races++
				default:
					t.Errorf("concurrent refresh: %v", err)
				}
			})
		}
		wg.Wait()
		if len(winners) != 1 || races != n-1 {
			t.Fatalf("%d refreshes succeeded and %d raced, want 1 and %d", len(winners), races, n-1)
		}
		// The family is whole: the login's token is used and points at the
		// one unused successor.
		var used, unused int
		if err := f.db.QueryRow(ctx, `SELECT
  COUNT(CASE WHEN used_at IS NOT NULL AND replaced_by IS NOT NULL THEN 1 END),
  COUNT(CASE WHEN used_at IS NULL AND replaced_by IS NULL THEN 1 END)
FROM _keep_refresh_tokens WHERE session_id = ?`, s.id).Scan(&used, &unused); err != nil {
			t.Fatal(err)
		}
		if used != 1 || unused != 1 {
			t.Fatalf("family has %d used and %d unused tokens, want 1 and 1", used, unused)
		}
		s.access, s.refresh = winners[0].AccessToken, winners[0].RefreshToken
		if !f.alive(s) {
			t.Fatal("session ended by concurrent refreshes")
		}
	})
}

func TestSessionTimeouts(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		f := newFixture(t, open(t))
		ctx := context.Background()
		f.user("alice")

		t.Run("inactivity", func(t *testing.T) {
			s := f.login("alice")
			f.clock.Advance(testIdle - time.Minute)
			if err := f.refresh(s); err != nil {
				t.Fatalf("refresh before the idle timeout: %v", err)
			}
			f.clock.Advance(testIdle - time.Minute) // counted from the refresh
			if _, err := f.acc.Authenticate(ctx, s.access, client); err != nil {
				t.Fatalf("authenticate within the idle timeout: %v", err)
			}
			f.clock.Advance(2 * time.Minute) // the access token is still valid; the session is not
			if _, err := f.acc.Authenticate(ctx, s.access, client); !errors.Is(err, accounts.ErrUnauthenticated) {
				t.Fatalf("authenticate after the idle timeout: %v", err)
			}
			if err := f.refresh(s); !errors.Is(err, accounts.ErrUnauthenticated) {
				t.Fatalf("refresh after the idle timeout: %v", err)
			}
		})
		t.Run("absolute lifetime", func(t *testing.T) {
			s := f.login("alice")
			start := f.clock.Now()
			for {
				f.clock.Advance(50 * time.Minute)
				err := f.refresh(s)
				past := !f.clock.Now().Before(start.Add(testLifetime))
				if past {
					if !errors.Is(err, accounts.ErrUnauthenticated) {
						t.Fatalf("refresh past the lifetime: %v", err)
					}
					break
				}
				if err != nil {
					t.Fatalf("refresh at %v: %v", f.clock.Now().Sub(start), err)
				}
			}
			if _, err := f.acc.Authenticate(ctx, s.access, client); !errors.Is(err, accounts.ErrUnauthenticated) {
				t.Fatalf("authenticate past the lifetime: %v", err)
			}
		})
	})
}

func TestEndingSessions(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		f := newFixture(t, open(t))
		ctx := context.Background()
		f.user("alice")
		bobID := f.user("bob")
		login := func(name, label string) *session {
			s := f.login(name)
			s.name = label
			return s
		}
		a1, a2, a3, b1 := login("alice", "a1"), login("alice", "a2"), login("alice", "a3"), login("bob", "b1")
		all := []*session{a1, a2, a3, b1}
		f.expectAlive(all, "a1", "a2", "a3", "b1")

		t.Run("list", func(t *testing.T) {
			list, err := f.acc.Sessions(ctx, f.caller(a2))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, si := range list {
				got[si.ID] = si.Current
				if si.IP != client.IP || si.UserAgent != client.UserAgent || si.Created.IsZero() || si.LastUsed.Before(si.Created) {
					t.Errorf("session info %+v", si)
				}
			}
			want := map[string]bool{a1.id: false, a2.id: true, a3.id: false}
			if len(got) != len(want) || got[a1.id] || !got[a2.id] || got[a3.id] {
				t.Fatalf("sessions %v, want %v", got, want)
			}
		})
		t.Run("logout", func(t *testing.T) {
			if err := f.acc.Logout(ctx, f.caller(a1)); err != nil {
				t.Fatal(err)
			}
			f.expectAlive(all, "a2", "a3", "b1")
		})
		t.Run("delete session", func(t *testing.T) {
			c := f.caller(a2)
			if err := f.acc.DeleteSession(ctx, c, b1.id); !errors.Is(err, records.ErrNotFound) {
				t.Fatalf("deleting another user's session: %v", err)
			}
			if err := f.acc.DeleteSession(ctx, c, "no-such-session"); !errors.Is(err, records.ErrNotFound) {
				t.Fatalf("deleting an unknown session: %v", err)
			}
			if err := f.acc.DeleteSession(ctx, c, a3.id); err != nil {
				t.Fatal(err)
			}
			if err := f.acc.DeleteSession(ctx, c, a3.id); !errors.Is(err, records.ErrNotFound) {
				t.Fatalf("deleting an ended session: %v", err)
			}
			f.expectAlive(all, "a2", "b1")
		})
		a4, a5 := login("alice", "a4"), login("alice", "a5")
		all = append(all, a4, a5)
		t.Run("revoke others", func(t *testing.T) {
			if err := f.acc.RevokeOtherSessions(ctx, f.caller(a4)); err != nil {
				t.Fatal(err)
			}
			f.expectAlive(all, "a4", "b1")
			list, err := f.acc.Sessions(ctx, f.caller(a4))
			if err != nil || len(list) != 1 || list[0].ID != a4.id || !list[0].Current {
				t.Fatalf("sessions after revoke-others: %+v, %v", list, err)
			}
		})
		a6 := login("alice", "a6")
		all = append(all, a6)
		t.Run("password change", func(t *testing.T) {
			c := f.caller(a4)
			err := f.acc.ChangePassword(ctx, c, "wrong password", "brand new password")
			if !errors.Is(err, records.ErrForbidden) {
				t.Fatalf("wrong current password: %v", err)
			}
			var ve *records.ValidationError
			for _, bad := range []string{"short", "ALICE@example.com"} {
				if err := f.acc.ChangePassword(ctx, c, password("alice"), bad); !errors.As(err, &ve) || ve.Fields["new_password"] == "" {
					t.Fatalf("new password %q: %v", bad, err)
				}
			}
			f.expectAlive(all, "a4", "a6", "b1")
			if err := f.acc.ChangePassword(ctx, f.caller(a4), password("alice"), "brand new password"); err != nil {
				t.Fatal(err)
			}
			f.expectAlive(all, "a4", "b1")
			if _, err := f.acc.Login(ctx, "alice@example.com", password("alice"), client); !errors.Is(err, accounts.ErrInvalidCredentials) {
				t.Fatalf("login with the old password: %v", err)
			}
			if _, err := f.acc.Login(ctx, "alice@example.com", "brand new password", client); err != nil {
				t.Fatalf("login with the new password: %v", err)
			}
		})
		t.Run("api key callers", func(t *testing.T) {
			c := f.caller(a4)
			c.Session, c.APIKey = "", "some-key-id"
			for what, err := range map[string]error{
				"logout":        f.acc.Logout(ctx, c),
				"revoke others": f.acc.RevokeOtherSessions(ctx, c),
			} {
				var pe *records.PublicError
				if !errors.As(err, &pe) || !errors.Is(err, records.ErrBadRequest) {
					t.Errorf("%s with an API key: %v", what, err)
				}
			}
			f.expectAlive(all, "a4", "b1")
		})
		t.Run("disable user", func(t *testing.T) {
			b2 := login("bob", "b2")
			all = append(all, b2)
			admin := records.Caller{Superuser: true, Auth: access.Auth{ID: "admin"}}
			if _, err := f.rec.Update(ctx, admin, "users", bobID, records.Body{"disabled": jsonValue(true)}); err != nil {
				t.Fatal(err)
			}
			f.expectAlive(all, "a4")
			if _, err := f.acc.Login(ctx, "bob@example.com", password("bob"), client); !errors.Is(err, accounts.ErrInvalidCredentials) {
				t.Fatalf("login of a disabled user: %v", err)
			}
		})
	})
}
