package accounts_test

// Authenticate reads the session, the user record and its roles in one
// query. These tests pin what that query must keep deciding: each way a
// session ends, each way a user goes, roles read fresh and in order, and
// the caller's fields exactly as the records package decodes them.

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keep-dev/keep/internal/accounts"
	"github.com/keep-dev/keep/internal/keyring"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// exec runs one statement in a transaction, behind the services' backs
// (no hook runs), so that a test can set exactly one column.
func (f *fixture) exec(query string, args ...any) {
	f.t.Helper()
	err := f.db.Tx(context.Background(), func(q store.Querier) error {
		_, err := q.Exec(context.Background(), query, args...)
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) timeArg(t time.Time) any { return records.TimeArg(f.db.Dialect(), t) }

// wantRefused fails unless token authenticates as nobody.
func (f *fixture) wantRefused(what, token string) {
	f.t.Helper()
	if c, err := f.acc.Authenticate(context.Background(), token, client); !errors.Is(err, accounts.ErrUnauthenticated) {
		f.t.Fatalf("%s: Authenticate = %+v, %v; want ErrUnauthenticated", what, c, err)
	}
}

// apiKey makes a key acting as s's user, valid for a day.
func (f *fixture) apiKey(s *session) string {
	f.t.Helper()
	k, err := f.acc.CreateAPIKey(context.Background(), f.caller(s),
		accounts.APIKeyInput{Name: "test", ExpiresAt: f.clock.Now().Add(24 * time.Hour)})
	if err != nil {
		f.t.Fatal(err)
	}
	return k.Key
}

// TestAuthenticateSessionBoundaries sets the session columns one at a time
// around each limit; Authenticate and Refresh must agree on every case
// (f.alive checks both), so the SQL test and the Go one cannot drift apart.
func TestAuthenticateSessionBoundaries(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		f := newFixture(t, open(t))
		f.user("alice")
		ms := time.Millisecond
		for _, tc := range []struct {
			name      string
			lastUsed  time.Duration // from now
			expiresIn time.Duration // from now
			revoked   bool
			alive     bool
		}{
			{"fresh", 0, testLifetime, false, true},
			{"expires in 1ms", 0, ms, false, true},
			{"expires now", 0, 0, false, false},
			{"expired", 0, -time.Second, false, false},
			{"idle 1ms short of the timeout", -testIdle + ms, testLifetime, false, true},
			{"idle for the timeout", -testIdle, testLifetime, false, false},
			{"idle past the timeout", -testIdle - time.Second, testLifetime, false, false},
			{"revoked", 0, testLifetime, true, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f.t = t
				s := f.login("alice")
				now := f.clock.Now()
				var revoked any
				if tc.revoked {
					revoked = f.timeArg(now)
				}
				f.exec(`UPDATE _keep_sessions SET last_used = ?, expires_at = ?, revoked_at = ? WHERE id = ?`,
					f.timeArg(now.Add(tc.lastUsed)), f.timeArg(now.Add(tc.expiresIn)), revoked, s.id)
				if got := f.alive(s); got != tc.alive {
					t.Fatalf("alive = %v, want %v", got, tc.alive)
				}
			})
		}
	})
}

// TestAuthenticateSessionOwner: a token is good only with its own user's
// existing session.
func TestAuthenticateSessionOwner(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		f := newFixture(t, open(t))
		alice := f.user("alice")
		f.user("bob")
		bob := f.login("bob")
		for what, sid := range map[string]string{"unknown session": "no-such-session", "bob's session": bob.id} {
			tok, _, err := f.tok.IssueSession(alice, sid)
			if err != nil {
				t.Fatal(err)
			}
			f.wantRefused(what, tok)
		}
		if c := f.caller(bob); c.Auth.ID != bob.user || c.Session != bob.id {
			t.Fatalf("bob's own token: %+v", c)
		}
	})
}

