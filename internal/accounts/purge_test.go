package accounts_test

import (
	"context"
	"testing"
	"time"

	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// TestPurge: ended sessions go after a week, live ones stay, and a purged
// session's refresh token is still refused.
func TestPurge(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		f := newFixture(t, open(t))
		f.user("erin")
		f.user("finn")
		ended := f.login("erin")
		live := f.login("finn")
		ctx := context.Background()
		if err := f.acc.Logout(ctx, f.caller(ended)); err != nil {
			t.Fatal(err)
		}
		count := func() (n int) {
			t.Helper()
			if err := f.db.QueryRow(ctx, `SELECT count(*) FROM _keep_sessions`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if _, err := f.acc.Purge(ctx); err != nil || count() != 2 {
			t.Fatalf("fresh purge removed something: %v, %d left", err, count())
		}
		f.clock.Advance(8 * 24 * time.Hour)
		if err := f.refresh(live); err == nil {
			t.Fatal("an idle session refreshed") // testIdle is an hour
		}
		n, err := f.acc.Purge(ctx)
		if err != nil || n < 2 || count() != 0 {
			t.Fatalf("purge: %d rows, %v; %d sessions left", n, err, count())
		}
		if err := f.refresh(ended); err == nil {
			t.Fatal("the refresh token of a purged session works")
		}
	})
}
