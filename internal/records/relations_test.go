package records_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keep-dev/keep/internal/access"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// TestRelationOnDelete deletes author 0 of three and checks what happens to
// the books that point at it.
func TestRelationOnDelete(t *testing.T) {
	const gone = -1 // in want: the book was deleted
	tests := []struct {
		name     string
		multi    bool
		onDelete records.OnDelete
		books    [][]int // author indexes each book points at
		wantErr  error
		want     [][]int // after the delete; nil with wantErr: unchanged
	}{
		{"restrict single", false, records.OnDeleteRestrict, [][]int{{0}, {1}}, records.ErrConflict, nil},
		{"restrict multi", true, records.OnDeleteRestrict, [][]int{{1, 0}, {2}}, records.ErrConflict, nil},
		{"restrict is the default", false, "", [][]int{{0}}, records.ErrConflict, nil},
		{"restrict without references", false, records.OnDeleteRestrict, [][]int{{1}, {}}, nil, [][]int{{1}, {}}},
		{"cascade single", false, records.OnDeleteCascade, [][]int{{0}, {1}, {0}, {}}, nil, [][]int{{gone}, {1}, {gone}, {}}},
		{"cascade multi", true, records.OnDeleteCascade, [][]int{{0, 1}, {1, 2}, {2, 0}, {}}, nil, [][]int{{gone}, {1, 2}, {gone}, {}}},
		{"set_null single", false, records.OnDeleteSetNull, [][]int{{0}, {1}, {}}, nil, [][]int{{}, {1}, {}}},
		{"set_null multi", true, records.OnDeleteSetNull, [][]int{{2, 0, 1}, {0}, {1}, {}}, nil, [][]int{{2, 1}, {}, {1}, {}}},
	}
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				s := newService(t, open(t))
				mustCollection(t, s, records.CollectionInput{Name: "authors", Fields: []records.Field{{Name: "name", Type: records.TypeText}}})
				mustCollection(t, s, records.CollectionInput{Name: "books", Fields: []records.Field{
					{Name: "ref", Type: records.TypeRelation, Collection: "authors", Multi: tc.multi, OnDelete: tc.onDelete},
				}})
				var authors []string
				for _, n := range []string{"a0", "a1", "a2"} {
					authors = append(authors, mustCreate(t, s, superuser, "authors", map[string]any{"name": n}).ID())
				}
				value := func(refs []int) any {
					list := []string{}
					for _, i := range refs {
						list = append(list, authors[i])
					}
					if tc.multi {
						return list
					}
					if len(list) == 0 {
						return nil
					}
					return list[0]
				}
				var books []records.Record
				for _, refs := range tc.books {
					books = append(books, mustCreate(t, s, superuser, "books", map[string]any{"ref": value(refs)}))
				}

				err := s.Delete(ctx, superuser, "authors", authors[0])
				want := tc.want
				if tc.wantErr != nil {
					wantErr(t, err, tc.wantErr)
					want = tc.books
				} else if err != nil {
					t.Fatalf("Delete: %v", err)
				}

				_, err = s.Get(ctx, superuser, "authors", authors[0], records.ViewOptions{})
				if tc.wantErr != nil && err != nil {
					t.Fatalf("author after refused delete: %v", err)
				}
				if tc.wantErr == nil && !isNotFound(err) {
					t.Fatalf("author after delete: err = %v, want ErrNotFound", err)
				}
				for i, b := range books {
					got, err := s.Get(ctx, superuser, "books", b.ID(), records.ViewOptions{})
					if slices.Equal(want[i], []int{gone}) {
						if !isNotFound(err) {
							t.Errorf("book %d: err = %v, want it deleted", i, err)
						}
						continue
					}
					if err != nil {
						t.Errorf("book %d: %v", i, err)
						continue
					}
					if diff := cmp.Diff(plainValue(t, value(want[i])), plain(t, got)["ref"]); diff != "" {
						t.Errorf("book %d ref (-want +got):\n%s", i, diff)
					}
				}
			})
		}
	})
}

func isNotFound(err error) bool { return err != nil && errors.Is(err, records.ErrNotFound) }