// TestAuthenticateUserGone: a disabled or deleted user authenticates with
// neither its access token nor its API key. The flag is set in the table
// directly, so the sessions stay alive and only the user check can refuse.
func TestAuthenticateUserGone(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		f := newFixture(t, open(t))
		ctx := context.Background()
		id := f.user("alice")
		s := f.login("alice")
		key := f.apiKey(s)
		if _, err := f.acc.Authenticate(ctx, key, client); err != nil {
			t.Fatalf("api key: %v", err)
		}

		f.exec(`UPDATE c_users SET disabled = ? WHERE id = ?`, true, id)
		f.wantRefused("token of a disabled user", s.access)
		f.wantRefused("api key of a disabled user", key)
		if _, err := f.acc.CallerFor(ctx, id); !errors.Is(err, records.ErrNotFound) {
			t.Fatalf("CallerFor a disabled user: %v", err)
		}
		f.exec(`UPDATE c_users SET disabled = ? WHERE id = ?`, false, id)
		if c := f.caller(s); c.Auth.ID != id {
			t.Fatalf("re-enabled user: %+v", c)
		}

		if err := f.rec.Delete(ctx, records.Caller{Superuser: true}, "users", id); err != nil {
			t.Fatal(err)
		}
		f.wantRefused("token of a deleted user", s.access)
		f.wantRefused("api key of a deleted user", key)
	})
}

// TestAuthenticateRolesFresh: roles changed between two requests take
// effect on the next one, in the order the database sorts them (its
// collation, on PostgreSQL), on both kinds of credential.
func TestAuthenticateRolesFresh(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		f := newFixture(t, open(t))
		ctx := context.Background()
		id := f.user("alice")
		s := f.login("alice")
		key := f.apiKey(s)
		sorted := func() []string {
			t.Helper()
			rows, err := f.db.Query(ctx, `SELECT role FROM _keep_user_roles WHERE user_id = ? ORDER BY role`, id)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			out := []string{}
			for rows.Next() {
				var r string
				if err := rows.Scan(&r); err != nil {
					t.Fatal(err)
				}
				out = append(out, r)
			}
			return out
		}
		check := func(step string, superuser bool) {
			t.Helper()
			want := sorted()
			for what, token := range map[string]string{"token": s.access, "api key": key} {
				c, err := f.acc.Authenticate(ctx, token, client)
				if err != nil {
					t.Fatalf("%s, %s: %v", step, what, err)
				}
				if diff := cmp.Diff(want, c.Auth.Roles); diff != "" {
					t.Errorf("%s, %s: roles (-want +got):\n%s", step, what, diff)
				}
				if c.Superuser != superuser {
					t.Errorf("%s, %s: superuser = %v, want %v", step, what, c.Superuser, superuser)
				}
			}
		}
		grant := func(roles ...string) {
			t.Helper()
			for _, r := range roles {
				f.exec(`INSERT INTO _keep_user_roles (user_id, role, created) VALUES (?, ?, ?)`, id, r, f.timeArg(f.clock.Now()))
			}
		}
		check("no roles", false)
		grant("zeta", "Alpha", "beta", "b,c", accounts.SuperuserRole, "éclair")
		check("granted", true)
		grant(`quote"d`, `back\slash`) // escaped in the JSON the query builds
		check("granted with escapes", true)
		f.exec(`DELETE FROM _keep_user_roles WHERE user_id = ? AND role IN (?, ?)`, id, accounts.SuperuserRole, "beta")
		check("superuser revoked", false)
		f.exec(`DELETE FROM _keep_user_roles WHERE user_id = ?`, id)
		check("all revoked", false)
	})
}

