package records_test

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keep-dev/keep/internal/access"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// fieldsFixture is an "accounts" collection with one field of each kind of
// field-level access, owned by alice and bob, and a "links" collection that
// points at it (for expand).
//
//   - secret: hidden (the list rule uses it: "banned" records are unlisted)
//   - note: read_rule owner == auth.id
//   - level: readonly
//   - status: write_rule status != "published" || "editor" in auth.roles
type fieldsFixture struct {
	s                  *records.Service
	alice, bob, editor user
	recs               map[string]records.Record // alice, bob, banned (alice's)
	links              map[string]records.Record // to alice's and bob's
}

func newFieldsFixture(t *testing.T, db store.DB) *fieldsFixture {
	t.Helper()
	s := newService(t, db)
	f := &fieldsFixture{s: s, alice: signup(t, s, "alice@example.com"), bob: signup(t, s, "bob@example.com"),
		editor: signup(t, s, "editor@example.com"), recs: map[string]records.Record{}, links: map[string]records.Record{}}
	f.editor.caller.Auth.Roles = []string{"editor"}
	mustCollection(t, s, records.CollectionInput{Name: "accounts", Rules: access.Rules{
		List:   rule(`secret != "banned"`),
		View:   public,
		Create: rule("owner == auth.id"),
		Update: rule("owner == auth.id"),
		Delete: rule("owner == auth.id"),
	}, Fields: []records.Field{
		{Name: "title", Type: records.TypeText},
		{Name: "owner", Type: records.TypeRelation, Collection: "users"},
		{Name: "secret", Type: records.TypeText, Hidden: true},
		{Name: "note", Type: records.TypeText, ReadRule: "owner == auth.id"},
		{Name: "level", Type: records.TypeNumber, Readonly: true},
		{Name: "status", Type: records.TypeSelect, Values: []string{"draft", "published"}, WriteRule: `status != "published" || "editor" in auth.roles`},
	}})
	mustCollection(t, s, records.CollectionInput{Name: "links", Rules: publicRules, Fields: []records.Field{
		{Name: "to", Type: records.TypeRelation, Collection: "accounts"},
		{Name: "many", Type: records.TypeRelation, Collection: "accounts", Multi: true},
		{Name: "by", Type: records.TypeRelation, Collection: "users"},
		{Name: "private", Type: records.TypeRelation, Collection: "accounts", Multi: true, ReadRule: "by == auth.id"},
	}})
	for _, r := range []struct {
		key    string
		u      user
		secret string
	}{{"alice", f.alice, "alice-secret"}, {"bob", f.bob, "bob-secret"}, {"banned", f.alice, "banned"}} {
		f.recs[r.key] = mustCreate(t, s, superuser, "accounts", map[string]any{"title": r.key, "owner": r.u.id,
			"secret": r.secret, "note": r.key + "-note", "level": 1, "status": "draft"})
	}
	for _, key := range []string{"alice", "bob"} {
		f.links[key] = mustCreate(t, s, superuser, "links", map[string]any{"to": f.recs[key].ID(), "many": []string{f.recs[key].ID()},
			"by": f.recs[key]["owner"], "private": []string{f.recs["alice"].ID(), f.recs["bob"].ID()}})
	}
	return f
}

