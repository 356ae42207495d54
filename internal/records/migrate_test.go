package records_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// migrationFields are the fields of the collection the migration test
// changes: one of every type that holds data.
func migrationFields() []records.Field {
	return []records.Field{
		{Name: "title", Type: records.TypeText},
		{Name: "views", Type: records.TypeNumber},
		{Name: "done", Type: records.TypeBool},
		{Name: "due", Type: records.TypeDate},
		{Name: "status", Type: records.TypeSelect, Values: []string{"draft", "live", "gone"}},
		{Name: "tags", Type: records.TypeSelect, Values: []string{"a", "b", "c", "d"}, MaxSelect: 3},
		{Name: "data", Type: records.TypeJSON},
		{Name: "owner", Type: records.TypeRelation, Collection: "users"},
		{Name: "score", Type: records.TypeNumber},
	}
}

// migrationRecord is the i-th record of the migration test; every few
// records leave fields out so that NULLs move through migrations too.
func migrationRecord(i int, owners []string) map[string]any {
	m := map[string]any{
		"title":  fmt.Sprintf("title %02d", i), // unique
		"status": []string{"draft", "live", "gone"}[i%3],
		"data":   map[string]any{"i": i, "nested": []any{"x", i%2 == 0}},
		"owner":  owners[i%len(owners)],
		"score":  float64(i) / 4,
	}
	if i%5 != 0 {
		m["views"] = float64(i * 7 % 11)
		m["done"] = i%2 == 0
		m["due"] = fmt.Sprintf("2025-%02d-%02dT%02d:30:15.250+02:00", i%12+1, i%28+1, i%24)
		m["tags"] = [][]string{{"a"}, {"b", "c"}, {}, {"d", "a", "b"}}[i%4]
	}
	return m
}

