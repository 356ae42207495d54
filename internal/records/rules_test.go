package records_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keep-dev/keep/internal/access"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// ownedRules lets everyone read public records and owners read and write
// their own.
var ownedRules = access.Rules{
	List:   rule("public || owner == auth.id"),
	View:   rule("public || owner == auth.id"),
	Create: rule("owner == auth.id"),
	Update: rule("owner == auth.id"),
	Delete: rule("owner == auth.id"),
}

// rulesFixture is a notes collection under ownedRules with one public and one
// private note for each of alice and bob.
type rulesFixture struct {
	s          *records.Service
	alice, bob user
	notes      map[string]records.Record // apub, apriv, bpub, bpriv
}

func newRulesFixture(t *testing.T, db store.DB) *rulesFixture {
	t.Helper()
	s := newService(t, db)
	f := &rulesFixture{s: s, alice: signup(t, s, "alice@example.com"), bob: signup(t, s, "bob@example.com"), notes: map[string]records.Record{}}
	mustCollection(t, s, records.CollectionInput{Name: "notes", Rules: ownedRules, Fields: []records.Field{
		{Name: "title", Type: records.TypeText},
		{Name: "public", Type: records.TypeBool},
		{Name: "owner", Type: records.TypeRelation, Collection: "users"},
	}})
	for _, n := range []struct {
		key    string
		u      user
		public bool
	}{{"apub", f.alice, true}, {"apriv", f.alice, false}, {"bpub", f.bob, true}, {"bpriv", f.bob, false}} {
		// Each owner creates their own notes, through the create rule.
		f.notes[n.key] = mustCreate(t, s, n.u.caller, "notes", map[string]any{"title": n.key, "public": n.public, "owner": n.u.id})
	}
	// A note whose public flag is NULL is private, not an error.
	f.notes["anull"] = mustCreate(t, s, f.alice.caller, "notes", map[string]any{"title": "anull", "owner": f.alice.id})
	return f
}

// titles lists the titles of recs, sorted.
func titles(recs []records.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i], _ = r["title"].(string)
	}
	slices.Sort(out)
	return out
}

func TestRulesList(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		f := newRulesFixture(t, open(t))
		tests := []struct {
			name   string
			caller records.Caller
			filter string
			want   []string
		}{
			{"alice sees public and her own", f.alice.caller, "", []string{"anull", "apriv", "apub", "bpub"}},
			{"bob sees public and his own", f.bob.caller, "", []string{"apub", "bpriv", "bpub"}},
			{"anonymous sees public", records.Caller{}, "", []string{"apub", "bpub"}},
			{"superuser sees everything", superuser, "", []string{"anull", "apriv", "apub", "bpriv", "bpub"}},
			{"filter narrows", f.alice.caller, "owner == auth.id", []string{"anull", "apriv", "apub"}},
			{"filter cannot widen", f.bob.caller, fmt.Sprintf("owner == %q", f.alice.id), []string{"apub"}},
			{"filter with or cannot widen", f.bob.caller, fmt.Sprintf("owner == %q || !public", f.alice.id), []string{"apub", "bpriv"}},
			{"filter true cannot widen", f.bob.caller, "true", []string{"apub", "bpriv", "bpub"}},
			{"filter on a stranger's id", records.Caller{}, fmt.Sprintf("owner == %q", f.bob.id), []string{"bpub"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got := listAll(t, f.s, tc.caller, "notes", records.ListOptions{Filter: tc.filter, Limit: 2})
				if diff := cmp.Diff(tc.want, titles(got)); diff != "" {
					t.Fatalf("listed titles (-want +got):\n%s", diff)
				}
			})
		}
	})
}

