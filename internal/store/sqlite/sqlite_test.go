package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
	"github.com/keep-dev/keep/internal/store/sqlite"
	"github.com/keep-dev/keep/internal/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, enginetest.SQLite)
}

func open(t *testing.T, path string, opts sqlite.Options) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

type pragmas struct {
	JournalMode string
	ForeignKeys int
	BusyTimeout int
	Synchronous int
	TempStore   int
	QueryOnly   int
}

const pragmaQuery = `SELECT * FROM pragma_journal_mode, pragma_foreign_keys, pragma_busy_timeout,
	pragma_synchronous, pragma_temp_store, pragma_query_only`

func scanPragmas(r store.Row) (p pragmas, err error) {
	err = r.Scan(&p.JournalMode, &p.ForeignKeys, &p.BusyTimeout, &p.Synchronous, &p.TempStore, &p.QueryOnly)
	return p, err
}

func TestPragmas(t *testing.T) {
	const readers = 3
	db := open(t, filepath.Join(t.TempDir(), "keep.db"), sqlite.Options{
		Readers: readers, Synchronous: "normal", BusyTimeout: 2 * time.Second,
	})
	want := pragmas{JournalMode: "wal", ForeignKeys: 1, BusyTimeout: 2000, Synchronous: 1, TempStore: 2}

	t.Run("writer", func(t *testing.T) {
		err := db.Tx(t.Context(), func(q store.Querier) error {
			got, err := scanPragmas(q.QueryRow(t.Context(), pragmaQuery))
			if err != nil {
				return err
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("writer pragmas (-want +got):\n%s", diff)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("every reader", func(t *testing.T) {
		// Hold a result set open on each reader so that every query runs on
		// a connection of its own.
		wantReader := want
		wantReader.QueryOnly = 1
		for i := range readers {
			rows, err := db.Query(t.Context(), pragmaQuery)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			if !rows.Next() {
				t.Fatalf("reader %d: no row: %v", i, rows.Err())
			}
			var got pragmas
			if err := rows.Scan(&got.JournalMode, &got.ForeignKeys, &got.BusyTimeout, &got.Synchronous, &got.TempStore, &got.QueryOnly); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantReader, got); diff != "" {
				t.Errorf("reader %d pragmas (-want +got):\n%s", i, diff)
			}
		}
		if s := db.Stats()[0]; s.Name != "reader" || s.Open != readers || s.MaxOpen != readers {
			t.Errorf("reader stats = %+v, want %d open", s, readers)
		}
	})
}

// TestBulkPageCache: SQLite took the setting that gives each connection its
// page cache in one allocation, kept across the resets every commit causes
// (pagecache.go). It is refused once any connection is open, so this fails
// if something opens SQLite earlier in the process.
func TestBulkPageCache(t *testing.T) {
	if err := sqlite.PageCacheErr(); err != nil {
		t.Fatal(err)
	}
}

// TestNoMmap: no connection maps the database file (a table-valued
// pragma_mmap_size does not exist, so it is asked for on its own). With the
// map, each commit made every reader unmap and fault the file back in
// (docs/design.md).
func TestNoMmap(t *testing.T) {
	const readers = 3
	db := open(t, filepath.Join(t.TempDir(), "keep.db"), sqlite.Options{Readers: readers})
	const want = 0
	err := db.Tx(t.Context(), func(q store.Querier) error {
		var got int64
		if err := q.QueryRow(t.Context(), `PRAGMA mmap_size`).Scan(&got); err != nil {
			return err
		}
		if got != want {
			t.Errorf("writer mmap_size = %d, want %d", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range readers {
		rows, err := db.Query(t.Context(), `PRAGMA mmap_size`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close() // held open, so each query gets a connection of its own
		var got int64
		if !rows.Next() {
			t.Fatalf("reader %d: no row: %v", i, rows.Err())
		}
		if err := rows.Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("reader %d mmap_size = %d, want %d", i, got, want)
		}
	}
}

func TestDefaults(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "keep.db"), sqlite.Options{})
	got, err := scanPragmas(db.QueryRow(t.Context(), pragmaQuery))
	if err != nil {
		t.Fatal(err)
	}
	if got.Synchronous != 2 || got.BusyTimeout != 5000 {
		t.Errorf("synchronous = %d, busy_timeout = %d; want FULL (2) and 5000", got.Synchronous, got.BusyTimeout)
	}
	stats := db.Stats()
	if stats[0].MaxOpen < 4 || stats[1].Name != "writer" || stats[1].MaxOpen != 1 {
		t.Errorf("stats = %+v, want at least 4 readers and 1 writer", stats)
	}
}

func TestInvalidOptions(t *testing.T) {
	_, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "keep.db"), sqlite.Options{Synchronous: "OFF"})
	if err == nil {
		t.Fatal("Open with synchronous OFF succeeded")
	}
}

func TestReadersAreReadOnly(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "keep.db"), sqlite.Options{})
	rows, err := db.Query(t.Context(), "DELETE FROM _keep_collections RETURNING id")
	if err == nil {
		for rows.Next() {
		}
		err = rows.Err()
		rows.Close()
	}
	if err == nil {
		t.Fatal("a write through Query succeeded on the read-only pool")
	}
	var n int
	if err := db.QueryRow(t.Context(), "SELECT COUNT(*) FROM _keep_collections").Scan(&n); err != nil || n != 1 {
		t.Fatalf("collections = %d, %v; want 1", n, err)
	}
}

// TestFile: the directory and file are private, and characters that mean
// something in a file: URI stay part of the path.
func TestFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data dir", "keep#1?x=%41")
	open(t, filepath.Join(dir, "keep.db"), sqlite.Options{})
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"keep.db", "keep.db-shm", "keep.db-wal"}, names); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	for path, want := range map[string]os.FileMode{
		dir:                               0o700 | os.ModeDir,
		filepath.Join(dir, "keep.db"):     0o600,
		filepath.Join(dir, "keep.db-wal"): 0o600,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
		}
	}
}

