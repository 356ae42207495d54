package records_test

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

const pagedRecords = 237

// newPagedService creates posts with duplicate and NULL sort values and
// returns them as plain records.
func newPagedService(t *testing.T, db store.DB) (*records.Service, []map[string]any) {
	t.Helper()
	s := newService(t, db)
	mustCollection(t, s, records.CollectionInput{Name: "posts", Rules: publicRules, Fields: []records.Field{
		{Name: "title", Type: records.TypeText},
		{Name: "views", Type: records.TypeNumber, Index: true},
		{Name: "due", Type: records.TypeDate},
		{Name: "flag", Type: records.TypeBool},
		{Name: "tags", Type: records.TypeSelect, Values: []string{"a", "b"}, MaxSelect: 2},
		{Name: "doc", Type: records.TypeJSON},
	}})
	var all []map[string]any
	for i := range pagedRecords {
		m := map[string]any{}
		if i%10 != 0 {
			m["views"] = float64(i%13) - 3 // negative, zero and positive, 13 distinct values
		}
		if i%9 != 0 {
			m["due"] = fmt.Sprintf("2025-01-%02dT10:00:00.%03d+01:00", i%5+1, i%3) // 15 distinct instants
		}
		if i%6 != 0 {
			m["flag"] = i%4 == 0
		}
		switch {
		case i%7 == 0: // NULL title
		case i%23 == 0:
			m["title"] = "" // empty, which is not NULL
		default:
			m["title"] = fmt.Sprintf("t%02d", i%19)
		}
		all = append(all, plain(t, mustCreate(t, s, superuser, "posts", m)))
	}
	return s, all
}

// sortTerm is one term of a sort spec for expectedOrder.
type sortTerm struct {
	field string
	desc  bool
}

func parseSortSpec(spec string) []sortTerm {
	var terms []sortTerm
	for p := range strings.SplitSeq(spec, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		desc := strings.HasPrefix(p, "-")
		terms = append(terms, sortTerm{strings.TrimLeft(p, "+-"), desc})
	}
	if !slices.ContainsFunc(terms, func(t sortTerm) bool { return t.field == "id" }) {
		terms = append(terms, sortTerm{field: "id"})
	}
	return terms
}

// compareAsc orders two plain values with NULL first.
func compareAsc(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	switch a := a.(type) {
	case float64:
		return cmp.Compare(a, b.(float64))
	case string:
		return strings.Compare(a, b.(string)) // byte order, as the C collation and SQLite
	case bool:
		return cmp.Compare(btoi(a), btoi(b.(bool)))
	}
	panic(fmt.Sprintf("cannot compare %T", a))
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// expectedOrder sorts recs as the documented order: NULLs first ascending
// and last descending, ties broken by id ascending.
func expectedOrder(recs []map[string]any, spec string) []string {
	terms := parseSortSpec(spec)
	sorted := slices.Clone(recs)
	slices.SortFunc(sorted, func(a, b map[string]any) int {
		for _, t := range terms {
			c := compareAsc(a[t.field], b[t.field])
			if t.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	out := make([]string, len(sorted))
	for i, r := range sorted {
		out[i] = r["id"].(string)
	}
	return out
}

func TestListKeysetPagination(t *testing.T) {
	sorts := []string{"", "-views", "views,-title", "-created", "title", "-title,views", "+views", "-id", "created,-views",
		"due", "-due,views", "flag", "-flag,-due,title"}
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		s, all := newPagedService(t, open(t))
		for _, spec := range sorts {
			t.Run(fmt.Sprintf("sort=%q", spec), func(t *testing.T) {
				var got []records.Record
				pages := 0
				opt := records.ListOptions{Sort: spec, Limit: 10}
				for {
					page, err := s.List(context.Background(), superuser, "posts", opt)
					if err != nil {
						t.Fatalf("List page %d: %v", pages, err)
					}
					pages++
					if page.NextCursor != nil && len(page.Items) != 10 {
						t.Fatalf("page %d has %d items and a next cursor", pages, len(page.Items))
					}
					got = append(got, page.Items...)
					if page.NextCursor == nil {
						break
					}
					opt.Cursor = *page.NextCursor
				}
				if want := (pagedRecords + 9) / 10; pages != want {
					t.Errorf("pages = %d, want %d", pages, want)
				}
				if diff := gocmp.Diff(expectedOrder(all, spec), idsOf(got)); diff != "" {
					t.Fatalf("order (-want +got):\n%s", diff)
				}
			})
		}

		t.Run("exact multiple of the limit", func(t *testing.T) {
			// The last full page must not promise a page that is empty.
			opt := records.ListOptions{Filter: "views == 2.0", Limit: 1}
			n := 0
			for _, r := range all {
				if r["views"] == 2.0 {
					n++
				}
			}
			got := listAll(t, s, superuser, "posts", opt)
			if len(got) != n {
				t.Fatalf("got %d records, want %d", len(got), n)
			}
		})
	})
}

// TestListPaginationWithConcurrentInserts walks pages while another
// goroutine inserts: every record that existed before the walk is returned
// exactly once, and no record twice.
func TestListPaginationWithConcurrentInserts(t *testing.T) {
	for _, spec := range []string{"", "-views"} {
		t.Run(fmt.Sprintf("sort=%q", spec), func(t *testing.T) {
			enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
				ctx := context.Background()
				s, all := newPagedService(t, open(t))
				before := map[string]bool{}
				for _, r := range all {
					before[r["id"].(string)] = true
				}

				// The inserter signals each insert without blocking; the walk
				// waits for one after every page, so that every page is read
				// with new records landing around it.
				inserted := make(chan struct{}, 1)
				done := make(chan struct{})
				var wg sync.WaitGroup
				var insertErr error
				wg.Go(func() {
					defer close(done)
					for i := range 150 {
						m := map[string]any{"title": fmt.Sprintf("new %d", i)}
						if i%4 != 0 {
							m["views"] = float64(i%15) - 4
						}
						if _, err := s.Create(ctx, superuser, "posts", body(t, m)); err != nil {
							insertErr = err
							return
						}
						select {
						case inserted <- struct{}{}:
						default:
						}
					}
				})

				seen := map[string]int{}
				opt := records.ListOptions{Sort: spec, Limit: 10}
				for {
					page, err := s.List(ctx, superuser, "posts", opt)
					if err != nil {
						t.Fatalf("List: %v", err)
					}
					for _, r := range page.Items {
						seen[r.ID()]++
					}
					if page.NextCursor == nil {
						break
					}
					opt.Cursor = *page.NextCursor
					select {
					case <-inserted:
					case <-done:
					}
				}
				wg.Wait()
				if insertErr != nil {
					t.Fatalf("concurrent Create: %v", insertErr)
				}
				for id, n := range seen {
					if n != 1 {
						t.Errorf("record %s returned %d times", id, n)
					}
				}
				for id := range before {
					if seen[id] != 1 {
						t.Errorf("record %s, there before the walk, returned %d times", id, seen[id])
					}
				}
				t.Logf("%d records seen, %d of them new", len(seen), len(seen)-len(before))
			})
		})
	}
}

