package records_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/keep-dev/keep/internal/access"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// TestCreateCollectionValidates checks that bad definitions are refused with
// a ValidationError keyed by exactly the offending paths, and create nothing.
func TestCreateCollectionValidates(t *testing.T) {
	text := func(name string) records.Field { return records.Field{Name: name, Type: records.TypeText} }
	tests := []struct {
		name     string
		in       records.CollectionInput
		wantKeys []string
	}{
		{"name empty", records.CollectionInput{Name: ""}, []string{"name"}},
		{"name upper case", records.CollectionInput{Name: "Posts"}, []string{"name"}},
		{"name starts with digit", records.CollectionInput{Name: "1posts"}, []string{"name"}},
		{"name starts with underscore", records.CollectionInput{Name: "_keep_collections"}, []string{"name"}},
		{"name with dash", records.CollectionInput{Name: "my-posts"}, []string{"name"}},
		{"name with quote", records.CollectionInput{Name: `a"b`}, []string{"name"}},
		{"name too long for the table name", records.CollectionInput{Name: strings.Repeat("a", 62)}, []string{"name"}},
		{"name reserved users", records.CollectionInput{Name: "users"}, []string{"name"}},
		{"name reserved collections", records.CollectionInput{Name: "collections"}, []string{"name"}},
		{"name reserved auth", records.CollectionInput{Name: "auth"}, []string{"name"}},
		{"name reserved superusers", records.CollectionInput{Name: "superusers"}, []string{"name"}},

		{"field name upper case", records.CollectionInput{Name: "c", Fields: []records.Field{text("Title")}}, []string{"fields[0].name"}},
		{"field name empty", records.CollectionInput{Name: "c", Fields: []records.Field{text("")}}, []string{"fields[0].name"}},
		{"field name too long", records.CollectionInput{Name: "c", Fields: []records.Field{text(strings.Repeat("f", 64))}}, []string{"fields[0].name"}},
		{"field name id", records.CollectionInput{Name: "c", Fields: []records.Field{text("ok"), text("id")}}, []string{"fields[1].name"}},
		{"field name created", records.CollectionInput{Name: "c", Fields: []records.Field{text("created")}}, []string{"fields[0].name"}},
		{"field name updated", records.CollectionInput{Name: "c", Fields: []records.Field{text("updated")}}, []string{"fields[0].name"}},
		{"field name expand", records.CollectionInput{Name: "c", Fields: []records.Field{text("expand")}}, []string{"fields[0].name"}},
		{"field name auth", records.CollectionInput{Name: "c", Fields: []records.Field{text("auth")}}, []string{"fields[0].name"}},
		{"field name CEL word", records.CollectionInput{Name: "c", Fields: []records.Field{text("in"), text("null")}}, []string{"fields[0].name", "fields[1].name"}},
		{"duplicate field", records.CollectionInput{Name: "c", Fields: []records.Field{text("a"), text("b"), text("a")}}, []string{"fields[2].name"}},
		{"too many fields", records.CollectionInput{Name: "c", Fields: manyFields(records.MaxFields + 1)}, []string{"fields"}},
		{"unknown type", records.CollectionInput{Name: "c", Fields: []records.Field{{Name: "a", Type: "file"}}}, []string{"fields[0].type"}},

		{"values on text", records.CollectionInput{Name: "c", Fields: []records.Field{{Name: "a", Type: records.TypeText, Values: []string{"x"}}}}, []string{"fields[0].values"}},
		{"pattern on number", records.CollectionInput{Name: "c", Fields: []records.Field{{Name: "a", Type: records.TypeNumber, Pattern: "x"}}}, []string{"fields[0].pattern"}},
		{"integer on text", records.CollectionInput{Name: "c", Fields: []records.Field{{Name: "a", Type: records.TypeText, Integer: true}}}, []string{"fields[0].integer"}},
		{"min on bool", records.CollectionInput{Name: "c", Fields: []records.Field{{Name: "a", Type: records.TypeBool, Min: ptr(1.0)}}}, []string{"fields[0].min"}},
		{"max_bytes on select", records.CollectionInput{Name: "c", Fields: []records.Field{{Name: "a", Type: records.TypeSelect, Values: []string{"x"}, MaxBytes: 10}}}, []string{"fields[0].max_bytes"}},
		{"collection on text", records.CollectionInput{Name: "c", Fields: []records.Field{{Name: "a", Type: records.TypeText, Collection: "users"}}}, []string{"fields[0].collection"}},
		{"multi on date", records.CollectionInput{Name: "c", Fields: []records.Field{{Name: "a", Type: records.TypeDate, Multi: true}}}, []string{"fields[0].multi"}},
		{"on_delete on email", records.CollectionInput{Name: "c", Fields: []records.Field{{Name: "a", Type: records.TypeEmail, OnDelete: records.OnDeleteCascade}}}, []string{"fields[0].on_delete"}},

		{"text min above max", records.CollectionInput{Name: "c", Fields: []records.Field{{Name: "a", Type: records.TypeText, Min: ptr(5.0), Max: ptr(2.0)}}}, []string{"fields[0].min"}},
		{"text negative max", records.CollectionInput{Name: "c", Fields: []records.Field{{Name: "a", Type: records.TypeText, Max: ptr(-1.0)}}}, []string{"fields[0].max"}},
		{"text bad pattern", records.CollectionInput{Name: "c", Fields: []records.Field{{Name: "a", Type: records.TypeText, Pattern: "(["}}}, []string{"fields[0].pattern"}},
		{"text pattern too long", records.CollectionInput{Name: "c", Fields: []records.Field{{Name: "a", Type: records.TypeText, Pattern: strings.Repeat("a", records.MaxPatternLen+1)}}}, []string{"fields[0].pattern"}},
		{"select without values", records.CollectionInput{Name: "c", Fields: []records.Field{{Name: "a", Type: records.TypeSelect}}}, []string{"fields[0].values"}},
		{"select duplicate value", records.CollectionInput{Name: "c", Fields: []records.Field{{Name: "a", Type: records.TypeSelect, Values: []string{"x", "x"}}}}, []string{"fields[0].values"}},
		{"select empty value", records.CollectionInput{Name: "c", Fields: []records.Field{{Name: "a", Type: records.TypeSelect, Values: []string{""}}}}, []string{"fields[0].values"}},
		{"select max_select above values", records.CollectionInput{Name: "c", Fields: []records.Field{{Name: "a", Type: records.TypeSelect, Values: []string{"x"}, MaxSelect: 2}}}, []string{"fields[0].max_select"}},
		{"select max_select negative", records.CollectionInput{Name: "c", Fields: []records.Field{{Name: "a", Type: records.TypeSelect, Values: []string{"x"}, MaxSelect: -1}}}, []string{"fields[0].max_select"}},
		{"multi select unique", records.CollectionInput{Name: "c", Fields: []records.Field{{Name: "a", Type: records.TypeSelect, Values: []string{"x", "y"}, MaxSelect: 2, Unique: true}}}, []string{"fields[0].unique"}},
		{"bool unique", records.CollectionInput{Name: "c", Fields: []records.Field{{Name: "a", Type: records.TypeBool, Unique: true}}}, []string{"fields[0].unique"}},
		{"json indexed", records.CollectionInput{Name: "c", Fields: []records.Field{{Name: "a", Type: records.TypeJSON, Index: true}}}, []string{"fields[0].unique"}},
		{"json max_bytes too big", records.CollectionInput{Name: "c", Fields: []records.Field{{Name: "a", Type: records.TypeJSON, MaxBytes: records.MaxJSONBytes + 1}}}, []string{"fields[0].max_bytes"}},
		{"relation without collection", records.CollectionInput{Name: "c", Fields: []records.Field{{Name: "a", Type: records.TypeRelation}}}, []string{"fields[0].collection"}},
		{"relation to missing collection", records.CollectionInput{Name: "c", Fields: []records.Field{{Name: "a", Type: records.TypeRelation, Collection: "nope"}}}, []string{"fields[0].collection"}},
		{"relation bad on_delete", records.CollectionInput{Name: "c", Fields: []records.Field{{Name: "a", Type: records.TypeRelation, Collection: "users", OnDelete: "ignore"}}}, []string{"fields[0].on_delete"}},
		{"multi relation unique", records.CollectionInput{Name: "c", Fields: []records.Field{{Name: "a", Type: records.TypeRelation, Collection: "users", Multi: true, Unique: true}}}, []string{"fields[0].unique"}},

		{"rule with unknown field", records.CollectionInput{Name: "c", Rules: access.Rules{List: rule("owner == auth.id")}}, []string{"rules.list"}},
		{"rule with syntax error", records.CollectionInput{Name: "c", Fields: []records.Field{text("owner")}, Rules: access.Rules{View: rule("owner ==")}}, []string{"rules.view"}},
		{"rule not boolean", records.CollectionInput{Name: "c", Fields: []records.Field{text("owner")}, Rules: access.Rules{Create: rule("owner")}}, []string{"rules.create"}},
		{"rules each reported", records.CollectionInput{Name: "c", Rules: access.Rules{Update: rule("x == 1"), Delete: rule("y == 1")}}, []string{"rules.update", "rules.delete"}},
	}
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()
		s := newService(t, open(t))
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.CreateCollection(ctx, tc.in)
				wantOnlyKeys(t, wantValidation(t, err), tc.wantKeys...)
				if tc.in.Name != "users" {
					if _, err := s.Collection(tc.in.Name); err == nil {
						t.Fatalf("refused collection %q exists", tc.in.Name)
					}
				}
			})
		}
	})
}