func TestRulesRecordActions(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()
		f := newRulesFixture(t, open(t))
		anon := records.Caller{}
		id := func(key string) string { return f.notes[key].ID() }
		edit := map[string]any{"title": "edited"}
		tests := []struct {
			name    string
			caller  records.Caller
			action  string // get, update, delete
			note    string
			body    map[string]any // for update
			wantErr error          // nil: allowed
		}{
			{"alice gets her private note", f.alice.caller, "get", "apriv", nil, nil},
			{"bob gets alice's public note", f.bob.caller, "get", "apub", nil, nil},
			{"bob gets alice's private note", f.bob.caller, "get", "apriv", nil, records.ErrNotFound},
			{"anonymous gets a public note", anon, "get", "bpub", nil, nil},
			{"anonymous gets a private note", anon, "get", "bpriv", nil, records.ErrNotFound},
			{"bob updates alice's private note", f.bob.caller, "update", "apriv", edit, records.ErrNotFound},
			{"bob updates alice's public note", f.bob.caller, "update", "apub", edit, records.ErrForbidden},
			{"anonymous updates a public note", anon, "update", "apub", edit, records.ErrUnauthorized},
			{"alice gives her note away", f.alice.caller, "update", "apriv", map[string]any{"owner": f.bob.id}, records.ErrForbidden},
			{"bob takes alice's public note", f.bob.caller, "update", "apub", map[string]any{"owner": f.bob.id}, records.ErrForbidden},
			{"bob deletes alice's private note", f.bob.caller, "delete", "apriv", nil, records.ErrNotFound},
			{"bob deletes alice's public note", f.bob.caller, "delete", "apub", nil, records.ErrForbidden},
			{"anonymous deletes a public note", anon, "delete", "bpub", nil, records.ErrUnauthorized},
			{"alice updates her note", f.alice.caller, "update", "apriv", edit, nil},
			{"superuser updates any note", superuser, "update", "bpriv", map[string]any{"owner": f.alice.id}, nil},
			{"alice deletes her note", f.alice.caller, "delete", "apub", nil, nil},
			{"superuser deletes any note", superuser, "delete", "bpub", nil, nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				before, err := f.s.Get(ctx, superuser, "notes", id(tc.note), records.ViewOptions{})
				if err != nil {
					t.Fatalf("Get as superuser: %v", err)
				}
				switch tc.action {
				case "get":
					_, err = f.s.Get(ctx, tc.caller, "notes", id(tc.note), records.ViewOptions{})
				case "update":
					_, err = f.s.Update(ctx, tc.caller, "notes", id(tc.note), body(t, tc.body))
				case "delete":
					err = f.s.Delete(ctx, tc.caller, "notes", id(tc.note))
				}
				if tc.wantErr == nil {
					if err != nil {
						t.Fatalf("%s: %v", tc.action, err)
					}
					return
				}
				wantErr(t, err, tc.wantErr)
				after, err := f.s.Get(ctx, superuser, "notes", id(tc.note), records.ViewOptions{})
				if err != nil {
					t.Fatalf("Get after refused %s: %v", tc.action, err)
				}
				if diff := cmp.Diff(plain(t, before), plain(t, after)); diff != "" {
					t.Fatalf("refused %s changed the record (-before +after):\n%s", tc.action, diff)
				}
			})
		}
	})
}

func TestRulesCreate(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()
		f := newRulesFixture(t, open(t))
		tests := []struct {
			name    string
			caller  records.Caller
			owner   string
			wantErr error
		}{
			{"bob creates his own", f.bob.caller, f.bob.id, nil},
			{"bob creates for alice", f.bob.caller, f.alice.id, records.ErrForbidden},
			{"bob creates without owner", f.bob.caller, "", records.ErrForbidden},
			{"anonymous creates for alice", records.Caller{}, f.alice.id, records.ErrUnauthorized},
			{"anonymous creates without owner", records.Caller{}, "", records.ErrUnauthorized},
			{"superuser creates for anyone", superuser, f.alice.id, nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				before := listAll(t, f.s, superuser, "notes", records.ListOptions{})
				_, err := f.s.Create(ctx, tc.caller, "notes", body(t, map[string]any{"title": tc.name, "owner": tc.owner}))
				after := listAll(t, f.s, superuser, "notes", records.ListOptions{})
				if tc.wantErr == nil {
					if err != nil {
						t.Fatalf("Create: %v", err)
					}
					if len(after) != len(before)+1 {
						t.Fatalf("records: %d → %d, want one more", len(before), len(after))
					}
					return
				}
				wantErr(t, err, tc.wantErr)
				if len(after) != len(before) {
					t.Fatalf("refused create left a record: %d → %d", len(before), len(after))
				}
			})
		}
	})
}