// keys lists the field names of a record, sorted, without id, created and
// updated.
func keys(t testing.TB, rec records.Record) []string {
	t.Helper()
	var out []string
	for k := range plain(t, rec) {
		if k != "id" && k != "created" && k != "updated" {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

var (
	allAccountFields = []string{"level", "note", "owner", "secret", "status", "title"}
	ownerFields      = []string{"level", "note", "owner", "status", "title"}
	otherFields      = []string{"level", "owner", "status", "title"}
)

func TestFieldAccessReads(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()
		f := newFieldsFixture(t, open(t))
		anon := records.Caller{}
		callers := []struct {
			name   string
			caller records.Caller
			want   map[string][]string // record key → visible fields
		}{
			{"anonymous", anon, map[string][]string{"alice": otherFields, "bob": otherFields}},
			{"alice", f.alice.caller, map[string][]string{"alice": ownerFields, "bob": otherFields}},
			{"bob", f.bob.caller, map[string][]string{"alice": otherFields, "bob": ownerFields}},
			{"superuser", superuser, map[string][]string{"alice": allAccountFields, "bob": allAccountFields}},
		}
		for _, c := range callers {
			t.Run(c.name+"/get", func(t *testing.T) {
				for key, want := range c.want {
					rec, err := f.s.Get(ctx, c.caller, "accounts", f.recs[key].ID(), records.ViewOptions{})
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(want, keys(t, rec)); diff != "" {
						t.Fatalf("fields of %s (-want +got):\n%s", key, diff)
					}
				}
			})
			t.Run(c.name+"/list", func(t *testing.T) {
				for _, rec := range listAll(t, f.s, c.caller, "accounts", records.ListOptions{Limit: 1}) {
					key := rec["title"].(string)
					want, ok := c.want[key]
					if !ok {
						if key == "banned" && c.caller.Superuser {
							continue // the list rule on the hidden field lets superusers through
						}
						t.Fatalf("listed %s", key)
					}
					if diff := cmp.Diff(want, keys(t, rec)); diff != "" {
						t.Fatalf("fields of %s (-want +got):\n%s", key, diff)
					}
				}
			})
			t.Run(c.name+"/fields", func(t *testing.T) {
				rec, err := f.s.Get(ctx, c.caller, "accounts", f.recs["alice"].ID(), records.ViewOptions{Fields: []string{"secret", "note", "title"}})
				if err != nil {
					t.Fatal(err)
				}
				want := []string{"title"}
				switch {
				case c.caller.Superuser:
					want = []string{"note", "secret", "title"}
				case c.caller.Auth.ID == f.alice.id:
					want = []string{"note", "title"}
				}
				if diff := cmp.Diff(want, keys(t, rec)); diff != "" {
					t.Fatalf("fields= (-want +got):\n%s", diff)
				}
			})
			t.Run(c.name+"/expand", func(t *testing.T) {
				page, err := f.s.List(ctx, c.caller, "links", records.ListOptions{ViewOptions: records.ViewOptions{Expand: []string{"to", "many", "private"}}})
				if err != nil {
					t.Fatal(err)
				}
				if len(page.Items) != 2 {
					t.Fatalf("links: %d", len(page.Items))
				}
				for _, link := range page.Items {
					ex := link["expand"].(map[string]any)
					to := ex["to"].(records.Record)
					many := ex["many"].([]records.Record)
					want := c.want[to["title"].(string)]
					for _, rec := range []records.Record{to, many[0]} {
						if diff := cmp.Diff(want, keys(t, rec)); diff != "" {
							t.Fatalf("expanded fields (-want +got):\n%s", diff)
						}
					}
					// A read-ruled relation expands only where it can be read.
					_, shown := link["private"]
					private, expanded := ex["private"]
					if mine := link["by"] == c.caller.Auth.ID || c.caller.Superuser; shown != mine || expanded != mine {
						t.Fatalf("link by %v: private shown %v, expanded %v (%v)", link["by"], shown, expanded, private)
					}
				}
			})
		}
		t.Run("rules may use hidden fields", func(t *testing.T) {
			got := listAll(t, f.s, f.alice.caller, "accounts", records.ListOptions{})
			if diff := cmp.Diff([]string{"alice", "bob"}, titles(got)); diff != "" {
				t.Fatalf("listed (-want +got):\n%s", diff)
			}
		})
	})
}

func TestFieldAccessSideChannels(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()
		f := newFieldsFixture(t, open(t))
		for _, c := range []struct {
			name   string
			caller records.Caller
		}{{"anonymous", records.Caller{}}, {"plain user", f.bob.caller}, {"owner", f.alice.caller}} {
			for _, tc := range []struct {
				filter, sort, want string
			}{
				{filter: `secret == "alice-secret"`, want: `field "secret" cannot be filtered`},
				{filter: `secret.startsWith("a")`, want: `field "secret" cannot be filtered`},
				{filter: `title == "alice" || secret != null`, want: `field "secret" cannot be filtered`},
				{filter: `note == "alice-note"`, want: `field "note" cannot be filtered`},
				{filter: "size(note) > 3", want: `field "note" cannot be filtered`},
				{sort: "secret", want: `field "secret" cannot be sorted`},
				{sort: "-note", want: `field "note" cannot be sorted`},
				{sort: "title,-secret", want: `field "secret" cannot be sorted`},
			} {
				t.Run(c.name+"/"+tc.filter+tc.sort, func(t *testing.T) {
					_, err := f.s.List(ctx, c.caller, "accounts", records.ListOptions{Filter: tc.filter, Sort: tc.sort})
					wantErr(t, err, records.ErrBadRequest)
					if !strings.Contains(err.Error(), tc.want) {
						t.Fatalf("err = %v, want it to say %s", err, tc.want)
					}
				})
			}
		}
		t.Run("member and string uses are not field references", func(t *testing.T) {
			page, err := f.s.List(ctx, f.alice.caller, "accounts", records.ListOptions{Filter: `title != "secret" && auth.secret == null`})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"alice", "bob"}, titles(page.Items)); diff != "" {
				t.Fatalf("listed (-want +got):\n%s", diff)
			}
		})
		t.Run("superuser filters and sorts by every field", func(t *testing.T) {
			page, err := f.s.List(ctx, superuser, "accounts", records.ListOptions{Filter: `secret.startsWith("b") && note != null`, Sort: "-secret"})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"banned", "bob"}, titles(page.Items)); diff != "" {
				t.Fatalf("listed (-want +got):\n%s", diff)
			}
		})
		t.Run("cursors hold only readable values", func(t *testing.T) {
			opt := records.ListOptions{Sort: "title", Limit: 1}
			for {
				page, err := f.s.List(ctx, f.alice.caller, "accounts", opt)
				if err != nil {
					t.Fatal(err)
				}
				if page.NextCursor == nil {
					break
				}
				raw, err := base64.RawURLEncoding.DecodeString(*page.NextCursor)
				if err != nil {
					t.Fatal(err)
				}
				for _, leak := range []string{"secret", "note"} {
					if strings.Contains(string(raw), leak) {
						t.Fatalf("cursor %s holds %q", raw, leak)
					}
				}
				opt.Cursor = *page.NextCursor
			}
		})
	})
}