func TestListBadRequests(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()
		s, _ := newPagedService(t, open(t))
		cursorFor := func(spec string) string {
			t.Helper()
			page, err := s.List(ctx, superuser, "posts", records.ListOptions{Sort: spec, Limit: 3})
			if err != nil || page.NextCursor == nil {
				t.Fatalf("List(sort %q) = %v, %v; want a next cursor", spec, page, err)
			}
			return *page.NextCursor
		}
		raw := func(json string) string { return base64.RawURLEncoding.EncodeToString([]byte(json)) }
		tests := []struct {
			name string
			opt  records.ListOptions
		}{
			{"cursor not base64", records.ListOptions{Cursor: "!!!"}},
			{"cursor not JSON", records.ListOptions{Cursor: raw("not json")}},
			{"cursor empty JSON", records.ListOptions{Cursor: raw("{}")}},
			{"cursor too long", records.ListOptions{Cursor: strings.Repeat("A", records.MaxCursorLen+1)}},
			{"cursor from another sort", records.ListOptions{Sort: "-views", Cursor: cursorFor("views")}},
			{"cursor from another sort of the same length", records.ListOptions{Sort: "title", Cursor: cursorFor("views")}},
			{"cursor from the default sort", records.ListOptions{Sort: "-id", Cursor: cursorFor("")}},
			{"cursor with too few values", records.ListOptions{Sort: "views", Cursor: raw(`{"s":"views","v":[1]}`)}},
			{"cursor value of the wrong type", records.ListOptions{Sort: "views", Cursor: raw(`{"s":"views","v":["x","01a23ba7-c9ed-7000-851c-a423019aab60"]}`)}},
			{"cursor with NUL in a string", records.ListOptions{Sort: "title", Cursor: raw(`{"s":"title","v":["a\u0000","01a23ba7-c9ed-7000-851c-a423019aab60"]}`)}},
			{"cursor with NULL id", records.ListOptions{Cursor: raw(`{"s":"","v":[null]}`)}},
			{"cursor with a bad date", records.ListOptions{Sort: "created", Cursor: raw(`{"s":"created","v":["yesterday","x"]}`)}},
			{"cursor with NULL created", records.ListOptions{Sort: "created", Cursor: raw(`{"s":"created","v":[null,"x"]}`)}},
			{"sort by unknown field", records.ListOptions{Sort: "nope"}},
			{"sort by json", records.ListOptions{Sort: "doc"}},
			{"sort by multi select", records.ListOptions{Sort: "-tags"}},
			{"sort repeated", records.ListOptions{Sort: "views,-views"}},
			{"sort empty term", records.ListOptions{Sort: "views,"}},
			{"sort too many terms", records.ListOptions{Sort: "id,created,updated,title,views,-id,-created,-updated,-title"}},
			{"limit negative", records.ListOptions{Limit: -1}},
			{"limit above max", records.ListOptions{Limit: records.MaxLimit + 1}},
			{"filter does not compile", records.ListOptions{Filter: "views =="}},
			{"filter on unknown field", records.ListOptions{Filter: "nope == 1"}},
			{"fields unknown", records.ListOptions{ViewOptions: records.ViewOptions{Fields: []string{"nope"}}}},
			{"expand not a relation", records.ListOptions{ViewOptions: records.ViewOptions{Expand: []string{"title"}}}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.List(ctx, superuser, "posts", tc.opt)
				wantErr(t, err, records.ErrBadRequest)
			})
		}

		t.Run("limit zero means the default", func(t *testing.T) {
			page, err := s.List(ctx, superuser, "posts", records.ListOptions{})
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if len(page.Items) != records.DefaultLimit || page.NextCursor == nil {
				t.Fatalf("got %d items (next %v), want %d and a cursor", len(page.Items), page.NextCursor != nil, records.DefaultLimit)
			}
		})

		t.Run("limit max", func(t *testing.T) {
			page, err := s.List(ctx, superuser, "posts", records.ListOptions{Limit: records.MaxLimit})
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if len(page.Items) != pagedRecords || page.NextCursor != nil {
				t.Fatalf("got %d items (next %v), want all %d and no cursor", len(page.Items), page.NextCursor != nil, pagedRecords)
			}
		})
	})
}