// TestRelationOnDeleteChains checks deletes that reach through more than one
// collection: a cascade goes all the way, and a restrict anywhere undoes it.
func TestRelationOnDeleteChains(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		for _, tc := range []struct {
			name       string
			reviews    records.OnDelete // reviews.book → books
			notes      records.OnDelete // notes.author → authors
			wantErr    error
			wantExists bool // whether the book and review exist afterwards
		}{
			{"cascade through two levels", records.OnDeleteCascade, records.OnDeleteCascade, nil, false},
			{"restrict at the second level", records.OnDeleteRestrict, records.OnDeleteCascade, records.ErrConflict, true},
			{"restrict in another collection", records.OnDeleteCascade, records.OnDeleteRestrict, records.ErrConflict, true},
			{"set_null at the second level", records.OnDeleteSetNull, records.OnDeleteSetNull, nil, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				s := newService(t, open(t))
				mustCollection(t, s, records.CollectionInput{Name: "authors"})
				mustCollection(t, s, records.CollectionInput{Name: "books", Fields: []records.Field{
					{Name: "author", Type: records.TypeRelation, Collection: "authors", OnDelete: records.OnDeleteCascade},
				}})
				mustCollection(t, s, records.CollectionInput{Name: "reviews", Fields: []records.Field{
					{Name: "book", Type: records.TypeRelation, Collection: "books", OnDelete: tc.reviews},
				}})
				mustCollection(t, s, records.CollectionInput{Name: "notes", Fields: []records.Field{
					{Name: "author", Type: records.TypeRelation, Collection: "authors", OnDelete: tc.notes},
				}})
				author := mustCreate(t, s, superuser, "authors", map[string]any{})
				book := mustCreate(t, s, superuser, "books", map[string]any{"author": author.ID()})
				review := mustCreate(t, s, superuser, "reviews", map[string]any{"book": book.ID()})
				mustCreate(t, s, superuser, "notes", map[string]any{"author": author.ID()})

				err := s.Delete(ctx, superuser, "authors", author.ID())
				if tc.wantErr != nil {
					wantErr(t, err, tc.wantErr)
				} else if err != nil {
					t.Fatalf("Delete: %v", err)
				}
				for _, r := range []struct{ coll, id string }{{"authors", author.ID()}, {"books", book.ID()}} {
					_, err := s.Get(ctx, superuser, r.coll, r.id, records.ViewOptions{})
					if exists := err == nil; exists != tc.wantExists {
						t.Errorf("%s %s exists = %v (%v), want %v", r.coll, r.id, exists, err, tc.wantExists)
					}
				}
				got, err := s.Get(ctx, superuser, "reviews", review.ID(), records.ViewOptions{})
				switch {
				case tc.wantExists && err != nil:
					t.Errorf("review: %v", err)
				case !tc.wantExists && tc.reviews == records.OnDeleteSetNull:
					if err != nil || got["book"] != nil {
						t.Errorf("review = %v, %v; want it kept with book NULL", got, err)
					}
				case !tc.wantExists && !isNotFound(err):
					t.Errorf("review: err = %v, want it deleted", err)
				}
			})
		}
	})
}

// expandFixture: posts (public) point at users, at categories (public) and
// at a locked collection.
type expandFixture struct {
	s          *records.Service
	alice, bob user
	cats       []records.Record
	secret     records.Record
	post1      records.Record // author alice, readers [bob, alice], category 0, secret
	post2      records.Record // author bob, readers [], no category
}

