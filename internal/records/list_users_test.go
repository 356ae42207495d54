package records_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// TestListUsersBySystemFields pages through users sorted by their
// never-NULL system fields, which sort without a NULLS clause and have many
// ties: every user comes back exactly once (listAll fails on a repeat), in
// the order of the sort key.
func TestListUsersBySystemFields(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		db := open(t)
		s := newService(t, db)
		ctx := context.Background()
		const n = 23
		for i := range n {
			u := signup(t, s, fmt.Sprintf("u%02d@example.com", i))
			if err := db.Tx(ctx, func(q store.Querier) error {
				_, err := q.Exec(ctx, `UPDATE c_users SET verified = ?, disabled = ? WHERE id = ?`, i%3 == 0, i%5 == 0, u.id)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		for _, tt := range []struct {
			sort string
			key  func(r records.Record) string // must not decrease along the pages (increase, with desc)
			desc bool
		}{
			{"-verified", func(r records.Record) string { return fmt.Sprint(r["verified"]) }, true},
			{"verified", func(r records.Record) string { return fmt.Sprint(r["verified"]) }, false},
			{"disabled,-verified", func(r records.Record) string {
				return fmt.Sprint(r["disabled"] == true, r["verified"] != true)
			}, false},
			{"-disabled,email", func(r records.Record) string {
				return fmt.Sprint(r["disabled"] != true, r["email"])
			}, false},
			{"-email", func(r records.Record) string { return r["email"].(string) }, true},
		} {
			t.Run(tt.sort, func(t *testing.T) {
				got := listAll(t, s, superuser, "users", records.ListOptions{Sort: tt.sort, Limit: 4})
				if len(got) != n {
					t.Fatalf("%d users over the pages, want %d", len(got), n)
				}
				verified, disabled := 0, 0
				for i, r := range got {
					if r["verified"] == true {
						verified++
					}
					if r["disabled"] == true {
						disabled++
					}
					if i == 0 {
						continue
					}
					if a, b := tt.key(got[i-1]), tt.key(r); (!tt.desc && a > b) || (tt.desc && a < b) {
						t.Fatalf("position %d: %q after %q: not in %q order", i, b, a, tt.sort)
					}
				}
				if verified != (n+2)/3 || disabled != (n+4)/5 {
					t.Fatalf("%d verified and %d disabled users listed, want %d and %d", verified, disabled, (n+2)/3, (n+4)/5)
				}
			})
		}
	})
}
