package accounts_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/keep-dev/keep/internal/accounts"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
	"github.com/keep-dev/keep/internal/store/sqlite"
)

// versionedCountingDB is countingDB that keeps the engine's table versions,
// so the caller cache stays on where the engine has them.
type versionedCountingDB struct {
	countingDB
	versions store.TableVersions
}

func (d *versionedCountingDB) TableVersion(table string) uint64 {
	return d.versions.TableVersion(table)
}

func countQueries(db store.DB) (store.DB, *atomic.Int64) {
	if v, ok := db.(store.TableVersions); ok {
		d := &versionedCountingDB{countingDB: countingDB{DB: db}, versions: v}
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