// count is the number of records of coll.
func count(t *testing.T, s *records.Service, coll string) int {
	t.Helper()
	return len(listAll(t, s, superuser, coll, records.ListOptions{Limit: records.MaxLimit}))
}

func TestFieldAccessWrites(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()
		f := newFieldsFixture(t, open(t))
		own := func(u user, m map[string]any) map[string]any {
			out := map[string]any{"owner": u.id, "title": "new"}
			for k, v := range m {
				out[k] = v
			}
			return out
		}
		tests := []struct {
			name    string
			caller  records.Caller
			create  map[string]any // a create body, or
			update  map[string]any // an update of alice's record
			wantMsg string         // "": allowed; else a 403 saying this
		}{
			{"create with a readonly field", f.alice.caller, own(f.alice, map[string]any{"level": 5}), nil, `field "level" is read-only`},
			{"update of a readonly field", f.alice.caller, nil, map[string]any{"level": 5}, `field "level" is read-only`},
			{"readonly with a null value", f.alice.caller, nil, map[string]any{"level": nil}, `field "level" is read-only`},
			{"superuser sets a readonly field", superuser, own(f.alice, map[string]any{"level": 5}), nil, ""},
			{"create with a write rule that fails", f.alice.caller, own(f.alice, map[string]any{"status": "published"}), nil, `field "status" cannot be set`},
			{"update with a write rule that fails", f.alice.caller, nil, map[string]any{"status": "published"}, `field "status" cannot be set`},
			{"create with a write rule that holds", f.alice.caller, own(f.alice, map[string]any{"status": "draft"}), nil, ""},
			{"update with a write rule that holds", f.alice.caller, nil, map[string]any{"status": "draft", "title": "t2"}, ""},
			{"superuser passes the write rule", superuser, nil, map[string]any{"status": "published"}, ""},
			{"create a hidden field", f.alice.caller, own(f.alice, map[string]any{"secret": "mine"}), nil, ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				id := f.recs["alice"].ID()
				before, err := f.s.Get(ctx, superuser, "accounts", id, records.ViewOptions{})
				if err != nil {
					t.Fatal(err)
				}
				n := count(t, f.s, "accounts")
				var rec records.Record
				if tc.create != nil {
					rec, err = f.s.Create(ctx, tc.caller, "accounts", body(t, tc.create))
				} else {
					rec, err = f.s.Update(ctx, tc.caller, "accounts", id, body(t, tc.update))
				}
				if tc.wantMsg == "" {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					if _, ok := rec["secret"]; ok != tc.caller.Superuser {
						t.Fatalf("returned record %v: secret shown = %v", rec, ok)
					}
					return
				}
				wantErr(t, err, records.ErrForbidden)
				var pe *records.PublicError
				if !errors.As(err, &pe) || !strings.Contains(pe.Msg, tc.wantMsg) {
					t.Fatalf("err = %v, want a PublicError saying %s", err, tc.wantMsg)
				}
				after, err := f.s.Get(ctx, superuser, "accounts", id, records.ViewOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(plain(t, before), plain(t, after)); diff != "" {
					t.Fatalf("refused update changed the record (-before +after):\n%s", diff)
				}
				if got := count(t, f.s, "accounts"); got != n {
					t.Fatalf("refused create wrote: %d records, had %d", got, n)
				}
			})
		}
		t.Run("editor passes the write rule", func(t *testing.T) {
			if _, err := f.s.Create(ctx, f.editor.caller, "accounts", body(t, own(f.editor, map[string]any{"status": "published"}))); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("the create rule is checked first", func(t *testing.T) {
			_, err := f.s.Create(ctx, f.bob.caller, "accounts", body(t, own(f.alice, map[string]any{"status": "published"})))
			wantErr(t, err, records.ErrForbidden)
			if strings.Contains(err.Error(), "status") {
				t.Fatalf("a create the rule refuses mentions the field: %v", err)
			}
		})
		t.Run("a user returned by create and update sees only readable fields", func(t *testing.T) {
			rec, err := f.s.Update(ctx, f.bob.caller, "accounts", f.recs["bob"].ID(), body(t, map[string]any{"title": "bob2"}))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(ownerFields, keys(t, rec)); diff != "" {
				t.Fatalf("fields (-want +got):\n%s", diff)
			}
		})
	})
}

