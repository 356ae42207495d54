package records_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/keep-dev/keep/internal/access"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// TestRelationsNeedAViewableTarget: a caller cannot link to, and so cannot
// probe or pin, a record they may not view.
func TestRelationsNeedAViewableTarget(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		s := newService(t, open(t))
		alice, bob := signup(t, s, "alice@example.com"), signup(t, s, "bob@example.com")
		mustCollection(t, s, records.CollectionInput{Name: "notes", Fields: []records.Field{
			{Name: "owner", Type: records.TypeRelation, Collection: "users"},
			{Name: "mentions", Type: records.TypeRelation, Collection: "users", Multi: true},
		}, Rules: access.Rules{Create: rule("owner == auth.id"), View: rule("owner == auth.id"), Update: rule("owner == auth.id")}})
		ctx := context.Background()
		// Users may view only themselves (the default users view rule).
		_, err := s.Create(ctx, bob.caller, "notes", body(t, map[string]any{"owner": bob.id, "mentions": []string{alice.id}}))
		wantValidation(t, err, "mentions")
		n := mustCreate(t, s, bob.caller, "notes", map[string]any{"owner": bob.id, "mentions": []string{bob.id}})
		_, err = s.Update(ctx, bob.caller, "notes", n.ID(), body(t, map[string]any{"mentions": []string{alice.id}}))
		wantValidation(t, err, "mentions")
		// A superuser may link anything.
		mustCreate(t, s, records.Caller{Superuser: true}, "notes", map[string]any{"owner": bob.id, "mentions": []string{alice.id}})
	})
}

func TestExpandIsBounded(t *testing.T) {
	s := newService(t, enginetest.SQLite(t))
	su := records.Caller{Superuser: true}
	mustCollection(t, s, records.CollectionInput{Name: "bags", Fields: []records.Field{
		{Name: "items", Type: records.TypeRelation, Collection: "users", Multi: true},
	}})
	var users []string
	for i := range 50 {
		users = append(users, signup(t, s, fmt.Sprintf("u%d@example.com", i)).id)
	}
	for range 50 { // 50 records × 50 references = 2,500 > MaxExpandRefs
		mustCreate(t, s, su, "bags", map[string]any{"items": users})
	}
	ctx := context.Background()
	expand := records.ViewOptions{Expand: []string{"items"}}
	if _, err := s.List(ctx, su, "bags", records.ListOptions{Limit: records.MaxExpandRefs / 50, ViewOptions: expand}); err != nil {
		t.Fatalf("a page within the bound: %v", err)
	}
	_, err := s.List(ctx, su, "bags", records.ListOptions{Limit: 50, ViewOptions: expand})
	wantErr(t, err, records.ErrBadRequest)
	_, err = s.List(ctx, su, "bags", records.ListOptions{ViewOptions: records.ViewOptions{Expand: []string{"items", "items"}}})
	wantErr(t, err, records.ErrBadRequest)
}

func TestIndexedTextIsBounded(t *testing.T) {
	s := newService(t, enginetest.SQLite(t))
	c := mustCollection(t, s, records.CollectionInput{Name: "slugs", Fields: []records.Field{{Name: "slug", Type: records.TypeText, Unique: true}}})
	if f := fieldNamed(t, c, "slug"); f.Max == nil || *f.Max != records.MaxIndexedText {
		t.Fatalf("indexed text without max: got %v", f.Max)
	}
	_, err := s.CreateCollection(context.Background(), records.CollectionInput{Name: "slugs2", Fields: []records.Field{
		{Name: "slug", Type: records.TypeText, Index: true, Max: ptr(float64(records.MaxIndexedText + 1))},
	}})
	wantValidation(t, err, "fields[0].max")
}

func TestValidationProblemsAreCapped(t *testing.T) {
	s := newService(t, enginetest.SQLite(t))
	mustCollection(t, s, records.CollectionInput{Name: "notes", Fields: []records.Field{{Name: "title", Type: records.TypeText}}})
	b := records.Body{}
	for i := range 500 {
		b[fmt.Sprintf("nope%d", i)] = json.RawMessage(`1`)
	}
	_, err := s.Create(context.Background(), records.Caller{Superuser: true}, "notes", b)
	verr := wantValidation(t, err)
	if len(verr.Fields) > records.MaxProblems {
		t.Fatalf("%d problems listed", len(verr.Fields))
	}
	if !strings.Contains(verr.Error(), "unknown field") {
		t.Fatalf("message: %v", verr)
	}
}
