package accounts_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keep-dev/keep/internal/accounts"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/roles"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
	"github.com/keep-dev/keep/internal/store/sqlite"
)

// versionedCountingDB is countingDB that keeps the engine's table versions,
// so the caller cache stays on where the engine has them.
type versionedCountingDB struct {
	countingDB
	store.TableVersions
}

func countQueries(db store.DB) (store.DB, *atomic.Int64) {
	if v, ok := db.(store.TableVersions); ok {
		d := &versionedCountingDB{countingDB: countingDB{DB: db}, TableVersions: v}
		return d, &d.n
	}
	d := &countingDB{DB: db}
	return d, &d.n
}

// TestAuthenticateReusesCaller: on SQLite a token's caller is loaded once
// and reused until a table it was read from changes or CallerTTL passes;
// on PostgreSQL, where other replicas write unseen, every request loads it.
func TestAuthenticateReusesCaller(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		db, n := countQueries(open(t))
		_, cached := db.(store.TableVersions)
		f := newFixture(t, db)
		f.user("alice")
		bob := f.user("bob")
		s := f.login("alice")
		statements := func(step string, want int64) {
			t.Helper()
			n.Store(0)
			if c := f.caller(s); c.Auth.Email != "alice@example.com" {
				t.Fatalf("%s: caller %+v", step, c)
			}
			if !cached {
				want = 1
			}
			if got := n.Load(); got != want {
				t.Errorf("%s: %d statements, want %d", step, got, want)
			}
		}
		statements("again", 0)
		statements("and again", 0)
		f.exec(`UPDATE c_users SET verified = ? WHERE id = ?`, true, bob) // another user: still a change to the table
		statements("after a users write", 1)
		statements("then", 0)
		// New rows in the tables read by row (a login, a signup) leave
		// kept callers alone; a new role row does not.
		f.login("bob")
		f.user("carol")
		statements("after a login and a signup", 0)
		f.exec(`INSERT INTO _keep_user_roles (user_id, role, created) VALUES (?, ?, ?)`, bob, "editor", f.timeArg(time.Now()))
		statements("after a role granted to another", 1)
		f.exec(`UPDATE _keep_sessions SET last_used = last_used WHERE user_id = ?`, bob)
		statements("after another's session changed", 1)
		f.exec(`DELETE FROM _keep_login_attempts`) // a table the caller is not read from
		statements("after an unrelated write", 0)
		f.clock.Advance(accounts.CallerTTL - 1)
		statements("just short of the TTL", 0)
		f.clock.Advance(1)
		statements("at the TTL", 1)
	})
}

// TestAuthenticateCachedCallerEnds: each way this process ends or changes
// a caller applies to the very next request, though that caller was just
// loaded and kept.
func TestAuthenticateCachedCallerEnds(t *testing.T) {
	ctx := context.Background()
	su := records.Caller{Superuser: true}
	for _, tc := range []struct {
		name string
		do   func(f *fixture, s, other *session)
		// refused, or else check inspects the caller
		check func(t *testing.T, c records.Caller)
	}{
		{"logout", func(f *fixture, s, _ *session) {
			if err := f.acc.Logout(ctx, f.caller(s)); err != nil {
				f.t.Fatal(err)
			}
		}, nil},
		{"session deleted by another", func(f *fixture, s, other *session) {
			if err := f.acc.DeleteSession(ctx, f.caller(other), s.id); err != nil {
				f.t.Fatal(err)
			}
		}, nil},
		{"other sessions revoked", func(f *fixture, _, other *session) {
			if err := f.acc.RevokeOtherSessions(ctx, f.caller(other)); err != nil {
				f.t.Fatal(err)
			}
		}, nil},
		{"user deleted", func(f *fixture, s, _ *session) {
			if err := f.rec.Delete(ctx, su, "users", s.user); err != nil {
				f.t.Fatal(err)
			}
		}, nil},
		{"user disabled", func(f *fixture, s, _ *session) {
			f.exec(`UPDATE c_users SET disabled = ? WHERE id = ?`, true, s.user)
		}, nil},
		{"user disabled through records", func(f *fixture, s, _ *session) {
			if _, err := f.rec.Update(ctx, su, "users", s.user, records.Body{"disabled": jsonValue(true)}); err != nil {
				f.t.Fatal(err)
			}
		}, nil},
		{"password changed in another session", func(f *fixture, s, other *session) {
			if err := f.acc.ChangePassword(ctx, f.caller(other), password("alice"), "a new password for alice"); err != nil {
				f.t.Fatal(err)
			}
		}, nil},
		{"role removed", func(f *fixture, s, _ *session) {
			rs := roles.New(f.db, nil)
			if _, err := rs.Create(ctx, su, roles.Input{Name: "editor"}); err != nil {
				f.t.Fatal(err)
			}
			if err := rs.Assign(ctx, su, s.user, "editor"); err != nil {
				f.t.Fatal(err)
			}
			if c := f.caller(s); !slices.Equal(c.Auth.Roles, []string{"editor"}) {
				f.t.Fatalf("assigned: roles %v", c.Auth.Roles)
			}
			if err := rs.Delete(ctx, su, "editor"); err != nil {
				f.t.Fatal(err)
			}
		}, func(t *testing.T, c records.Caller) {
			if len(c.Auth.Roles) != 0 {
				t.Errorf("roles %v after the role was deleted", c.Auth.Roles)
			}
		}},
		{"role granted", func(f *fixture, s, _ *session) {
			f.exec(`INSERT INTO _keep_user_roles (user_id, role, created) VALUES (?, ?, ?)`, s.user, accounts.SuperuserRole, f.timeArg(f.clock.Now()))
		}, func(t *testing.T, c records.Caller) {
			if !c.Superuser {
				t.Errorf("roles %v: not superuser", c.Auth.Roles)
			}
		}},
		{"field added and set", func(f *fixture, s, _ *session) {
			users, err := f.rec.Collection("users")
			if err != nil {
				f.t.Fatal(err)
			}
			fields := append(append([]records.Field(nil), users.Fields...), records.Field{Name: "nickname", Type: records.TypeText})
			if _, err := f.rec.UpdateCollection(ctx, "users", records.CollectionPatch{Fields: &fields}); err != nil {
				f.t.Fatal(err)
			}
			if c := f.caller(s); c.Auth.Fields["nickname"] != nil {
				f.t.Fatalf("new field: %#v", c.Auth.Fields["nickname"])
			}
			if _, ok := f.caller(s).Auth.Fields["nickname"]; !ok {
				f.t.Fatal("the caller lacks the field the users collection gained")
			}
			if _, err := f.rec.Update(ctx, su, "users", s.user, records.Body{"nickname": jsonValue("al")}); err != nil {
				f.t.Fatal(err)
			}
		}, func(t *testing.T, c records.Caller) {
			if c.Auth.Fields["nickname"] != "al" {
				t.Errorf("nickname = %#v", c.Auth.Fields["nickname"])
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
				f := newFixture(t, open(t))
				f.user("alice")
				s, other := f.login("alice"), f.login("alice")
				f.caller(s) // loaded, and kept where the engine allows
				tc.do(f, s, other)
				if tc.check == nil {
					f.wantRefused(tc.name, s.access)
					return
				}
				tc.check(t, f.caller(s))
			})
		})
	}
}

