package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/sqlite"
)

// member is one transaction of a group commit test: what it does after
// inserting its row.
type member struct {
	id    string
	then  func(ctx context.Context, cancel context.CancelFunc, q store.Querier) error
	want  error    // what its Tx returns; nil: committed
	extra []string // rows then writes besides id
}

var errMember = errors.New("member failed")

// TestGroupCommit queues transactions behind one that holds the writer and
// checks that they commit together, one COMMIT for all, and that a member
// that fails, panics, conflicts or is cancelled leaves the others' writes
// alone.
func TestGroupCommit(t *testing.T) {
	ok := func(context.Context, context.CancelFunc, store.Querier) error { return nil }
	tests := []struct {
		name    string
		members []member
	}{
		{"all commit", []member{{id: "a", then: ok}, {id: "b", then: ok}, {id: "c", then: ok}, {id: "d", then: ok}}},
		{"one returns an error", []member{
			{id: "a", then: ok},
			{id: "b", then: func(context.Context, context.CancelFunc, store.Querier) error { return errMember }, want: errMember},
			{id: "c", then: ok},
		}},
		{"one panics", []member{
			{id: "a", then: ok},
			{id: "b", then: func(context.Context, context.CancelFunc, store.Querier) error { panic("boom") }, want: errPanicked},
			{id: "c", then: ok},
		}},
		{"one conflicts with another", []member{
			{id: "a", then: ok},
			{id: "b", then: func(ctx context.Context, _ context.CancelFunc, q store.Querier) error {
				_, err := q.Exec(ctx, `INSERT INTO items (id) VALUES ('a')`)
				return err
			}, want: store.ErrConflict},
			{id: "c", then: ok},
		}},
		{"one is cancelled while it writes", []member{
			{id: "a", then: ok},
			// SQLite would roll back the whole shared transaction if a
			// statement were interrupted: the cancellation must not reach it.
			{id: "b", then: func(ctx context.Context, cancel context.CancelFunc, q store.Querier) error {
				cancel()
				_, err := q.Exec(ctx, `INSERT INTO items (id) VALUES ('b2')`)
				return err
			}, extra: []string{"b2"}},
			{id: "c", then: ok},
		}},
		{"one makes SQLite roll back the whole transaction", []member{
			{id: "a", then: ok},
			// The others did nothing wrong: they run again (ErrBusy) and commit.
			{id: "b", then: func(ctx context.Context, _ context.CancelFunc, q store.Querier) error {
				_, err := q.Exec(ctx, `INSERT INTO doomed (id) VALUES ('x')`)
				return err
			}, want: errAny},
			{id: "c", then: ok},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := open(t, filepath.Join(t.TempDir(), "k.db"), sqlite.Options{})
			sqlite.SetBatchAge(db, time.Hour) // the test decides when the batch ends
			if err := db.Tx(t.Context(), func(q store.Querier) error {
				for _, s := range []string{`CREATE TABLE items (id TEXT PRIMARY KEY)`, `CREATE TABLE doomed (id TEXT)`,
					`CREATE TRIGGER doom BEFORE INSERT ON doomed BEGIN SELECT RAISE(ROLLBACK, 'doomed'); END`} {
					if _, err := q.Exec(t.Context(), s); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			before := sqlite.BatchStats(db)

			// The holder keeps the writer until every member waits for it.
			hold, held := make(chan struct{}), make(chan struct{})
			var heldOnce sync.Once
			holder := make(chan error, 1)
			go func() {
				holder <- db.Tx(t.Context(), func(q store.Querier) error {
					heldOnce.Do(func() { close(held) })
					<-hold
					_, err := q.Exec(t.Context(), `INSERT INTO items (id) VALUES ('holder')`)
					return err
				})
			}()
			<-held
			errs := make([]error, len(tt.members))
			var wg sync.WaitGroup
			for i, m := range tt.members {
				wg.Go(func() {
					ctx, cancel := context.WithCancel(t.Context())
					defer cancel()
					errs[i] = runMember(ctx, db, func(q store.Querier) error {
						if _, err := q.Exec(ctx, `INSERT INTO items (id) VALUES (?)`, m.id); err != nil {
							return err
						}
						return m.then(ctx, cancel, q)
					})
				})
				// One at a time: the writer is handed over in arrival order.
				waitFor(t, func() bool { return sqlite.Waiting(db) == i+1 })
			}
			close(hold)
			wg.Wait()
			if err := <-holder; err != nil {
				t.Fatalf("holder: %v", err)
			}

			want := []string{"holder"}
			for i, m := range tt.members {
				if m.want == errAny && errs[i] != nil {
					continue
				}
				if !errors.Is(errs[i], m.want) || (m.want == nil && errs[i] != nil) {
					t.Errorf("member %s: Tx = %v, want %v", m.id, errs[i], m.want)
				}
				if m.want == nil {
					want = append(want, m.id)
					want = append(want, m.extra...)
				}
			}
			sort.Strings(want)
			if diff := cmp.Diff(want, itemIDs(t, db)); diff != "" {
				t.Errorf("committed rows (-want +got):\n%s", diff)
			}
			if slices.ContainsFunc(tt.members, func(m member) bool { return m.want == errAny }) {
				return // that batch failed; its members ran again in batches of their own
			}
			after := sqlite.BatchStats(db)
			if got := after.Commits - before.Commits; got != 1 {
				t.Errorf("%d commits for the holder and %d queued transactions, want 1", got, len(tt.members))
			}
			if got, want := after.Members-before.Members, int64(1+countOK(tt.members)); got != want {
				t.Errorf("the commit acknowledged %d transactions, want %d", got, want)
			}
		})
	}
}

var (
	errPanicked = errors.New("panicked")
	errAny      = errors.New("any error") // a member whose Tx must fail, with whatever error
)

// runMember runs fn in a transaction and turns a panic into errPanicked
// once the panic has gone through Tx.
func runMember(ctx context.Context, db store.DB, fn func(q store.Querier) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errPanicked, r)
		}
	}()
	return db.Tx(ctx, fn)
}

