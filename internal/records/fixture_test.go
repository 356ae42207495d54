package records_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"testing"

	"github.com/keep-dev/keep/internal/access"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
)

// fakeHasher stands in for package auth: it is fast and deterministic.
type fakeHasher struct{}

func (fakeHasher) Hash(_ context.Context, pw string) (string, error) { return "hash:" + pw, nil }

func (fakeHasher) Validate(pw string) error {
	if len(pw) < 8 {
		return errors.New("must be at least 8 characters")
	}
	return nil
}

var superuser = records.Caller{Superuser: true}

// newService opens the record service on db.
func newService(t testing.TB, db store.DB) *records.Service {
	t.Helper()
	s, err := records.New(context.Background(), db, records.Options{Hasher: fakeHasher{}})
	if err != nil {
		t.Fatalf("records.New: %v", err)
	}
	return s
}

// rule returns an expression rule.
func rule(expr string) access.Rule { return access.Rule{Kind: access.RuleExpr, Expr: expr} }

var public = access.Rule{Kind: access.RulePublic}

// publicRules opens every operation to everyone.
var publicRules = access.Rules{List: public, View: public, Create: public, Update: public, Delete: public}

func ptr[T any](v T) *T { return &v }

// body encodes each value of m as JSON. A json.RawMessage is taken as is.
func body(t testing.TB, m map[string]any) records.Body {
	t.Helper()
	b := make(records.Body, len(m))
	for k, v := range m {
		if raw, ok := v.(json.RawMessage); ok {
			b[k] = raw
			continue
		}
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("encode %s: %v", k, err)
		}
		b[k] = raw
	}
	return b
}

// plain turns a record into plain JSON values (maps, []any, float64, …) so
// that records read from either engine compare equal when they mean the same
// thing: PostgreSQL's JSONB, for one, reformats stored documents.
func plain(t testing.TB, rec records.Record) map[string]any {
	t.Helper()
	raw, err := json.Marshal(rec)
	if err != nil {
		t.Fatalf("encode record: %v", err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("decode record: %v", err)
	}
	return out
}

func mustCollection(t testing.TB, s *records.Service, in records.CollectionInput) *records.Collection {
	t.Helper()
	c, err := s.CreateCollection(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateCollection(%s): %v", in.Name, err)
	}
	return c
}

func mustCreate(t testing.TB, s *records.Service, caller records.Caller, coll string, m map[string]any) records.Record {
	t.Helper()
	rec, err := s.Create(context.Background(), caller, coll, body(t, m))
	if err != nil {
		t.Fatalf("Create(%s, %v): %v", coll, m, err)
	}
	return rec
}

// user is a signed-up user and the Caller that acts as them.
type user struct {
	id, email string
	caller    records.Caller
}

func signup(t testing.TB, s *records.Service, email string) user {
	t.Helper()
	rec, err := s.Signup(context.Background(), body(t, map[string]any{"email": email, "password": "password-" + email}))
	if err != nil {
		t.Fatalf("Signup(%s): %v", email, err)
	}
	return user{id: rec.ID(), email: email, caller: records.Caller{Auth: access.Auth{ID: rec.ID(), Email: email, Roles: []string{}}}}
}

// listAll walks every page of coll as caller and returns the records in
// order, failing on an id seen twice.
func listAll(t testing.TB, s *records.Service, caller records.Caller, coll string, opt records.ListOptions) []records.Record {
	t.Helper()
	var all []records.Record
	seen := map[string]bool{}
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatalf("List(%s): more than 1000 pages", coll)
		}
		page, err := s.List(context.Background(), caller, coll, opt)
		if err != nil {
			t.Fatalf("List(%s, %+v): %v", coll, opt, err)
		}
		for _, r := range page.Items {
			if seen[r.ID()] {
				t.Fatalf("List(%s, sort %q): record %s returned twice", coll, opt.Sort, r.ID())
			}
			seen[r.ID()] = true
		}
		all = append(all, page.Items...)
		if page.NextCursor == nil {
			return all
		}
		opt.Cursor = *page.NextCursor
	}
}

// byID indexes plain records by id.
func byID(t testing.TB, recs []records.Record) map[string]map[string]any {
	t.Helper()
	out := make(map[string]map[string]any, len(recs))
	for _, r := range recs {
		out[r.ID()] = plain(t, r)
	}
	return out
}

// idsOf returns the ids of recs, in order.
func idsOf(recs []records.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID()
	}
	return out
}

// wantValidation fails unless err is a *records.ValidationError whose keys
// include every key in keys.
func wantValidation(t testing.TB, err error, keys ...string) *records.ValidationError {
	t.Helper()
	var verr *records.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("err = %v (%T), want *records.ValidationError with keys %v", err, err, keys)
	}
	for _, k := range keys {
		if _, ok := verr.Fields[k]; !ok {
			t.Fatalf("validation error %v lacks key %q", verr.Fields, k)
		}
	}
	return verr
}

// wantOnlyKeys fails unless verr has exactly keys.
func wantOnlyKeys(t testing.TB, verr *records.ValidationError, keys ...string) {
	t.Helper()
	got := make([]string, 0, len(verr.Fields))
	for k := range verr.Fields {
		got = append(got, k)
	}
	sort.Strings(got)
	want := slices.Clone(keys)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("validation error keys = %v, want %v (%v)", got, want, verr.Fields)
	}
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

func fieldNamed(t testing.TB, c *records.Collection, name string) records.Field {
	t.Helper()
	f := c.Field(name)
	if f == nil {
		t.Fatalf("collection %s has no field %q", c.Name, name)
	}
	return *f
}