func newExpandFixture(t *testing.T, db store.DB) *expandFixture {
	t.Helper()
	s := newService(t, db)
	f := &expandFixture{s: s, alice: signup(t, s, "alice@example.com"), bob: signup(t, s, "bob@example.com")}
	mustCollection(t, s, records.CollectionInput{Name: "categories", Rules: access.Rules{List: public, View: public}, Fields: []records.Field{
		{Name: "name", Type: records.TypeText},
	}})
	if _, err := s.UpdateCollection(context.Background(), "categories", records.CollectionPatch{Fields: &[]records.Field{
		{ID: fieldNamed(t, mustGet(t, s, "categories"), "name").ID, Name: "name", Type: records.TypeText},
		{Name: "parent", Type: records.TypeRelation, Collection: "categories"},
	}}); err != nil {
		t.Fatalf("add parent: %v", err)
	}
	mustCollection(t, s, records.CollectionInput{Name: "vault", Fields: []records.Field{{Name: "v", Type: records.TypeText}}})
	mustCollection(t, s, records.CollectionInput{Name: "posts", Rules: access.Rules{List: public, View: public}, Fields: []records.Field{
		{Name: "title", Type: records.TypeText},
		{Name: "author", Type: records.TypeRelation, Collection: "users"},
		{Name: "readers", Type: records.TypeRelation, Collection: "users", Multi: true},
		{Name: "category", Type: records.TypeRelation, Collection: "categories"},
		{Name: "secret", Type: records.TypeRelation, Collection: "vault"},
	}})
	root := mustCreate(t, s, superuser, "categories", map[string]any{"name": "root"})
	f.cats = []records.Record{mustCreate(t, s, superuser, "categories", map[string]any{"name": "child", "parent": root.ID()}), root}
	f.secret = mustCreate(t, s, superuser, "vault", map[string]any{"v": "s"})
	f.post1 = mustCreate(t, s, superuser, "posts", map[string]any{
		"title": "one", "author": f.alice.id, "readers": []string{f.bob.id, f.alice.id},
		"category": f.cats[0].ID(), "secret": f.secret.ID(),
	})
	f.post2 = mustCreate(t, s, superuser, "posts", map[string]any{"title": "two", "author": f.bob.id})
	return f
}

func TestExpand(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()
		f := newExpandFixture(t, open(t))
		user := func(u user) map[string]any {
			rec, err := f.s.User(ctx, u.id)
			if err != nil {
				t.Fatalf("User: %v", err)
			}
			return plain(t, rec)
		}
		all := []string{"author", "readers", "category", "secret"}
		tests := []struct {
			name   string
			caller records.Caller
			post   records.Record
			expand []string
			want   map[string]any // the expand object
		}{
			{"alice sees only herself among users", f.alice.caller, f.post1, all, map[string]any{
				"author":   user(f.alice),
				"readers":  []any{user(f.alice)},
				"category": plain(t, f.cats[0]),
			}},
			{"bob sees himself in readers", f.bob.caller, f.post1, []string{"author", "readers"}, map[string]any{
				"readers": []any{user(f.bob)},
			}},
			{"anonymous sees public categories only", records.Caller{}, f.post1, all, map[string]any{
				"readers":  []any{},
				"category": plain(t, f.cats[0]),
			}},
			{"superuser sees all, in list order", superuser, f.post1, all, map[string]any{
				"author":   user(f.alice),
				"readers":  []any{user(f.bob), user(f.alice)},
				"category": plain(t, f.cats[0]),
				"secret":   plain(t, f.secret),
			}},
			{"empty relations", superuser, f.post2, all, map[string]any{
				"author":  user(f.bob),
				"readers": []any{},
			}},
			{"only what was asked", superuser, f.post1, []string{"category"}, map[string]any{
				"category": plain(t, f.cats[0]),
			}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := f.s.Get(ctx, tc.caller, "posts", tc.post.ID(), records.ViewOptions{Expand: tc.expand})
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				if diff := cmp.Diff(tc.want, plain(t, got)["expand"]); diff != "" {
					t.Fatalf("expand (-want +got):\n%s", diff)
				}
				// List expands each record the same way.
				page, err := f.s.List(ctx, tc.caller, "posts", records.ListOptions{ViewOptions: records.ViewOptions{Expand: tc.expand}, Filter: `title == "` + tc.post["title"].(string) + `"`})
				if err != nil || len(page.Items) != 1 {
					t.Fatalf("List = %v, %v; want one record", page, err)
				}
				if diff := cmp.Diff(tc.want, plain(t, page.Items[0])["expand"]); diff != "" {
					t.Fatalf("List expand (-want +got):\n%s", diff)
				}
			})
		}

		t.Run("one level only", func(t *testing.T) {
			got, err := f.s.Get(ctx, superuser, "posts", f.post1.ID(), records.ViewOptions{Expand: []string{"category"}})
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			cat := got["expand"].(map[string]any)["category"].(records.Record)
			if _, ok := cat["expand"]; ok {
				t.Fatalf("expanded record has its own expand: %v", cat)
			}
			if cat["parent"] != f.cats[1].ID() {
				t.Fatalf("expanded category parent = %v, want the root id", cat["parent"])
			}
		})

		t.Run("list and get agree", func(t *testing.T) {
			// A record expands the same whatever else is on its page.
			for _, c := range []records.Caller{superuser, f.alice.caller, {}} {
				page, err := f.s.List(ctx, c, "posts", records.ListOptions{ViewOptions: records.ViewOptions{Expand: all}})
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				for _, r := range page.Items {
					one, err := f.s.Get(ctx, c, "posts", r.ID(), records.ViewOptions{Expand: all})
					if err != nil {
						t.Fatalf("Get: %v", err)
					}
					if diff := cmp.Diff(plain(t, one), plain(t, r)); diff != "" {
						t.Errorf("List and Get differ (-get +list):\n%s", diff)
					}
				}
			}
		})

		t.Run("no expand key without expand", func(t *testing.T) {
			got, err := f.s.Get(ctx, superuser, "posts", f.post1.ID(), records.ViewOptions{})
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if _, ok := got["expand"]; ok {
				t.Fatalf("record has expand: %v", got)
			}
		})
	})
}