// TestTwoHandles is a CLI writing beside a running server: two DBs on one
// file, each with its own writer, serialised by SQLite's lock.
func TestTwoHandles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keep.db")
	a := open(t, path, sqlite.Options{})
	b := open(t, path, sqlite.Options{})
	if err := a.Tx(t.Context(), func(q store.Querier) error {
		_, err := q.Exec(t.Context(), "CREATE TABLE items (id TEXT PRIMARY KEY)")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	const perHandle = 50
	var wg sync.WaitGroup
	for name, db := range map[string]*sqlite.DB{"a": a, "b": b} {
		wg.Go(func() {
			for i := range perHandle {
				err := db.Tx(t.Context(), func(q store.Querier) error {
					_, err := q.Exec(t.Context(), "INSERT INTO items (id) VALUES (?)", fmt.Sprint(name, i))
					return err
				})
				if err != nil {
					t.Errorf("%s: %v", name, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, db := range []*sqlite.DB{a, b} {
		var n int
		if err := db.QueryRow(t.Context(), "SELECT COUNT(*) FROM items").Scan(&n); err != nil || n != 2*perHandle {
			t.Errorf("count = %d, %v; want %d", n, err, 2*perHandle)
		}
	}
}

// TestConcurrentOpen is two processes starting on a new file at once: both
// open, and each migration is applied once.
func TestConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keep.db")
	var wg sync.WaitGroup
	dbs := make([]*sqlite.DB, 4)
	for i := range dbs {
		wg.Go(func() {
			db, err := sqlite.Open(t.Context(), path, sqlite.Options{})
			if err != nil {
				t.Errorf("Open %d: %v", i, err)
				return
			}
			t.Cleanup(func() { db.Close() })
			dbs[i] = db
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	var n int
	if err := dbs[0].QueryRow(t.Context(), "SELECT COUNT(*) FROM _keep_collections").Scan(&n); err != nil || n != 1 {
		t.Errorf("collections = %d, %v; want 1", n, err)
	}
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keep.db")
	read := func(db store.DB) []string {
		rows, err := db.Query(t.Context(), "SELECT version, name, applied_at FROM _keep_migrations ORDER BY version")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var v int
			var name, at string
			if err := rows.Scan(&v, &name, &at); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprint(v, name, at))
		}
		return got
	}
	db, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	before := read(db)
	if _, err := db.Exec(t.Context(), "UPDATE _keep_collections SET version = 2"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db = open(t, path, sqlite.Options{})
	if diff := cmp.Diff(before, read(db)); diff != "" {
		t.Errorf("migrations after reopen (-before +after):\n%s", diff)
	}
	var v int
	if err := db.QueryRow(t.Context(), "SELECT version FROM _keep_collections").Scan(&v); err != nil || v != 2 {
		t.Errorf("collection version = %d, %v; want the 2 written before reopening", v, err)
	}
}

func TestNewerDatabaseRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keep.db")
	db := open(t, path, sqlite.Options{})
	if _, err := db.Exec(t.Context(), "INSERT INTO _keep_migrations (version, name) VALUES (9999, 'future')"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db, err := sqlite.Open(t.Context(), path, sqlite.Options{}); err == nil {
		db.Close()
		t.Fatal("Open accepted a database migrated by a newer build")
	}
}

func TestBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keep.db")
	holder := open(t, path, sqlite.Options{})
	impatient := open(t, path, sqlite.Options{BusyTimeout: time.Millisecond})

	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- holder.Tx(t.Context(), func(store.Querier) error {
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside
	calls := 0
	txErr := impatient.Tx(t.Context(), func(store.Querier) error { calls++; return nil })
	_, execErr := impatient.Exec(t.Context(), "UPDATE _keep_collections SET version = version + 1")
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !errors.Is(txErr, store.ErrBusy) || calls != 0 {
		t.Errorf("Tx while another process writes = %v after %d calls of fn, want store.ErrBusy and none", txErr, calls)
	}
	if !errors.Is(execErr, store.ErrBusy) {
		t.Errorf("Exec while another process writes = %v, want store.ErrBusy", execErr)
	}
}

func TestTxRetriesBusy(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "keep.db"), sqlite.Options{})
	calls := 0
	err := db.Tx(t.Context(), func(store.Querier) error {
		if calls++; calls == 1 {
			return fmt.Errorf("lock: %w", store.ErrBusy)
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Errorf("Tx = %v after %d calls, want success on the second", err, calls)
	}

	calls = 0
	err = db.Tx(t.Context(), func(store.Querier) error { calls++; return store.ErrBusy })
	if !errors.Is(err, store.ErrBusy) || calls < 2 {
		t.Errorf("Tx = %v after %d calls, want store.ErrBusy after retries", err, calls)
	}

	calls = 0
	ctx, cancel := context.WithCancel(t.Context())
	err = db.Tx(ctx, func(store.Querier) error { calls++; cancel(); return store.ErrBusy })
	if !errors.Is(err, store.ErrBusy) || calls != 1 {
		t.Errorf("Tx with cancelled context = %v after %d calls, want no retry", err, calls)
	}
}

// TestTableVersion: a table's versions grow once a transaction that wrote
// it, by any means, has committed, and not before; other tables keep theirs.
// The altered version grows only when a row that existed was updated or
// deleted.
func TestTableVersion(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "keep.db"), sqlite.Options{})
	ctx := t.Context()
	for _, s := range []string{
		`CREATE TABLE parent (id INTEGER PRIMARY KEY)`,
		`CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parent (id) ON DELETE CASCADE)`,
		`CREATE TABLE logged (n INTEGER)`,
		`CREATE TABLE other (n INTEGER)`,
		`CREATE TABLE named (name TEXT PRIMARY KEY, n INTEGER) WITHOUT ROWID`,
		`CREATE TRIGGER parent_log AFTER INSERT ON parent BEGIN INSERT INTO logged VALUES (NEW.id); END`,
		`INSERT INTO other VALUES (1)`,
	} {
		if _, err := db.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	tables := []string{"parent", "child", "logged", "other", "named"}
	type versions struct{ written, altered map[string]uint64 }
	read := func() versions {
		v := versions{map[string]uint64{}, map[string]uint64{}}
		for _, tb := range tables {
			v.written[tb], v.altered[tb] = db.TableVersion(tb), db.AlteredVersion(tb)
		}
		return v
	}
	tx := func(stmts ...string) func() error {
		return func() error {
			return db.Tx(ctx, func(q store.Querier) error {
				before := read()
				for _, s := range stmts {
					if _, err := q.Exec(ctx, s); err != nil {
						return err
					}
				}
				if diff := cmp.Diff(before, read(), cmp.AllowUnexported(versions{})); diff != "" {
					t.Errorf("versions changed before the commit (-before +now):\n%s", diff)
				}
				return nil
			})
		}
	}
	for _, tc := range []struct {
		name             string
		run              func() error
		changed, altered []string
	}{
		{"insert, and a trigger's insert", tx(`INSERT INTO parent VALUES (1), (2)`, `INSERT INTO child VALUES (10, 1), (20, 2)`), []string{"parent", "child", "logged"}, nil},
		{"update", tx(`UPDATE child SET parent = 2 WHERE id = 10`), []string{"child"}, []string{"child"}},
		{"update of no row", tx(`UPDATE child SET parent = 2 WHERE id = 99`), nil, nil},
		{"delete cascading", tx(`DELETE FROM parent WHERE id = 1`), []string{"parent"}, []string{"parent"}},
		{"delete cascading to a row", tx(`DELETE FROM parent WHERE id = 2`), []string{"parent", "child"}, []string{"parent", "child"}},
		{"delete without WHERE", tx(`DELETE FROM logged`), []string{"logged"}, []string{"logged"}},
		{"Exec outside a transaction", func() error { _, err := db.Exec(ctx, `INSERT INTO parent VALUES (3)`); return err }, []string{"parent", "logged"}, nil},
		{"insert and update in one transaction", tx(`INSERT INTO parent VALUES (4)`, `UPDATE other SET n = 2`), []string{"parent", "logged", "other"}, []string{"other"}},
		{"insert without rowid", tx(`INSERT INTO named VALUES ('a', 1)`), []string{"named"}, nil},
		{"upsert of an existing row", tx(`INSERT INTO named VALUES ('a', 2) ON CONFLICT (name) DO UPDATE SET n = excluded.n`), []string{"named"}, []string{"named"}},
		{"replace of an existing row", tx(`INSERT OR REPLACE INTO named VALUES ('a', 3)`), []string{"named"}, []string{"named"}},
		{"replace of an existing rowid", tx(`REPLACE INTO other (rowid, n) VALUES (1, 5)`), []string{"other"}, []string{"other"}},
		{"read only", tx(`SELECT * FROM other`), nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := read()
			if err := tc.run(); err != nil {
				t.Fatal(err)
			}
			after := read()
			for _, tb := range tables {
				grew := after.written[tb] > before.written[tb]
				if want := slices.Contains(tc.changed, tb); grew != want {
					t.Errorf("%s: version %d → %d, want grown %v", tb, before.written[tb], after.written[tb], want)
				}
				grew = after.altered[tb] > before.altered[tb]
				if want := slices.Contains(tc.altered, tb); grew != want {
					t.Errorf("%s: altered version %d → %d, want grown %v", tb, before.altered[tb], after.altered[tb], want)
				}
			}
		})
	}
}

// TestTableVersionConcurrentBatches: a transaction's writes are never seen
// with the old version once its Tx returned, however many transactions
// share its commit.
func TestTableVersionConcurrentBatches(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "keep.db"), sqlite.Options{})
	ctx := t.Context()
	if _, err := db.Exec(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			before := db.TableVersion("t")
			if _, err := db.Exec(ctx, `INSERT INTO t VALUES (?)`, i); err != nil {
				t.Error(err)
				return
			}
			if after := db.TableVersion("t"); after <= before {
				t.Errorf("version %d → %d after a committed insert", before, after)
			}
		}()
	}
	wg.Wait()
}