// TestAuthenticateOtherProcess: a change another process makes to the
// SQLite file is not seen by the versions; it applies once CallerTTL has
// passed since the caller was loaded.
func TestAuthenticateOtherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keep.db")
	openAt := func() *sqlite.DB {
		db, err := sqlite.Open(context.Background(), path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	f := newFixture(t, openAt())
	id := f.user("alice")
	s := f.login("alice")
	f.caller(s)
	if _, err := openAt().Exec(context.Background(), `UPDATE c_users SET disabled = ? WHERE id = ?`, true, id); err != nil {
		t.Fatal(err)
	}
	if c := f.caller(s); c.Auth.ID != id {
		t.Fatalf("within the TTL: %+v", c)
	}
	f.clock.Advance(accounts.CallerTTL)
	f.wantRefused("disabled by another process, CallerTTL later", s.access)
}

// TestAuthenticateCallerCopies: a request that changes its caller's fields
// or roles does not change the next request's.
func TestAuthenticateCallerCopies(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		f := newFixture(t, open(t))
		f.user("alice")
		s := f.login("alice")
		for i := range 3 {
			c := f.caller(s)
			if c.Auth.Fields["email"] != "alice@example.com" || len(c.Auth.Roles) != 0 {
				t.Fatalf("request %d: fields %v, roles %v", i, c.Auth.Fields, c.Auth.Roles)
			}
			c.Auth.Fields["email"] = "mallory@example.com"
			c.Auth.Roles = append(c.Auth.Roles, accounts.SuperuserRole)
		}
	})
}

// TestAuthenticateLargeCallerNotKept: a user whose fields are large is
// loaded on every request, so the cache's memory stays bounded.
func TestAuthenticateLargeCallerNotKept(t *testing.T) {
	db, n := countQueries(enginetest.SQLite(t))
	f := newFixture(t, db)
	ctx := context.Background()
	users, err := f.rec.Collection("users")
	if err != nil {
		t.Fatal(err)
	}
	fields := append(append([]records.Field(nil), users.Fields...), records.Field{Name: "bio", Type: records.TypeText})
	if _, err := f.rec.UpdateCollection(ctx, "users", records.CollectionPatch{Fields: &fields}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		bio  int
		want int64
	}{{100, 0}, {accounts.MaxCachedCallerSize, 1}} {
		name := fmt.Sprint("u", tc.bio)
		id := f.user(name)
		if _, err := f.rec.Update(ctx, records.Caller{Superuser: true}, "users", id, records.Body{"bio": jsonValue(strings.Repeat("x", tc.bio))}); err != nil {
			t.Fatal(err)
		}
		s := f.login(name)
		n.Store(0)
		f.caller(s)
		if got := n.Load(); got != tc.want {
			t.Errorf("bio of %d bytes: %d statements on the second request, want %d", tc.bio, got, tc.want)
		}
	}
}

// TestAuthenticateConcurrentLogout: requests racing a logout and unrelated
// writes never pass with the session once Logout has returned.
func TestAuthenticateConcurrentLogout(t *testing.T) {
	f := newFixture(t, enginetest.SQLite(t))
	ctx := context.Background()
	f.user("alice")
	for round := range 20 {
		s := f.login("alice")
		var out atomic.Bool
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					after := out.Load()
					if _, err := f.acc.Authenticate(ctx, s.access, client); err == nil && after {
						t.Errorf("round %d: the session authenticated after Logout returned", round)
						return
					}
				}
			}()
		}
		wg.Add(1)
		go func() { // writes that share the writer's batches
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := f.db.Exec(ctx, `DELETE FROM _keep_login_attempts WHERE identifier = ?`, fmt.Sprint(i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		if err := f.acc.Logout(ctx, f.caller(s)); err != nil {
			t.Fatal(err)
		}
		out.Store(true)
		time.Sleep(5 * time.Millisecond)
		close(stop)
		wg.Wait()
	}
}