// TestSchemaMigrationKeepsData changes the schema of a populated collection
// step by step and checks after each step that every record still holds
// what it held, under the new names. The steps build on each other: run the
// whole test (or one engine) rather than a single step.
func TestSchemaMigrationKeepsData(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()
		db := open(t)
		s := newService(t, db)
		alice, bob := signup(t, s, "alice@example.com"), signup(t, s, "bob@example.com")
		mustCollection(t, s, records.CollectionInput{Name: "items", Fields: migrationFields()})

		// want is what every record must read as: plain JSON values by id.
		want := map[string]map[string]any{}
		for i := range 50 {
			rec := mustCreate(t, s, superuser, "items", migrationRecord(i, []string{alice.id, bob.id}))
			want[rec.ID()] = plain(t, rec)
		}
		check := func(t *testing.T, s *records.Service) {
			t.Helper()
			got := byID(t, listAll(t, s, superuser, "items", records.ListOptions{Limit: 7}))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("records after migration (-want +got):\n%s", diff)
			}
		}
		check(t, s)

		// update replaces the field list with edit applied to a copy of the
		// current one, and fails the test on error.
		update := func(t *testing.T, edit func([]records.Field) []records.Field) *records.Collection {
			t.Helper()
			c, err := s.UpdateCollection(ctx, "items", records.CollectionPatch{Fields: ptr(edit(currentFields(t, s)))})
			if err != nil {
				t.Fatalf("UpdateCollection: %v", err)
			}
			return c
		}
		forEach := func(fn func(r map[string]any)) {
			for _, r := range want {
				fn(r)
			}
		}

		t.Run("add field", func(t *testing.T) {
			c := update(t, func(fs []records.Field) []records.Field {
				return append(fs,
					records.Field{Name: "note", Type: records.TypeText},
					// required and unique: existing rows hold NULL, which
					// neither the column nor the unique index refuses.
					records.Field{Name: "code", Type: records.TypeText, Required: true, Unique: true},
					records.Field{Name: "refs", Type: records.TypeRelation, Collection: "users", Multi: true})
			})
			if f := fieldNamed(t, c, "note"); f.ID == "" {
				t.Fatalf("added field has no id")
			}
			forEach(func(r map[string]any) { r["note"], r["code"], r["refs"] = nil, nil, []any{} })
			check(t, s)
		})

		t.Run("rename field", func(t *testing.T) {
			before := fieldNamed(t, mustGet(t, s, "items"), "title")
			c := update(t, func(fs []records.Field) []records.Field {
				// owner is a relation, so it is indexed: the index follows.
				return rename(t, rename(t, fs, "title", "headline"), "owner", "author")
			})
			if got := fieldNamed(t, c, "headline"); got.ID != before.ID {
				t.Fatalf("renamed field id = %s, want %s", got.ID, before.ID)
			}
			if c.Field("title") != nil {
				t.Fatalf("old name still present")
			}
			forEach(func(r map[string]any) {
				r["headline"], r["author"] = r["title"], r["owner"]
				delete(r, "title")
				delete(r, "owner")
			})
			check(t, s)
		})

		t.Run("drop field", func(t *testing.T) {
			update(t, func(fs []records.Field) []records.Field {
				return slices.DeleteFunc(fs, func(f records.Field) bool { return f.Name == "score" })
			})
			forEach(func(r map[string]any) { delete(r, "score") })
			check(t, s)
		})

		t.Run("drop field and reuse its name", func(t *testing.T) {
			c := update(t, func(fs []records.Field) []records.Field {
				fs = slices.DeleteFunc(fs, func(f records.Field) bool { return f.Name == "note" })
				return append(fs, records.Field{Name: "note", Type: records.TypeNumber, Index: true})
			})
			if f := fieldNamed(t, c, "note"); f.Type != records.TypeNumber {
				t.Fatalf("note type = %s, want number", f.Type)
			}
			check(t, s) // the old note was NULL everywhere, and so is the new one
		})

		t.Run("swap field names", func(t *testing.T) {
			// Different types on purpose: each column keeps its type under
			// the other's name.
			update(t, func(fs []records.Field) []records.Field {
				fs = rename(t, fs, "views", "tmp")
				fs = rename(t, fs, "done", "views")
				return rename(t, fs, "tmp", "done")
			})
			forEach(func(r map[string]any) { r["views"], r["done"] = r["done"], r["views"] })
			check(t, s)
		})

		t.Run("toggle unique and index", func(t *testing.T) {
			for _, step := range []struct {
				field         string
				unique, index bool
			}{
				{"headline", true, false},
				{"headline", false, true},
				{"headline", false, false},
				{"author", false, true}, // relations are always indexed: a no-op
				{"due", false, true},
				{"due", true, false}, // NULLs and distinct dates
				{"due", false, false},
			} {
				c := update(t, func(fs []records.Field) []records.Field {
					for i := range fs {
						if fs[i].Name == step.field {
							fs[i].Unique, fs[i].Index = step.unique, step.index
						}
					}
					return fs
				})
				if f := fieldNamed(t, c, step.field); f.Unique != step.unique || f.Index != step.index {
					t.Fatalf("%s: unique, index = %v, %v; want %v, %v", step.field, f.Unique, f.Index, step.unique, step.index)
				}
				check(t, s)
			}
			// The unique index is really there while unique is set.
			update(t, func(fs []records.Field) []records.Field { return setUnique(fs, "headline", true) })
			taken := ""
			for _, r := range want {
				taken = r["headline"].(string)
				break
			}
			_, err := s.Create(ctx, superuser, "items", body(t, map[string]any{"headline": taken, "code": "x"}))
			wantErr(t, err, records.ErrConflict)
			update(t, func(fs []records.Field) []records.Field { return setUnique(fs, "headline", false) })
			check(t, s)
		})

		t.Run("unique over duplicate data is a conflict", func(t *testing.T) {
			before := mustGet(t, s, "items")
			_, err := s.UpdateCollection(ctx, "items", records.CollectionPatch{
				Fields: ptr(setUnique(currentFields(t, s), "status", true)),
			})
			wantErr(t, err, records.ErrConflict)
			after := mustGet(t, s, "items")
			if after.Version != before.Version || fieldNamed(t, after, "status").Unique {
				t.Fatalf("failed migration changed the collection: version %d → %d", before.Version, after.Version)
			}
			// No index was left behind: duplicates still go in.
			rec := mustCreate(t, s, superuser, "items", map[string]any{"status": "draft", "code": "dup-check"})
			if err := s.Delete(ctx, superuser, "items", rec.ID()); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			check(t, s)
		})

		t.Run("type change is a validation error", func(t *testing.T) {
			for _, tc := range []struct {
				name string
				edit func(f *records.Field)
			}{
				{"text to number", func(f *records.Field) {
					if f.Name == "headline" {
						f.Type = records.TypeNumber
					}
				}},
				{"single select to multi", func(f *records.Field) {
					if f.Name == "status" {
						f.MaxSelect = 2
					}
				}},
				{"multi select to single", func(f *records.Field) {
					if f.Name == "tags" {
						f.MaxSelect = 1
					}
				}},
				{"single relation to multi", func(f *records.Field) {
					if f.Name == "author" {
						f.Multi = true
					}
				}},
				{"relation target", func(f *records.Field) {
					if f.Name == "author" {
						f.Collection = "items"
					}
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					before := mustGet(t, s, "items")
					fs := currentFields(t, s)
					for i := range fs {
						tc.edit(&fs[i])
					}
					_, err := s.UpdateCollection(ctx, "items", records.CollectionPatch{Fields: &fs})
					wantValidation(t, err)
					if after := mustGet(t, s, "items"); after.Version != before.Version {
						t.Fatalf("rejected change bumped the version %d → %d", before.Version, after.Version)
					}
					check(t, s)
				})
			}
		})

		t.Run("unknown field id is a validation error", func(t *testing.T) {
			fs := append(currentFields(t, s), records.Field{ID: "f000000000000", Name: "ghost", Type: records.TypeText})
			_, err := s.UpdateCollection(ctx, "items", records.CollectionPatch{Fields: &fs})
			wantValidation(t, err, fmt.Sprintf("fields[%d].id", len(fs)-1))
		})

		t.Run("records written after migration", func(t *testing.T) {
			rec := mustCreate(t, s, superuser, "items", map[string]any{
				"headline": "new", "views": true, "done": 3, "note": 1.5, "code": "c1", "refs": []string{alice.id},
			})
			want[rec.ID()] = plain(t, rec)
			check(t, s)
		})

		t.Run("renamed relation still guards its target", func(t *testing.T) {
			wantErr(t, s.Delete(ctx, superuser, "users", alice.id), records.ErrConflict)
			check(t, s)
		})

		t.Run("reload", func(t *testing.T) {
			reloaded := newService(t, db)
			got, err := reloaded.Collection("items")
			if err != nil {
				t.Fatalf("Collection after reload: %v", err)
			}
			cur := mustGet(t, s, "items")
			if diff := cmp.Diff(fieldSummary(cur), fieldSummary(got)); diff != "" {
				t.Fatalf("reloaded fields (-want +got):\n%s", diff)
			}
			if got.Version != cur.Version {
				t.Fatalf("reloaded version = %d, want %d", got.Version, cur.Version)
			}
			check(t, reloaded)
			// The reloaded definition is live: validation and indexes work.
			_, err = reloaded.Create(ctx, superuser, "items", body(t, map[string]any{"headline": "x"}))
			wantValidation(t, err, "code")
		})
	})
}