// TestRulesLocked checks the default (zero) rules: superusers only, with 401
// for anonymous callers and 403 for users on every action.
func TestRulesLocked(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()
		s := newService(t, open(t))
		u := signup(t, s, "user@example.com")
		mustCollection(t, s, records.CollectionInput{Name: "vault", Fields: []records.Field{{Name: "secret", Type: records.TypeText}}})
		rec := mustCreate(t, s, superuser, "vault", map[string]any{"secret": "s"})
		actions := []struct {
			name string
			do   func(c records.Caller) error
		}{
			{"list", func(c records.Caller) error {
				_, err := s.List(ctx, c, "vault", records.ListOptions{})
				return err
			}},
			{"get", func(c records.Caller) error {
				_, err := s.Get(ctx, c, "vault", rec.ID(), records.ViewOptions{})
				return err
			}},
			{"create", func(c records.Caller) error {
				_, err := s.Create(ctx, c, "vault", body(t, map[string]any{"secret": "t"}))
				return err
			}},
			{"update", func(c records.Caller) error {
				_, err := s.Update(ctx, c, "vault", rec.ID(), body(t, map[string]any{"secret": "u"}))
				return err
			}},
			{"delete", func(c records.Caller) error { return s.Delete(ctx, c, "vault", rec.ID()) }},
		}
		for _, a := range actions {
			t.Run(a.name+" anonymous", func(t *testing.T) { wantErr(t, a.do(records.Caller{}), records.ErrUnauthorized) })
			t.Run(a.name+" user", func(t *testing.T) { wantErr(t, a.do(u.caller), records.ErrForbidden) })
		}
		// Superusers pass every locked rule; delete goes last.
		for _, a := range actions {
			t.Run(a.name+" superuser", func(t *testing.T) {
				if err := a.do(superuser); err != nil {
					t.Fatalf("%s as superuser: %v", a.name, err)
				}
			})
		}
	})
}

// TestRulesUsers checks the built-in users collection: a user sees only
// themselves, and the password never appears in a record.
func TestRulesUsers(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()
		s := newService(t, open(t))
		alice, bob := signup(t, s, "Alice@Example.com"), signup(t, s, "bob@example.com")
		self, err := s.Get(ctx, alice.caller, "users", alice.id, records.ViewOptions{})
		if err != nil {
			t.Fatalf("alice gets herself: %v", err)
		}
		if self["email"] != "alice@example.com" || self["verified"] != false {
			t.Fatalf("alice = %v", self)
		}
		for _, k := range []string{"password", "password_hash"} {
			if _, ok := self[k]; ok {
				t.Fatalf("user record has %q", k)
			}
		}
		_, err = s.Get(ctx, alice.caller, "users", bob.id, records.ViewOptions{})
		wantErr(t, err, records.ErrNotFound)
		_, err = s.List(ctx, alice.caller, "users", records.ListOptions{})
		wantErr(t, err, records.ErrForbidden)
		_, err = s.Update(ctx, alice.caller, "users", alice.id, body(t, map[string]any{"verified": true}))
		wantOnlyKeys(t, wantValidation(t, err), "verified")
		_, err = s.Signup(ctx, body(t, map[string]any{"email": "alice@example.com", "password": "another-password"}))
		wantErr(t, err, records.ErrConflict)
		_, err = s.Signup(ctx, body(t, map[string]any{"email": "carol@example.com", "password": "short"}))
		wantOnlyKeys(t, wantValidation(t, err), "password")
	})
}