func countOK(ms []member) int {
	n := 0
	for _, m := range ms {
		if m.want == nil {
			n++
		}
	}
	return n
}

func itemIDs(t *testing.T, db store.DB) []string {
	t.Helper()
	rows, err := db.Query(t.Context(), `SELECT id FROM items ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// waitFor polls cond; it is a synchronisation point, not a timing check.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 30 s")
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

// TestGroupCommitWaiterGivesUp: a transaction that stops waiting for the
// writer returns its context's error and leaves no batch open behind it;
// the holder's write commits and later transactions run.
func TestGroupCommitWaiterGivesUp(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "k.db"), sqlite.Options{})
	sqlite.SetBatchAge(db, time.Hour)
	mustExec := func(id string) error {
		return db.Tx(t.Context(), func(q store.Querier) error {
			_, err := q.Exec(t.Context(), `INSERT INTO items (id) VALUES (?)`, id)
			return err
		})
	}
	if err := db.Tx(t.Context(), func(q store.Querier) error {
		_, err := q.Exec(t.Context(), `CREATE TABLE items (id TEXT PRIMARY KEY)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	hold, held := make(chan struct{}), make(chan struct{})
	holder := make(chan error, 1)
	go func() {
		holder <- db.Tx(t.Context(), func(q store.Querier) error {
			close(held)
			<-hold
			_, err := q.Exec(t.Context(), `INSERT INTO items (id) VALUES ('holder')`)
			return err
		})
	}()
	<-held
	ctx, cancel := context.WithCancel(t.Context())
	waiter := make(chan error, 1)
	go func() {
		waiter <- db.Tx(ctx, func(q store.Querier) error {
			_, err := q.Exec(ctx, `INSERT INTO items (id) VALUES ('waiter')`)
			return err
		})
	}()
	waitFor(t, func() bool { return sqlite.Waiting(db) == 1 })
	cancel()
	// The waiter returns at once, while the holder still holds the writer.
	select {
	case err := <-waiter:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("waiter: %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a cancelled waiter still waits for the writer")
	}
	close(hold)
	if err := <-holder; err != nil {
		t.Fatalf("holder: %v", err)
	}
	if diff := cmp.Diff([]string{"holder"}, itemIDs(t, db)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if err := mustExec("later"); err != nil {
		t.Fatalf("a later transaction: %v", err)
	}
	ids := itemIDs(t, db)
	if ids[0] != "holder" || ids[len(ids)-1] != "later" {
		t.Errorf("rows = %v, want holder and later committed", ids)
	}
}

// TestReadGateFreesEverySlot runs reads that end every way a read can end
// (rows read to the end, rows closed early, a row scanned, no row, a
// failing query) on a pool of two readers, then holds two reads open at
// once: a slot lost by any of them would make the last read wait forever.
func TestReadGateFreesEverySlot(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "k.db"), sqlite.Options{Readers: 2})
	if err := db.Tx(t.Context(), func(q store.Querier) error {
		for _, s := range []string{`CREATE TABLE items (id TEXT PRIMARY KEY)`, `INSERT INTO items (id) VALUES ('a'), ('b'), ('c')`} {
			if _, err := q.Exec(t.Context(), s); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	reads := []func() error{
		func() error { // to the end, then closed
			rows, err := db.Query(ctx, `SELECT id FROM items`)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
			}
			return rows.Err()
		},
		func() error { // closed after the first row
			rows, err := db.Query(ctx, `SELECT id FROM items`)
			if err != nil {
				return err
			}
			rows.Next()
			return rows.Close()
		},
		func() error {
			var id string
			return db.QueryRow(ctx, `SELECT id FROM items WHERE id = ?`, "a").Scan(&id)
		},
		func() error {
			var id string
			if err := db.QueryRow(ctx, `SELECT id FROM items WHERE id = ?`, "zz").Scan(&id); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("missing row: %v", err)
			}
			return nil
		},
		func() error {
			if _, err := db.Query(ctx, `SELECT nope FROM items`); err == nil {
				return errors.New("a bad query succeeded")
			}
			var n int
			if err := db.QueryRow(ctx, `SELECT nope FROM items`).Scan(&n); err == nil {
				return errors.New("a bad query row succeeded")
			}
			return nil
		},
	}
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			if err := reads[i%len(reads)](); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	r1, err := db.Query(wait, `SELECT id FROM items`)
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	r2, err := db.Query(wait, `SELECT id FROM items`)
	if err != nil {
		t.Fatalf("a second read with two readers: %v (a gate slot was lost)", err)
	}
	r2.Close()
}