func manyFields(n int) []records.Field {
	fs := make([]records.Field, n)
	for i := range fs {
		fs[i] = records.Field{Name: fmt.Sprintf("f%03d", i), Type: records.TypeText}
	}
	return fs
}

// TestCollectionLifecycleErrors covers the refusals that are not about the
// shape of one definition.
func TestCollectionLifecycleErrors(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()
		s := newService(t, open(t))
		mustCollection(t, s, records.CollectionInput{Name: "authors", Fields: []records.Field{{Name: "name", Type: records.TypeText}}})
		mustCollection(t, s, records.CollectionInput{Name: "books", Fields: []records.Field{
			{Name: "author", Type: records.TypeRelation, Collection: "authors"},
		}})

		t.Run("longest name", func(t *testing.T) {
			name := strings.Repeat("n", 61)
			mustCollection(t, s, records.CollectionInput{Name: name})
			mustCreate(t, s, superuser, name, map[string]any{})
		})

		t.Run("duplicate collection", func(t *testing.T) {
			_, err := s.CreateCollection(ctx, records.CollectionInput{Name: "authors"})
			wantErr(t, err, records.ErrConflict)
		})

		t.Run("field ids are assigned by the server", func(t *testing.T) {
			c := mustCollection(t, s, records.CollectionInput{Name: "ids", Fields: []records.Field{
				{ID: "fchosen", Name: "a", Type: records.TypeText}, {ID: "fchosen", Name: "b", Type: records.TypeText},
			}})
			if a, b := fieldNamed(t, c, "a").ID, fieldNamed(t, c, "b").ID; a == "fchosen" || a == b || a == "" || b == "" {
				t.Fatalf("field ids = %q, %q", a, b)
			}
		})

		t.Run("rename collection", func(t *testing.T) {
			_, err := s.UpdateCollection(ctx, "authors", records.CollectionPatch{Name: ptr("writers")})
			wantOnlyKeys(t, wantValidation(t, err), "name")
		})

		t.Run("unknown rule in patch", func(t *testing.T) {
			_, err := s.UpdateCollection(ctx, "authors", records.CollectionPatch{Rules: map[string]access.Rule{"read": public}})
			wantOnlyKeys(t, wantValidation(t, err), "rules.read")
		})

		t.Run("rule in patch that does not compile", func(t *testing.T) {
			_, err := s.UpdateCollection(ctx, "authors", records.CollectionPatch{Rules: map[string]access.Rule{"list": rule("nope == 1")}})
			wantOnlyKeys(t, wantValidation(t, err), "rules.list")
		})

		t.Run("rename breaks a rule", func(t *testing.T) {
			if _, err := s.UpdateCollection(ctx, "authors", records.CollectionPatch{Rules: map[string]access.Rule{"view": rule(`name != ""`)}}); err != nil {
				t.Fatalf("UpdateCollection: %v", err)
			}
			fs := slices.Clone(mustGet(t, s, "authors").Fields)
			fs[0].Name = "full_name"
			_, err := s.UpdateCollection(ctx, "authors", records.CollectionPatch{Fields: &fs})
			wantOnlyKeys(t, wantValidation(t, err), "rules.view")
		})

		t.Run("update missing collection", func(t *testing.T) {
			_, err := s.UpdateCollection(ctx, "ghosts", records.CollectionPatch{})
			wantErr(t, err, records.ErrNotFound)
		})

		t.Run("delete users", func(t *testing.T) {
			wantErr(t, s.DeleteCollection(ctx, "users"), records.ErrForbidden)
			if _, err := s.Collection("users"); err != nil {
				t.Fatalf("users after refused delete: %v", err)
			}
		})

		t.Run("delete relation target", func(t *testing.T) {
			wantErr(t, s.DeleteCollection(ctx, "authors"), records.ErrConflict)
			if _, err := s.Collection("authors"); err != nil {
				t.Fatalf("authors after refused delete: %v", err)
			}
		})

		t.Run("delete missing collection", func(t *testing.T) {
			wantErr(t, s.DeleteCollection(ctx, "ghosts"), records.ErrNotFound)
		})

		t.Run("delete referrer, then target", func(t *testing.T) {
			a := mustCreate(t, s, superuser, "authors", map[string]any{"name": "x"})
			mustCreate(t, s, superuser, "books", map[string]any{"author": a.ID()})
			if err := s.DeleteCollection(ctx, "books"); err != nil {
				t.Fatalf("DeleteCollection(books): %v", err)
			}
			if err := s.DeleteCollection(ctx, "authors"); err != nil {
				t.Fatalf("DeleteCollection(authors): %v", err)
			}
			// The name is free again, with a fresh table.
			mustCollection(t, s, records.CollectionInput{Name: "authors", Rules: publicRules})
			page, err := s.List(ctx, superuser, "authors", records.ListOptions{})
			if err != nil || len(page.Items) != 0 {
				t.Fatalf("List of recreated collection = %v, %v; want empty", page, err)
			}
		})

		t.Run("self relation can be deleted", func(t *testing.T) {
			mustCollection(t, s, records.CollectionInput{Name: "nodes"})
			if _, err := s.UpdateCollection(ctx, "nodes", records.CollectionPatch{Fields: &[]records.Field{
				{Name: "parent", Type: records.TypeRelation, Collection: "nodes", OnDelete: records.OnDeleteCascade},
			}}); err != nil {
				t.Fatalf("add self relation: %v", err)
			}
			if err := s.DeleteCollection(ctx, "nodes"); err != nil {
				t.Fatalf("DeleteCollection(nodes): %v", err)
			}
		})
	})
}