func TestFieldAccessUsers(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()
		s := newService(t, open(t))
		users, err := s.Collection("users")
		if err != nil {
			t.Fatal(err)
		}
		fields := append(append([]records.Field(nil), users.Fields...),
			records.Field{Name: "team", Type: records.TypeText, Readonly: true},
			records.Field{Name: "risk", Type: records.TypeNumber, Hidden: true},
			records.Field{Name: "phone", Type: records.TypeText, ReadRule: "id == auth.id"})
		if _, err := s.UpdateCollection(ctx, "users", records.CollectionPatch{Fields: &fields,
			Rules: map[string]access.Rule{"view": public, "list": public}}); err != nil {
			t.Fatal(err)
		}
		t.Run("signup cannot set a readonly field", func(t *testing.T) {
			_, err := s.Signup(ctx, body(t, map[string]any{"email": "t@example.com", "password": "password-t", "team": "admins"}))
			wantErr(t, err, records.ErrForbidden)
		})
		alice := signup(t, s, "alice@example.com")
		bob := signup(t, s, "bob@example.com")
		if _, err := s.Update(ctx, superuser, "users", alice.id, body(t, map[string]any{"team": "red", "risk": 9, "phone": "123"})); err != nil {
			t.Fatal(err)
		}
		t.Run("system fields stay; hidden and read-ruled go", func(t *testing.T) {
			own, err := s.Profile(ctx, alice.caller)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"disabled", "email", "phone", "team", "verified"}, keys(t, own)); diff != "" {
				t.Fatalf("profile (-want +got):\n%s", diff)
			}
			other, err := s.Get(ctx, bob.caller, "users", alice.id, records.ViewOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"disabled", "email", "team", "verified"}, keys(t, other)); diff != "" {
				t.Fatalf("bob's view (-want +got):\n%s", diff)
			}
			full, err := s.User(ctx, alice.id)
			if err != nil {
				t.Fatal(err)
			}
			if full["risk"] != 9.0 || full["phone"] != "123" {
				t.Fatalf("User (identity loading) lost fields: %v", full)
			}
		})
		t.Run("a user cannot change their readonly team", func(t *testing.T) {
			_, err := s.Update(ctx, alice.caller, "users", alice.id, body(t, map[string]any{"team": "blue"}))
			wantErr(t, err, records.ErrForbidden)
		})
		t.Run("signup answers without hidden fields", func(t *testing.T) {
			rec, err := s.Signup(ctx, body(t, map[string]any{"email": "c@example.com", "password": "password-c", "risk": 1, "phone": "9"}))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"disabled", "email", "team", "verified"}, keys(t, rec)); diff != "" {
				t.Fatalf("signup (-want +got):\n%s", diff)
			}
		})
	})
}