func mustGet(t testing.TB, s *records.Service, name string) *records.Collection {
	t.Helper()
	c, err := s.Collection(name)
	if err != nil {
		t.Fatalf("Collection(%s): %v", name, err)
	}
	return c
}

// currentFields is a copy of the collection's fields, safe to edit.
func currentFields(t testing.TB, s *records.Service) []records.Field {
	t.Helper()
	return slices.Clone(mustGet(t, s, "items").Fields)
}

func rename(t testing.TB, fs []records.Field, from, to string) []records.Field {
	t.Helper()
	for i := range fs {
		if fs[i].Name == from {
			fs[i].Name = to
			return fs
		}
	}
	t.Fatalf("no field %q to rename", from)
	return nil
}

func setUnique(fs []records.Field, name string, unique bool) []records.Field {
	for i := range fs {
		if fs[i].Name == name {
			fs[i].Unique = unique
		}
	}
	return fs
}

// fieldDef is what a field definition must keep across a reload.
type fieldDef struct {
	ID, Name              string
	Type                  records.FieldType
	Required, Unique, Idx bool
	Values                []string
	MaxSelect             int
	Collection            string
	Multi                 bool
	OnDelete              records.OnDelete
}

// fieldSummary lists the definitions of c's fields.
func fieldSummary(c *records.Collection) []fieldDef {
	out := make([]fieldDef, len(c.Fields))
	for i, f := range c.Fields {
		out[i] = fieldDef{f.ID, f.Name, f.Type, f.Required, f.Unique, f.Index, f.Values, f.MaxSelect, f.Collection, f.Multi, f.OnDelete}
	}
	return out
}