func TestFieldsProjection(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()
		f := newExpandFixture(t, open(t))
		tests := []struct {
			name     string
			opt      records.ViewOptions
			wantKeys []string
		}{
			{"one field keeps id", records.ViewOptions{Fields: []string{"title"}}, []string{"id", "title"}},
			{"id alone", records.ViewOptions{Fields: []string{"id"}}, []string{"id"}},
			{"system fields", records.ViewOptions{Fields: []string{"created", "updated"}}, []string{"id", "created", "updated"}},
			{"expand kept", records.ViewOptions{Fields: []string{"title"}, Expand: []string{"category"}}, []string{"id", "title", "expand"}},
			{"expand of a field left out", records.ViewOptions{Fields: []string{"author"}, Expand: []string{"category"}}, []string{"id", "author", "expand"}},
			{"no projection", records.ViewOptions{}, []string{"id", "created", "updated", "title", "author", "readers", "category", "secret"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := f.s.Get(ctx, superuser, "posts", f.post1.ID(), tc.opt)
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				if diff := cmp.Diff(sortedStrings(tc.wantKeys), keysOf(got)); diff != "" {
					t.Fatalf("keys (-want +got):\n%s", diff)
				}
				if got.ID() != f.post1.ID() {
					t.Fatalf("id = %q", got.ID())
				}
				page, err := f.s.List(ctx, superuser, "posts", records.ListOptions{ViewOptions: tc.opt})
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				for _, r := range page.Items {
					if diff := cmp.Diff(sortedStrings(tc.wantKeys), keysOf(r)); diff != "" {
						t.Fatalf("List keys (-want +got):\n%s", diff)
					}
				}
			})
		}
		t.Run("unknown field", func(t *testing.T) {
			_, err := f.s.Get(ctx, superuser, "posts", f.post1.ID(), records.ViewOptions{Fields: []string{"nope"}})
			wantErr(t, err, records.ErrBadRequest)
		})
		t.Run("expand of a non-relation", func(t *testing.T) {
			_, err := f.s.Get(ctx, superuser, "posts", f.post1.ID(), records.ViewOptions{Expand: []string{"title"}})
			wantErr(t, err, records.ErrBadRequest)
		})
		t.Run("users password hash cannot be projected", func(t *testing.T) {
			_, err := f.s.Get(ctx, f.alice.caller, "users", f.alice.id, records.ViewOptions{Fields: []string{"password_hash"}})
			wantErr(t, err, records.ErrBadRequest)
		})
	})
}

func keysOf(r records.Record) []string {
	out := make([]string, 0, len(r))
	for k := range r {
		out = append(out, k)
	}
	return sortedStrings(out)
}

func sortedStrings(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
