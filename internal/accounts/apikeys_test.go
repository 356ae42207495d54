package accounts_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keep-dev/keep/internal/access"
	"github.com/keep-dev/keep/internal/accounts"
	"github.com/keep-dev/keep/internal/auth"
	"github.com/keep-dev/keep/internal/logtest"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// akFixture is an accounts service on one engine with users alice (roles
// editor, viewer), bob (no roles) and admin (superuser, editor).
type akFixture struct {
	t     testing.TB
	db    store.DB
	svc   *accounts.Service
	clock *fakeClock
	logs  *logtest.Buffer
	keys  []string // every key made, for the storage and log scans
	ids   map[string]string
}

func newAKFixture(t testing.TB, db store.DB) *akFixture {
	t.Helper()
	ctx := context.Background()
	logs := &logtest.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// Tiny Argon2 parameters: these tests are about keys, not passwords.
	hasher := auth.NewHasher(auth.Params{Memory: 8, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 16}, 0)
	rec, err := records.New(ctx, db, records.Options{Hasher: accounts.Policy{Hasher: hasher, MinLength: 8}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	f := &akFixture{t: t, db: db, clock: clock, logs: logs, ids: map[string]string{},
		svc: accounts.New(accounts.Deps{DB: db, Records: rec, Hasher: hasher, Logger: log, Now: clock.Now})}
	for who, roles := range map[string][]string{
		"alice": {"editor", "viewer"},
		"bob":   nil,
		"admin": {accounts.SuperuserRole, "editor"},
	} {
		u, err := rec.Signup(ctx, records.Body{
			"email":    json.RawMessage(`"` + who + `@example.com"`),
			"password": json.RawMessage(`"password of ` + who + `"`),
		})
		if err != nil {
			t.Fatal(err)
		}
		f.ids[who] = u.ID()
		for _, r := range roles {
			f.grant(who, r)
		}
	}
	return f
}

func (f *akFixture) grant(who, role string) {
	f.t.Helper()
	f.exec(`INSERT INTO _keep_user_roles (user_id, role, created) VALUES (?, ?, ?)`,
		f.ids[who], role, records.TimeArg(f.db.Dialect(), f.clock.Now()))
}

func (f *akFixture) exec(query string, args ...any) {
	f.t.Helper()
	err := f.db.Tx(context.Background(), func(q store.Querier) error {
		_, err := q.Exec(context.Background(), query, args...)
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

// caller is who as signed in with an access token: what the API hands the
// service.
func (f *akFixture) caller(who string) records.Caller {
	c := records.Caller{Auth: access.Auth{ID: f.ids[who]}, Session: "session-of-" + who}
	if who == "admin" {
		c.Superuser = true
		c.Auth.Roles = []string{"editor", accounts.SuperuserRole}
	}
	return c
}

func (f *akFixture) create(c records.Caller, in accounts.APIKeyInput) accounts.APIKeyCreated {
	f.t.Helper()
	if in.ExpiresAt.IsZero() {
		in.ExpiresAt = f.clock.Now().Add(24 * time.Hour)
	}
	if in.Name == "" {
		in.Name = "ci deploy"
	}
	k, err := f.svc.CreateAPIKey(context.Background(), c, in)
	if err != nil {
		f.t.Fatalf("CreateAPIKey: %v", err)
	}
	f.keys = append(f.keys, k.Key)
	return k
}

func (f *akFixture) auth(key string) (records.Caller, error) {
	return f.svc.Authenticate(context.Background(), key, accounts.ClientInfo{IP: "192.0.2.1", UserAgent: "test"})
}

func (f *akFixture) mustAuth(key string) records.Caller {
	f.t.Helper()
	c, err := f.auth(key)
	if err != nil {
		f.t.Fatalf("Authenticate: %v", err)
	}
	return c
}

func (f *akFixture) refused(key string) {
	f.t.Helper()
	if c, err := f.auth(key); !errors.Is(err, accounts.ErrUnauthenticated) {
		f.t.Fatalf("Authenticate = %+v, %v; want ErrUnauthenticated", c, err)
	}
}

func validationFields(t *testing.T, err error) map[string]string {
	t.Helper()
	var ve *records.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T), want *records.ValidationError", err, err)
	}
	return ve.Fields
}

func TestAPIKeys(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		f := newAKFixture(t, open(t))
		ctx := context.Background()

		t.Run("works until revoked", func(t *testing.T) {
			k := f.create(f.caller("alice"), accounts.APIKeyInput{Name: "deploy"})
			if !strings.HasPrefix(k.Key, accounts.APIKeyPrefix) || len(k.Key) != len("keep_")+43 || len(k.ID) != 36 {
				t.Fatalf("created %q / %q", k.ID, k.Key)
			}
			c := f.mustAuth(k.Key)
			want := records.Caller{
				Auth:   access.Auth{ID: f.ids["alice"], Email: "alice@example.com", Roles: []string{"editor", "viewer"}},
				APIKey: k.ID,
			}
			if diff := cmp.Diff(want, c, cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Auth.Fields" }, cmp.Ignore())); diff != "" {
				t.Fatalf("caller (-want +got):\n%s", diff)
			}
			if err := f.svc.RevokeAPIKey(ctx, f.caller("alice"), k.ID); err != nil {
				t.Fatal(err)
			}
			f.refused(k.Key)
			if err := f.svc.RevokeAPIKey(ctx, f.caller("alice"), k.ID); !errors.Is(err, records.ErrNotFound) {
				t.Fatalf("second revoke: %v", err)
			}
		})

		t.Run("works until expired", func(t *testing.T) {
			k := f.create(f.caller("bob"), accounts.APIKeyInput{ExpiresAt: f.clock.Now().Add(time.Hour)})
			f.clock.Advance(59 * time.Minute)
			f.mustAuth(k.Key)
			f.clock.Advance(time.Minute)
			f.refused(k.Key)
			for _, l := range f.list(t, "bob") {
				if l.ID == k.ID {
					t.Fatal("expired key is listed")
				}
			}
		})

		t.Run("malformed and unknown keys", func(t *testing.T) {
			real := f.create(f.caller("bob"), accounts.APIKeyInput{})
			for _, key := range []string{
				"keep_", "keep_x", real.Key + "A", real.Key[:len(real.Key)-1],
				real.Key[:len(real.Key)-1] + "B", // a valid shape, another key
				"keep_" + strings.Repeat("!", 43), "keep_" + strings.Repeat("A", 42) + "\x00",
				"keep_" + strings.Repeat("A", 10000),
			} {
				f.refused(key)
			}
		})

		t.Run("role narrowing", func(t *testing.T) {
			for _, tc := range []struct {
				name      string
				who       string
				roles     []string
				wantRoles []string
				wantSuper bool
			}{
				{"not narrowed", "admin", nil, []string{"editor", "superuser"}, true},
				{"superuser dropped", "admin", []string{"editor"}, []string{"editor"}, false},
				{"superuser kept", "admin", []string{"superuser"}, []string{"superuser"}, true},
				{"subset", "alice", []string{"viewer", "viewer"}, []string{"viewer"}, false},
				{"no roles", "alice", []string{}, []string{}, false},
			} {
				t.Run(tc.name, func(t *testing.T) {
					k := f.create(f.caller(tc.who), accounts.APIKeyInput{Roles: tc.roles})
					c := f.mustAuth(k.Key)
					if diff := cmp.Diff(tc.wantRoles, c.Auth.Roles); diff != "" || c.Superuser != tc.wantSuper {
						t.Fatalf("roles (-want +got):\n%s superuser=%v", diff, c.Superuser)
					}
				})
			}
			t.Run("a role the user loses is not given back", func(t *testing.T) {
				f.grant("bob", "temp")
				k := f.create(f.caller("bob"), accounts.APIKeyInput{Roles: []string{"temp"}})
				if got := f.mustAuth(k.Key).Auth.Roles; !cmp.Equal(got, []string{"temp"}) {
					t.Fatalf("roles %v", got)
				}
				f.exec(`DELETE FROM _keep_user_roles WHERE user_id = ? AND role = ?`, f.ids["bob"], "temp")
				if got := f.mustAuth(k.Key).Auth.Roles; len(got) != 0 {
					t.Fatalf("roles after loss %v", got)
				}
			})
		})

		t.Run("roles the user lacks are 422", func(t *testing.T) {
			_, err := f.svc.CreateAPIKey(ctx, f.caller("alice"), accounts.APIKeyInput{
				Name: "x", ExpiresAt: f.clock.Now().Add(time.Hour), Roles: []string{"editor", "superuser"}})
			if fields := validationFields(t, err); fields["roles"] == "" {
				t.Fatalf("fields %v", fields)
			}
			// Checked against the user the key is for, not the superuser making it.
			_, err = f.svc.CreateAPIKey(ctx, f.caller("admin"), accounts.APIKeyInput{
				Name: "x", ExpiresAt: f.clock.Now().Add(time.Hour), Roles: []string{"superuser"}, UserID: f.ids["bob"]})
			if fields := validationFields(t, err); fields["roles"] == "" {
				t.Fatalf("fields %v", fields)
			}
		})

		t.Run("a key cannot create keys", func(t *testing.T) {
			k := f.create(f.caller("admin"), accounts.APIKeyInput{})
			c := f.mustAuth(k.Key)
			_, err := f.svc.CreateAPIKey(ctx, c, accounts.APIKeyInput{Name: "child", ExpiresAt: f.clock.Now().Add(time.Hour)})
			var pe *records.PublicError
			if !errors.As(err, &pe) || !errors.Is(err, records.ErrForbidden) {
				t.Fatalf("create with a key: %v", err)
			}
		})

		t.Run("superuser for another user", func(t *testing.T) {
			k := f.create(f.caller("admin"), accounts.APIKeyInput{UserID: f.ids["alice"], Roles: []string{"viewer"}})
			c := f.mustAuth(k.Key)
			if c.Auth.ID != f.ids["alice"] || c.Superuser || !cmp.Equal(c.Auth.Roles, []string{"viewer"}) {
				t.Fatalf("caller %+v", c)
			}
			var found bool
			for _, l := range f.list(t, "alice") {
				found = found || l.ID == k.ID
			}
			if !found {
				t.Fatal("alice does not see the key made for her")
			}
			// Only a superuser may name another user.
			_, err := f.svc.CreateAPIKey(ctx, f.caller("alice"), accounts.APIKeyInput{
				Name: "x", ExpiresAt: f.clock.Now().Add(time.Hour), UserID: f.ids["bob"]})
			if !errors.Is(err, records.ErrForbidden) {
				t.Fatalf("alice for bob: %v", err)
			}
			// Naming oneself is fine.
			f.create(f.caller("alice"), accounts.APIKeyInput{UserID: f.ids["alice"]})
		})

		t.Run("validation", func(t *testing.T) {
			now := f.clock.Now()
			for _, tc := range []struct {
				name string
				in   accounts.APIKeyInput
				want []string
			}{
				{"everything missing", accounts.APIKeyInput{}, []string{"expires_at", "name"}},
				{"blank name", accounts.APIKeyInput{Name: "  ", ExpiresAt: now.Add(time.Hour)}, []string{"name"}},
				{"long name", accounts.APIKeyInput{Name: strings.Repeat("é", 101), ExpiresAt: now.Add(time.Hour)}, []string{"name"}},
				{"control in name", accounts.APIKeyInput{Name: "a\x00b", ExpiresAt: now.Add(time.Hour)}, []string{"name"}},
				{"past", accounts.APIKeyInput{Name: "n", ExpiresAt: now.Add(-time.Second)}, []string{"expires_at"}},
				{"now", accounts.APIKeyInput{Name: "n", ExpiresAt: now}, []string{"expires_at"}},
				{"too far", accounts.APIKeyInput{Name: "n", ExpiresAt: now.Add(accounts.MaxAPIKeyLifetime + time.Second)}, []string{"expires_at"}},
				{"unknown user", accounts.APIKeyInput{Name: "n", ExpiresAt: now.Add(time.Hour), UserID: "01a23b95-0962-7000-8ba1-ee11e296836e"}, []string{"user_id"}},
				{"NUL user", accounts.APIKeyInput{Name: "n", ExpiresAt: now.Add(time.Hour), UserID: "a\x00"}, []string{"user_id"}},
				{"all of them", accounts.APIKeyInput{ExpiresAt: now.Add(-time.Hour), UserID: "nobody", Roles: []string{"x"}}, []string{"expires_at", "name", "user_id"}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					_, err := f.svc.CreateAPIKey(ctx, f.caller("admin"), tc.in)
					got := slices.Sorted(maps.Keys(validationFields(t, err)))
					if diff := cmp.Diff(tc.want, got); diff != "" {
						t.Fatalf("fields (-want +got):\n%s", diff)
					}
				})
			}
			// The longest name and the furthest expiry are accepted.
			f.create(f.caller("bob"), accounts.APIKeyInput{Name: strings.Repeat("é", 100), ExpiresAt: now.Add(accounts.MaxAPIKeyLifetime)})
		})

		t.Run("list and revoke are scoped to the owner", func(t *testing.T) {
			a := f.create(f.caller("alice"), accounts.APIKeyInput{Name: "alice's", Roles: []string{"editor"}})
			b := f.create(f.caller("bob"), accounts.APIKeyInput{Name: "bob's"})
			for _, l := range f.list(t, "alice") {
				if l.UserID != f.ids["alice"] {
					t.Fatalf("alice sees %+v", l)
				}
				if l.ID == a.ID && (l.Name != "alice's" || !cmp.Equal(l.Roles, []string{"editor"}) || !l.ExpiresAt.Equal(f.clock.Now().Add(24*time.Hour)) || !l.Created.Equal(f.clock.Now())) {
					t.Fatalf("alice's key listed as %+v", l)
				}
			}
			var sawA, sawB bool
			for _, l := range f.list(t, "admin") {
				sawA, sawB = sawA || l.ID == a.ID, sawB || l.ID == b.ID
			}
			if !sawA || !sawB {
				t.Fatal("the superuser does not see every key")
			}
			if err := f.svc.RevokeAPIKey(ctx, f.caller("alice"), b.ID); !errors.Is(err, records.ErrNotFound) {
				t.Fatalf("alice revokes bob's key: %v", err)
			}
			f.mustAuth(b.Key)
			for _, id := range []string{"", "nope", "a\x00", strings.Repeat("x", 1000)} {
				if err := f.svc.RevokeAPIKey(ctx, f.caller("admin"), id); !errors.Is(err, records.ErrNotFound) {
					t.Fatalf("revoke %q: %v", id, err)
				}
			}
			if err := f.svc.RevokeAPIKey(ctx, f.caller("admin"), b.ID); err != nil {
				t.Fatalf("superuser revokes bob's key: %v", err)
			}
			f.refused(b.Key)
			// A key may revoke itself.
			c := f.mustAuth(a.Key)
			if err := f.svc.RevokeAPIKey(ctx, c, a.ID); err != nil {
				t.Fatal(err)
			}
			f.refused(a.Key)
			if _, err := f.svc.APIKeys(ctx, records.Caller{}); !errors.Is(err, records.ErrUnauthorized) {
				t.Fatalf("anonymous list: %v", err)
			}
		})

		t.Run("last used is recorded at most once a minute", func(t *testing.T) {
			k := f.create(f.caller("bob"), accounts.APIKeyInput{})
			lastUsed := func() *time.Time {
				for _, l := range f.list(t, "bob") {
					if l.ID == k.ID {
						return l.LastUsed
					}
				}
				t.Fatal("key not listed")
				return nil
			}
			if lu := lastUsed(); lu != nil {
				t.Fatalf("unused key has last_used %v", lu)
			}
			first := f.clock.Now()
			f.mustAuth(k.Key)
			f.clock.Advance(30 * time.Second)
			f.mustAuth(k.Key)
			if lu := lastUsed(); lu == nil || !lu.Equal(first) {
				t.Fatalf("last_used %v, want %v", lu, first)
			}
			f.clock.Advance(31 * time.Second)
			f.mustAuth(k.Key)
			if lu := lastUsed(); lu == nil || !lu.Equal(f.clock.Now()) {
				t.Fatalf("last_used %v, want %v", lu, f.clock.Now())
			}
		})

		t.Run("disabled user", func(t *testing.T) {
			k := f.create(f.caller("bob"), accounts.APIKeyInput{})
			f.mustAuth(k.Key)
			var on any = true
			if f.db.Dialect() == store.SQLite {
				on = int64(1)
			}
			f.exec(`UPDATE c_users SET disabled = ? WHERE id = ?`, on, f.ids["bob"])
			f.refused(k.Key)
			_, err := f.svc.CreateAPIKey(ctx, f.caller("admin"), accounts.APIKeyInput{Name: "x", ExpiresAt: f.clock.Now().Add(time.Hour), UserID: f.ids["bob"]})
			if fields := validationFields(t, err); fields["user_id"] == "" {
				t.Fatalf("fields %v", fields)
			}
		})

		t.Run("live keys per user are bounded", func(t *testing.T) {
			for i := 0; ; i++ {
				if i > accounts.MaxAPIKeysPerUser {
					t.Fatal("no limit reached")
				}
				k, err := f.svc.CreateAPIKey(ctx, f.caller("alice"), accounts.APIKeyInput{Name: "many", ExpiresAt: f.clock.Now().Add(time.Hour)})
				if err != nil {
					if !errors.Is(err, records.ErrConflict) {
						t.Fatalf("over the limit: %v", err)
					}
					break
				}
				f.keys = append(f.keys, k.Key)
			}
			if n := len(f.list(t, "alice")); n != accounts.MaxAPIKeysPerUser {
				t.Fatalf("alice has %d live keys", n)
			}
			// Expired keys do not count.
			f.clock.Advance(time.Hour)
			f.create(f.caller("alice"), accounts.APIKeyInput{})
		})

		t.Run("plaintext never stored", func(t *testing.T) {
			if len(f.keys) < 10 {
				t.Fatalf("only %d keys made", len(f.keys))
			}
			rows, err := f.db.Query(ctx, `SELECT * FROM _keep_api_keys`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			cols, err := rows.Columns()
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for rows.Next() {
				n++
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				for i, v := range vals {
					s := fmt.Sprint(v)
					if b, ok := v.([]byte); ok {
						s = string(b)
					}
					for _, key := range f.keys {
						if strings.Contains(s, key[len(accounts.APIKeyPrefix):]) {
							t.Fatalf("column %s holds a key", cols[i])
						}
					}
				}
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if n != len(f.keys) {
				t.Fatalf("%d rows for %d keys", n, len(f.keys))
			}
		})

		t.Run("plaintext never logged", func(t *testing.T) {
			logs := f.logs.String()
			if !strings.Contains(logs, "api key created") {
				t.Fatal("no key log lines captured")
			}
			for _, key := range f.keys {
				if strings.Contains(logs, key[len(accounts.APIKeyPrefix):]) {
					t.Fatal("the log holds a key")
				}
			}
			listed, err := json.Marshal(f.list(t, "admin"))
			if err != nil {
				t.Fatal(err)
			}
			for _, key := range f.keys {
				if bytes.Contains(listed, []byte(key[len(accounts.APIKeyPrefix):])) {
					t.Fatal("the list holds a key")
				}
			}
		})
	})
}

func (f *akFixture) list(t *testing.T, who string) []accounts.APIKeyInfo {
	t.Helper()
	keys, err := f.svc.APIKeys(context.Background(), f.caller(who))
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// FuzzAuthenticateAPIKey feeds arbitrary keep_ credentials to Authenticate:
// each must be refused with ErrUnauthenticated, never panic or fail
// otherwise, and the real key must keep working.
func FuzzAuthenticateAPIKey(f *testing.F) {
	fx := newAKFixture(f, enginetest.SQLite(f))
	real := fx.create(fx.caller("alice"), accounts.APIKeyInput{})
	f.Add("keep_")
	f.Add("keep_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("keep_" + strings.Repeat("_", 43))
	f.Add("keep_\x00\xff")
	f.Fuzz(func(t *testing.T, key string) {
		if !strings.HasPrefix(key, accounts.APIKeyPrefix) {
			key = accounts.APIKeyPrefix + key
		}
		c, err := fx.svc.Authenticate(context.Background(), key, accounts.ClientInfo{})
		if key == real.Key {
			if err != nil || c.APIKey != real.ID {
				t.Fatalf("real key: %+v, %v", c, err)
			}
			return
		}
		if !errors.Is(err, accounts.ErrUnauthenticated) {
			t.Fatalf("Authenticate(%q) = %+v, %v", key, c, err)
		}
	})
}