func TestFieldAccessValidation(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()
		db := open(t)
		s := newService(t, db)
		tests := []struct {
			name  string
			field records.Field
			key   string // "": accepted
		}{
			{"read rule that does not compile", records.Field{Name: "a", Type: records.TypeText, ReadRule: "a =="}, "fields[1].read_rule"},
			{"read rule on an unknown field", records.Field{Name: "a", Type: records.TypeText, ReadRule: "nope == auth.id"}, "fields[1].read_rule"},
			{"write rule that is not a condition", records.Field{Name: "a", Type: records.TypeText, WriteRule: "a"}, "fields[1].write_rule"},
			{"blank rule", records.Field{Name: "a", Type: records.TypeText, WriteRule: "  "}, "fields[1].write_rule"},
			{"hidden with a read rule", records.Field{Name: "a", Type: records.TypeText, Hidden: true, ReadRule: "true"}, "fields[1].read_rule"},
			{"readonly with a write rule", records.Field{Name: "a", Type: records.TypeText, Readonly: true, WriteRule: "true"}, "fields[1].write_rule"},
			{"read rule on a hidden field", records.Field{Name: "a", Type: records.TypeText, ReadRule: `h == "x" && a != null`}, ""},
			{"hidden and readonly", records.Field{Name: "a", Type: records.TypeText, Hidden: true, Readonly: true}, ""},
		}
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				name := "v" + string(rune('a'+i))
				in := records.CollectionInput{Name: name, Fields: []records.Field{{Name: "h", Type: records.TypeText, Hidden: true}, tc.field}}
				_, err := s.CreateCollection(ctx, in)
				if tc.key == "" {
					if err != nil {
						t.Fatal(err)
					}
					return
				}
				wantOnlyKeys(t, wantValidation(t, err, tc.key), tc.key)
				// The same on update of an existing collection.
				mustCollection(t, s, records.CollectionInput{Name: name, Fields: []records.Field{{Name: "h", Type: records.TypeText}}})
				fields := []records.Field{{Name: "h", Type: records.TypeText}, tc.field}
				_, err = s.UpdateCollection(ctx, name, records.CollectionPatch{Fields: &fields})
				wantOnlyKeys(t, wantValidation(t, err, tc.key), tc.key)
			})
		}
		t.Run("renaming a field a read rule uses", func(t *testing.T) {
			c := mustCollection(t, s, records.CollectionInput{Name: "ren", Fields: []records.Field{
				{Name: "owner", Type: records.TypeText}, {Name: "a", Type: records.TypeText, ReadRule: "owner == auth.id"}}})
			fields := append([]records.Field(nil), c.Fields...)
			fields[0].Name = "holder"
			_, err := s.UpdateCollection(ctx, "ren", records.CollectionPatch{Fields: &fields})
			wantValidation(t, err, "fields[1].read_rule")
		})
		t.Run("options survive a reload", func(t *testing.T) {
			mustCollection(t, s, records.CollectionInput{Name: "keepme", Rules: publicRules, Fields: []records.Field{
				{Name: "owner", Type: records.TypeText}, {Name: "a", Type: records.TypeText, ReadRule: "owner == auth.id"},
				{Name: "b", Type: records.TypeText, Hidden: true, Readonly: true}, {Name: "c", Type: records.TypeText, WriteRule: `c != "x"`}}})
			s2, err := records.New(ctx, db, records.Options{Hasher: fakeHasher{}})
			if err != nil {
				t.Fatal(err)
			}
			c, err := s2.Collection("keepme")
			if err != nil {
				t.Fatal(err)
			}
			if a, b, cc := fieldNamed(t, c, "a"), fieldNamed(t, c, "b"), fieldNamed(t, c, "c"); a.ReadRule != "owner == auth.id" || !b.Hidden || !b.Readonly || cc.WriteRule != `c != "x"` {
				t.Fatalf("reloaded options: %+v %+v %+v", a, b, cc)
			}
			u := records.Caller{Auth: access.Auth{ID: "u"}}
			_, err = s2.Create(ctx, u, "keepme", body(t, map[string]any{"c": "x"}))
			wantErr(t, err, records.ErrForbidden)
			_, err = s2.Create(ctx, u, "keepme", body(t, map[string]any{"b": "x"}))
			wantErr(t, err, records.ErrForbidden)
			rec, err := s2.Create(ctx, superuser, "keepme", body(t, map[string]any{"owner": "u", "a": "mine", "b": "hid", "c": "x"}))
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				caller records.Caller
				want   []string
			}{{u, []string{"a", "c", "owner"}}, {records.Caller{}, []string{"c", "owner"}}, {superuser, []string{"a", "b", "c", "owner"}}} {
				got, err := s2.Get(ctx, tc.caller, "keepme", rec.ID(), records.ViewOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tc.want, keys(t, got)); diff != "" {
					t.Fatalf("fields after reload (-want +got):\n%s", diff)
				}
			}
		})
	})
}