// TestAuthenticateFields: the caller's fields are the user record as
// records.User decodes it, extra and encrypted fields included, whichever
// way the caller is loaded.
func TestAuthenticateFields(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()
		db := open(t)
		root, _ := keyring.NewRootKey()
		ring, err := keyring.Open(ctx, db, root)
		if err != nil {
			t.Fatal(err)
		}
		f := newFixtureRing(t, db, ring)
		users, err := f.rec.Collection("users")
		if err != nil {
			t.Fatal(err)
		}
		fields := append(append([]records.Field(nil), users.Fields...),
			records.Field{Name: "nickname", Type: records.TypeText},
			records.Field{Name: "ssn", Type: records.TypeText, Encrypted: true},
			records.Field{Name: "pin", Type: records.TypeNumber, Encrypted: true},
			records.Field{Name: "score", Type: records.TypeNumber},
			records.Field{Name: "born", Type: records.TypeDate},
			records.Field{Name: "tags", Type: records.TypeSelect, Values: []string{"a", "b", "c"}, MaxSelect: 3},
			records.Field{Name: "prefs", Type: records.TypeJSON},
			// Names of session columns: the session condition must not
			// read these instead.
			records.Field{Name: "last_used", Type: records.TypeText},
			records.Field{Name: "revoked_at", Type: records.TypeText})
		if _, err := f.rec.UpdateCollection(ctx, "users", records.CollectionPatch{Fields: &fields}); err != nil {
			t.Fatal(err)
		}
		id := f.user("alice")
		if _, err := f.rec.Update(ctx, records.Caller{Superuser: true}, "users", id, records.Body{
			"nickname": jsonValue("al"), "ssn": jsonValue("078-05-1120"), "pin": jsonValue(1234), "score": jsonValue(2.5),
			"born": jsonValue("1990-04-01T00:00:00Z"), "tags": jsonValue([]string{"c", "a"}),
			"prefs":     jsonValue(map[string]any{"theme": "dark", "n": []int{1, 2}}),
			"last_used": jsonValue("never"), "revoked_at": jsonValue("yes"),
		}); err != nil {
			t.Fatal(err)
		}
		want, err := f.rec.User(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if want["ssn"] != "078-05-1120" {
			t.Fatalf("records.User ssn = %#v; the test needs the plaintext", want["ssn"])
		}
		s := f.login("alice")
		viaToken := f.caller(s)
		viaKey, err := f.acc.Authenticate(ctx, f.apiKey(s), client)
		if err != nil {
			t.Fatal(err)
		}
		viaID, err := f.acc.CallerFor(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for what, c := range map[string]records.Caller{"token": viaToken, "api key": viaKey, "CallerFor": viaID} {
			if diff := cmp.Diff(map[string]any(want), c.Auth.Fields); diff != "" {
				t.Errorf("%s: fields (-records.User +caller):\n%s", what, diff)
			}
			if c.Auth.Email != "alice@example.com" || c.Auth.ID != id {
				t.Errorf("%s: id %q, email %q", what, c.Auth.ID, c.Auth.Email)
			}
		}
	})
}

// countingDB counts the statements run outside transactions, and each
// transaction as one.
type countingDB struct {
	store.DB
	n atomic.Int64
}

func (d *countingDB) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	d.n.Add(1)
	return d.DB.Exec(ctx, q, args...)
}

func (d *countingDB) Query(ctx context.Context, q string, args ...any) (store.Rows, error) {
	d.n.Add(1)
	return d.DB.Query(ctx, q, args...)
}

func (d *countingDB) QueryRow(ctx context.Context, q string, args ...any) store.Row {
	d.n.Add(1)
	return d.DB.QueryRow(ctx, q, args...)
}

func (d *countingDB) Tx(ctx context.Context, fn func(store.Querier) error) error {
	d.n.Add(1)
	return d.DB.Tx(ctx, fn)
}

// TestAuthenticateQueries: an access token costs one query per request
// (session, user and roles together), an API key two (the key, then the
// same query without the session).
func TestAuthenticateQueries(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		db := &countingDB{DB: open(t)}
		f := newFixture(t, db)
		f.user("alice")
		s := f.login("alice")
		key := f.apiKey(s)
		f.caller(s)
		if _, err := f.acc.Authenticate(context.Background(), key, client); err != nil { // records its first use
			t.Fatal(err)
		}
		for what, tc := range map[string]struct {
			token string
			want  int64
		}{"access token": {s.access, 1}, "api key": {key, 2}} {
			db.n.Store(0)
			if _, err := f.acc.Authenticate(context.Background(), tc.token, client); err != nil {
				t.Fatal(err)
			}
			if got := db.n.Load(); got != tc.want {
				t.Errorf("%s: %d statements, want %d", what, got, tc.want)
			}
		}
	})
}

// BenchmarkAuthenticate is the identity load of every request made with an
// access token, on each engine.
func BenchmarkAuthenticate(b *testing.B) {
	for _, e := range []struct {
		name string
		open func(testing.TB) store.DB
	}{{"sqlite", enginetest.SQLite}, {"postgres", enginetest.Postgres}} {
		b.Run(e.name, func(b *testing.B) {
			f := newFixture(b, e.open(b))
			f.user("alice")
			s := f.login("alice")
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.acc.Authenticate(ctx, s.access, client); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
