package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keep-dev/keep/internal/store"
)

// Run runs the contract suite. Every subtest opens its own database with
// open, which must return a fresh, migrated database and close it when the
// test ends; subtests run in parallel.
func Run(t *testing.T, open func(t testing.TB) store.DB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db store.DB)
	}{
		{"Migrations", testMigrations},
		{"RoundTrip", testRoundTrip},
		{"NotFound", testNotFound},
		{"Conflict", testConflict},
		{"ForeignKey", testForeignKey},
		{"Exec", testExec},
		{"Query", testQuery},
		{"TxCommit", testTxCommit},
		{"TxRollbackOnError", testTxRollbackOnError},
		{"TxRollbackOnPanic", testTxRollbackOnPanic},
		{"AfterCommit", testAfterCommit},
		{"SchemaChangeAfterUse", testSchemaChangeAfterUse},
		{"ConcurrentWriters", testConcurrentWriters},
		{"ReadersNotBlocked", testReadersNotBlocked},
		{"PingAndStats", testPingAndStats},
		{"Closed", testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}

// usersCollectionSchema is the schema document of the built-in users
// collection as the first migration stores it.
const usersCollectionSchema = `{"fields":[],"rules":{"list":null,"view":"id == auth.id","create":null,"update":"id == auth.id","delete":null}}`

func testMigrations(t *testing.T, db store.DB) {
	if d := db.Dialect(); d != store.SQLite && d != store.Postgres {
		t.Fatalf("Dialect() = %q", d)
	}
	tables := []struct {
		name string
		cols []string
	}{
		{"_keep_migrations", []string{"version", "name", "applied_at"}},
		{"_keep_collections", []string{"id", "name", "system", "schema", "version", "created", "updated"}},
		{"c_users", []string{"id", "created", "updated", "email", "password_hash", "verified", "disabled"}},
		{"_keep_user_roles", []string{"user_id", "role", "created"}},
		{"_keep_signing_keys", []string{"kid", "algorithm", "private_key", "public_key", "created", "retired"}},
		{"_keep_sessions", []string{"id", "user_id", "created", "last_used", "expires_at", "ip", "user_agent", "revoked_at", "revoke_reason"}},
		{"_keep_refresh_tokens", []string{"hash", "session_id", "created", "used_at", "replaced_by"}},
		{"_keep_login_attempts", []string{"identifier", "failures", "window_start", "locked_until", "lock_count"}},
		{"_keep_tokens", []string{"hash", "kind", "user_id", "created", "expires_at", "used_at"}},
		{"_keep_outbox", []string{"id", "created", "recipient", "subject", "body", "attempts", "next_attempt", "sent_at", "last_error"}},
		{"_keep_mfa_totp", []string{"user_id", "secret", "created", "confirmed_at", "last_step"}},
		{"_keep_recovery_codes", []string{"user_id", "hash", "used_at"}},
		{"_keep_api_keys", []string{"id", "user_id", "name", "hash", "roles", "created", "created_by", "expires_at", "last_used", "revoked_at"}},
		{"_keep_roles", []string{"name", "description", "permissions", "system", "created", "updated"}},
	}
	for _, tt := range tables {
		t.Run("table "+tt.name, func(t *testing.T) {
			rows, err := db.Query(t.Context(), "SELECT * FROM "+tt.name+" WHERE 1 = 0")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			cols, err := rows.Columns()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.cols, cols); diff != "" {
				t.Errorf("columns (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("recorded", func(t *testing.T) {
		rows, err := db.Query(t.Context(), "SELECT version, name FROM _keep_migrations ORDER BY version")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var names []string
		for want := 1; rows.Next(); want++ {
			var v int
			var name string
			if err := rows.Scan(&v, &name); err != nil {
				t.Fatal(err)
			}
			if v != want {
				t.Fatalf("migration versions skip from %d to %d", want-1, v)
			}
			names = append(names, name)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if len(names) == 0 || names[0] != "init" {
			t.Errorf("migrations = %q, want init first", names)
		}
	})

	t.Run("users collection", func(t *testing.T) {
		type collection struct {
			Name    string
			System  bool
			Schema  string
			Version int
		}
		var got collection
		err := db.QueryRow(t.Context(), "SELECT name, system, schema, version FROM _keep_collections WHERE id = ?", "users0000000000").
			Scan(&got.Name, &got.System, &got.Schema, &got.Version)
		if err != nil {
			t.Fatal(err)
		}
		want := collection{Name: "users", System: true, Schema: usersCollectionSchema, Version: 1}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("users collection (-want +got):\n%s", diff)
		}
	})

	t.Run("user constraints", func(t *testing.T) {
		// Timestamps are passed as text in the fixed layout; PostgreSQL
		// parses it into TIMESTAMPTZ.
		const now = "2026-01-02T03:04:05.678Z"
		addUser := func(id, email string) error {
			_, err := db.Exec(t.Context(), "INSERT INTO c_users (id, created, updated, email, password_hash) VALUES (?, ?, ?, ?, ?)",
				id, now, now, email, "hash")
			return err
		}
		addRole := func(userID, role string) error {
			_, err := db.Exec(t.Context(), "INSERT INTO _keep_user_roles (user_id, role, created) VALUES (?, ?, ?)", userID, role, now)
			return err
		}
		if err := addUser("u1", "a@example.com"); err != nil {
			t.Fatal(err)
		}
		wantErr(t, addUser("u1", "b@example.com"), store.ErrConflict)
		wantErr(t, addUser("u2", "a@example.com"), store.ErrConflict)
		if err := addRole("u1", "admin"); err != nil {
			t.Fatal(err)
		}
		wantErr(t, addRole("u1", "admin"), store.ErrConflict)
		wantErr(t, addRole("nobody", "admin"), store.ErrForeignKey)
		if _, err := db.Exec(t.Context(), "DELETE FROM c_users WHERE id = ?", "u1"); err != nil {
			t.Fatal(err)
		}
		if n := count(t, db, "_keep_user_roles"); n != 0 {
			t.Errorf("roles after deleting their user = %d, want 0 (ON DELETE CASCADE)", n)
		}
	})
}

func testRoundTrip(t *testing.T, db store.DB) {
	mustTx(t, db, pick(db,
		`CREATE TABLE kinds (id INTEGER PRIMARY KEY, s TEXT NOT NULL, i INTEGER NOT NULL, f REAL NOT NULL, b INTEGER NOT NULL, data BLOB NOT NULL, n_s TEXT, n_i INTEGER, n_data BLOB)`,
		`CREATE TABLE kinds (id BIGINT PRIMARY KEY, s TEXT NOT NULL, i BIGINT NOT NULL, f DOUBLE PRECISION NOT NULL, b BOOLEAN NOT NULL, data BYTEA NOT NULL, n_s TEXT, n_i BIGINT, n_data BYTEA)`))

	type kinds struct {
		S    string
		I    int64
		F    float64
		B    bool
		Data []byte
	}
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	want := []kinds{
		{S: "", I: 0, F: 0, B: false, Data: []byte{0}},
		{S: "héllo, 世界 ✓", I: 42, F: 3.25, B: true, Data: []byte("bytes")},
		{S: strings.Repeat("x", 1<<16), I: math.MaxInt64, F: -math.MaxFloat64, B: false, Data: all},
		{S: `'; DROP TABLE kinds; -- "?"`, I: math.MinInt64, F: 1e-300, B: true, Data: []byte{0xff, 0, 0x80}},
	}
	err := db.Tx(t.Context(), func(q store.Querier) error {
		for i, k := range want {
			if _, err := q.Exec(t.Context(), "INSERT INTO kinds (id, s, i, f, b, data) VALUES (?, ?, ?, ?, ?, ?)",
				i, k.S, k.I, k.F, k.B, k.Data); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	rows, err := db.Query(t.Context(), "SELECT s, i, f, b, data FROM kinds ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []kinds
	for rows.Next() {
		var k kinds
		if err := rows.Scan(&k.S, &k.I, &k.F, &k.B, &k.Data); err != nil {
			t.Fatal(err)
		}
		got = append(got, k)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}

	t.Run("NULL", func(t *testing.T) {
		var (
			ns   sql.NullString
			ni   sql.NullInt64
			ps   *string
			data []byte
		)
		err := db.QueryRow(t.Context(), "SELECT n_s, n_i, n_s, n_data FROM kinds WHERE id = ?", 1).Scan(&ns, &ni, &ps, &data)
		if err != nil {
			t.Fatal(err)
		}
		if ns.Valid || ni.Valid || ps != nil || data != nil {
			t.Errorf("NULLs scanned as %v, %v, %v, %v", ns, ni, ps, data)
		}
		if _, err := db.Exec(t.Context(), "UPDATE kinds SET n_s = ? WHERE id = ?", nil, 1); err != nil {
			t.Errorf("binding nil: %v", err)
		}
	})
}

func testNotFound(t *testing.T, db store.DB) {
	var id string
	err := db.QueryRow(t.Context(), "SELECT id FROM _keep_collections WHERE id = ?", "missing").Scan(&id)
	wantErr(t, err, store.ErrNotFound)

	err = db.Tx(t.Context(), func(q store.Querier) error {
		return q.QueryRow(t.Context(), "SELECT id FROM _keep_collections WHERE id = ?", "missing").Scan(&id)
	})
	wantErr(t, err, store.ErrNotFound)
}

func testConflict(t *testing.T, db store.DB) {
	mustTx(t, db, pick(db,
		`CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE)`,
		`CREATE TABLE accounts (id BIGINT PRIMARY KEY, email TEXT NOT NULL UNIQUE)`),
		`INSERT INTO accounts (id, email) VALUES (1, 'a@example.com')`)
	for _, w := range writeWays(db) {
		t.Run(w.name, func(t *testing.T) {
			wantErr(t, w.exec(t, "INSERT INTO accounts (id, email) VALUES (?, ?)", 1, "other@example.com"), store.ErrConflict)
			wantErr(t, w.exec(t, "INSERT INTO accounts (id, email) VALUES (?, ?)", 2, "a@example.com"), store.ErrConflict)
		})
	}
	if n := count(t, db, "accounts"); n != 1 {
		t.Errorf("rows = %d, want 1", n)
	}
}

func testForeignKey(t *testing.T, db store.DB) {
	// children restricts; wards take the default action (NO ACTION), which
	// engines check at a different point.
	mustTx(t, db,
		`CREATE TABLE parents (id TEXT PRIMARY KEY)`,
		`CREATE TABLE children (id TEXT PRIMARY KEY, parent_id TEXT NOT NULL REFERENCES parents(id) ON DELETE RESTRICT ON UPDATE RESTRICT)`,
		`CREATE TABLE wards (id TEXT PRIMARY KEY, parent_id TEXT REFERENCES parents(id))`,
		`INSERT INTO parents (id) VALUES ('p'), ('q')`,
		`INSERT INTO children (id, parent_id) VALUES ('c', 'p')`,
		`INSERT INTO wards (id, parent_id) VALUES ('w', 'q')`)
	steps := []struct {
		name  string
		query string
		args  []any
	}{
		{"insert missing parent", "INSERT INTO children (id, parent_id) VALUES (?, ?)", []any{"c2", "missing"}},
		{"update to missing parent", "UPDATE children SET parent_id = ? WHERE id = ?", []any{"missing", "c"}},
		{"delete restricted", "DELETE FROM parents WHERE id = ?", []any{"p"}},
		{"update restricted key", "UPDATE parents SET id = ? WHERE id = ?", []any{"p2", "p"}},
		{"delete referenced", "DELETE FROM parents WHERE id = ?", []any{"q"}},
	}
	for _, w := range writeWays(db) {
		for _, s := range steps {
			t.Run(w.name+"/"+s.name, func(t *testing.T) {
				wantErr(t, w.exec(t, s.query, s.args...), store.ErrForeignKey)
			})
		}
	}
	if n := count(t, db, "parents"); n != 2 {
		t.Errorf("parents = %d, want 2", n)
	}
}

func testExec(t *testing.T, db store.DB) {
	mustTx(t, db, `CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT NOT NULL)`)
	steps := []struct {
		query string
		args  []any
		want  int64
	}{
		{"INSERT INTO notes (id, body) VALUES (?, ?)", []any{"a", "one"}, 1},
		{"INSERT INTO notes (id, body) VALUES (?, ?), (?, ?)", []any{"b", "two", "c", "three"}, 2},
		{"UPDATE notes SET body = ?", []any{"same"}, 3},
		{"DELETE FROM notes WHERE id IN (?, ?)", []any{"a", "missing"}, 1},
		{"DELETE FROM notes WHERE id = ?", []any{"missing"}, 0},
	}
	for _, s := range steps {
		n, err := db.Exec(t.Context(), s.query, s.args...)
		if err != nil {
			t.Fatalf("%s: %v", s.query, err)
		}
		if n != s.want {
			t.Errorf("%s: rows affected = %d, want %d", s.query, n, s.want)
		}
	}
	if n := count(t, db, "notes"); n != 2 {
		t.Errorf("rows = %d, want 2", n)
	}
}

func testQuery(t *testing.T, db store.DB) {
	mustTx(t, db, `CREATE TABLE words (id TEXT PRIMARY KEY, pos INTEGER NOT NULL)`,
		`INSERT INTO words (id, pos) VALUES ('b', 2), ('a', 1), ('c', 3)`)

	t.Run("rows", func(t *testing.T) {
		rows, err := db.Query(t.Context(), "SELECT id, pos FROM words WHERE pos >= ? ORDER BY pos", 2)
		if err != nil {
			t.Fatal(err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"id", "pos"}, cols); diff != "" {
			t.Errorf("columns (-want +got):\n%s", diff)
		}
		var got []string
		for rows.Next() {
			var id string
			var pos int
			if err := rows.Scan(&id, &pos); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprint(id, pos))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"b2", "c3"}, got); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
	})

	t.Run("close early", func(t *testing.T) {
		for range 3 * maxOpen(db) { // would exhaust the pool if Close leaked connections
			rows, err := db.Query(t.Context(), "SELECT id FROM words")
			if err != nil {
				t.Fatal(err)
			}
			if !rows.Next() {
				t.Fatal("no rows")
			}
			if err := rows.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("error through rows", func(t *testing.T) {
		// A violation may surface from Query or only from Rows.Err,
		// depending on the engine; both must be mapped.
		err := db.Tx(t.Context(), func(q store.Querier) error {
			rows, err := q.Query(t.Context(), "INSERT INTO words (id, pos) VALUES (?, ?) RETURNING id", "a", 9)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
			}
			return rows.Err()
		})
		wantErr(t, err, store.ErrConflict)
	})
}

func testTxCommit(t *testing.T, db store.DB) {
	mustTx(t, db, `CREATE TABLE items (id TEXT PRIMARY KEY)`)
	err := db.Tx(t.Context(), func(q store.Querier) error {
		for _, id := range []string{"a", "b", "c"} {
			if _, err := q.Exec(t.Context(), "INSERT INTO items (id) VALUES (?)", id); err != nil {
				return err
			}
		}
		if n := count(t, q, "items"); n != 3 {
			t.Errorf("inside the transaction: rows = %d, want 3", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "items"); n != 3 {
		t.Errorf("after commit: rows = %d, want 3", n)
	}
}

func testTxRollbackOnError(t *testing.T, db store.DB) {
	mustTx(t, db, `CREATE TABLE items (id TEXT PRIMARY KEY)`)
	errBoom := errors.New("boom")
	err := db.Tx(t.Context(), func(q store.Querier) error {
		if _, err := q.Exec(t.Context(), "INSERT INTO items (id) VALUES (?)", "a"); err != nil {
			return err
		}
		return fmt.Errorf("step two: %w", errBoom)
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Tx = %v, want the error fn returned", err)
	}
	if n := count(t, db, "items"); n != 0 {
		t.Errorf("rows = %d after rollback, want 0", n)
	}
}

func testTxRollbackOnPanic(t *testing.T, db store.DB) {
	mustTx(t, db, `CREATE TABLE items (id TEXT PRIMARY KEY)`)
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Errorf("recovered %v, want the panic to propagate", p)
			}
		}()
		db.Tx(t.Context(), func(q store.Querier) error {
			if _, err := q.Exec(t.Context(), "INSERT INTO items (id) VALUES (?)", "a"); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	if n := count(t, db, "items"); n != 0 {
		t.Errorf("rows = %d after panic, want 0", n)
	}
	// The connection went back to the pool: the next write works.
	mustTx(t, db, `INSERT INTO items (id) VALUES ('b')`)
}

func testConcurrentWriters(t *testing.T, db store.DB) {
	const writers, perWriter = 8, 50
	mustTx(t, db, `CREATE TABLE events (id TEXT PRIMARY KEY, writer INTEGER NOT NULL)`,
		`CREATE TABLE counters (id TEXT PRIMARY KEY, n INTEGER NOT NULL)`,
		`INSERT INTO counters (id, n) VALUES ('total', 0)`)
	var wg sync.WaitGroup
	errs := make(chan error, writers*perWriter)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				err := db.Tx(t.Context(), func(q store.Querier) error {
					if _, err := q.Exec(t.Context(), "INSERT INTO events (id, writer) VALUES (?, ?)", fmt.Sprintf("%d-%d", w, i), w); err != nil {
						return err
					}
					_, err := q.Exec(t.Context(), "UPDATE counters SET n = n + 1 WHERE id = ?", "total")
					return err
				})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Tx: %v", err)
	}
	if n := count(t, db, "events"); n != writers*perWriter {
		t.Errorf("events = %d, want %d", n, writers*perWriter)
	}
	var total int
	if err := db.QueryRow(t.Context(), "SELECT n FROM counters WHERE id = ?", "total").Scan(&total); err != nil {
		t.Fatal(err)
	}
	if total != writers*perWriter {
		t.Errorf("counter = %d, want %d (lost updates)", total, writers*perWriter)
	}
}

func testReadersNotBlocked(t *testing.T, db store.DB) {
	mustTx(t, db, `CREATE TABLE items (id TEXT PRIMARY KEY)`, `INSERT INTO items (id) VALUES ('committed')`)
	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- db.Tx(t.Context(), func(q store.Querier) error {
			if _, err := q.Exec(t.Context(), "INSERT INTO items (id) VALUES (?)", "pending"); err != nil {
				close(inside)
				return err
			}
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	var n int
	err := db.QueryRow(ctx, "SELECT COUNT(*) FROM items").Scan(&n)
	cancel()
	close(release)
	if err != nil {
		t.Errorf("read during a write transaction: %v", err)
	} else if n != 1 {
		t.Errorf("read during a write transaction saw %d rows, want 1 (uncommitted data visible)", n)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "items"); n != 2 {
		t.Errorf("after commit: rows = %d, want 2", n)
	}
}

func testPingAndStats(t *testing.T, db store.DB) {
	if err := db.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	stats := db.Stats()
	if len(stats) == 0 {
		t.Fatal("Stats() is empty")
	}
	for _, s := range stats {
		if s.Name == "" || s.MaxOpen <= 0 || s.Open < 0 || s.InUse < 0 || s.Idle < 0 {
			t.Errorf("implausible pool stats %+v", s)
		}
	}
}

func testClosed(t *testing.T, db store.DB) {
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	ctx := t.Context()
	_, execErr := db.Exec(ctx, "SELECT 1")
	_, queryErr := db.Query(ctx, "SELECT 1")
	var n int
	checks := map[string]error{
		"Ping":     db.Ping(ctx),
		"Exec":     execErr,
		"Query":    queryErr,
		"QueryRow": db.QueryRow(ctx, "SELECT 1").Scan(&n),
		"Tx":       db.Tx(ctx, func(store.Querier) error { return nil }),
	}
	for name, err := range checks {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close = %v, want store.ErrClosed", name, err)
		}
	}
}

// wantErr fails unless err is the mapped form of want: it matches want and
// still carries the driver's error as its cause.
func wantErr(t *testing.T, err, want error) {
	t.Helper()
	switch {
	case !errors.Is(err, want):
		t.Errorf("err = %v, want %v", err, want)
	case err == want:
		t.Errorf("err is the bare %v; the driver error must be kept as its cause", want)
	}
}

// writeWays are the two paths a write can take: straight on the DB, or in Tx.
func writeWays(db store.DB) []struct {
	name string
	exec func(t *testing.T, query string, args ...any) error
} {
	return []struct {
		name string
		exec func(t *testing.T, query string, args ...any) error
	}{
		{"Exec", func(t *testing.T, query string, args ...any) error {
			_, err := db.Exec(t.Context(), query, args...)
			return err
		}},
		{"Tx", func(t *testing.T, query string, args ...any) error {
			return db.Tx(t.Context(), func(q store.Querier) error {
				_, err := q.Exec(t.Context(), query, args...)
				return err
			})
		}},
	}
}

// pick returns the statement written for db's dialect.
func pick(db store.DB, sqlite, postgres string) string {
	if db.Dialect() == store.Postgres {
		return postgres
	}
	return sqlite
}

// mustTx runs statements in one transaction.
func mustTx(t *testing.T, db store.DB, stmts ...string) {
	t.Helper()
	err := db.Tx(t.Context(), func(q store.Querier) error {
		for _, s := range stmts {
			if _, err := q.Exec(t.Context(), s); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, q store.Querier, table string) int {
	t.Helper()
	var n int
	if err := q.QueryRow(t.Context(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func maxOpen(db store.DB) int {
	n := 0
	for _, s := range db.Stats() {
		n = max(n, s.MaxOpen)
	}
	return n
}

// testAfterCommit: a hook registered in a transaction runs once it commits,
// never when it rolls back; outside a transaction it runs at once.
func testAfterCommit(t *testing.T, db store.DB) {
	ctx := context.Background()
	var ran []string
	if err := db.Tx(ctx, func(q store.Querier) error {
		store.AfterCommit(q, func() { ran = append(ran, "committed") })
		if len(ran) != 0 {
			t.Error("the hook ran before the commit")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_ = db.Tx(ctx, func(q store.Querier) error {
		store.AfterCommit(q, func() { ran = append(ran, "rolled back") })
		return errors.New("roll back")
	})
	store.AfterCommit(db, func() { ran = append(ran, "autocommit") })
	if strings.Join(ran, ",") != "committed,autocommit" {
		t.Fatalf("hooks ran: %v", ran)
	}
}

// testSchemaChangeAfterUse: queries that ran before (and that an engine may
// keep prepared) see a column added since, and a table they read can still
// be dropped; afterwards they fail cleanly.
func testSchemaChangeAfterUse(t *testing.T, db store.DB) {
	ctx := context.Background()
	mustTx(t, db, `CREATE TABLE shapes (id TEXT PRIMARY KEY)`)
	mustTx(t, db, `INSERT INTO shapes (id) VALUES ('a')`)
	columns := func() int {
		t.Helper()
		rows, err := db.Query(ctx, `SELECT * FROM shapes`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
		}
		return len(cols)
	}
	inTx := func(query string) error {
		return db.Tx(ctx, func(q store.Querier) error {
			var id string
			return q.QueryRow(ctx, query).Scan(&id)
		})
	}
	for range 3 { // outside and inside transactions, more than once
		if columns() != 1 {
			t.Fatal("want 1 column")
		}
		if err := inTx(`SELECT id FROM shapes`); err != nil {
			t.Fatal(err)
		}
	}
	mustTx(t, db, `ALTER TABLE shapes ADD COLUMN extra TEXT`)
	if n := columns(); n != 2 {
		t.Fatalf("after ALTER TABLE: %d columns, want 2", n)
	}
	mustTx(t, db, `DROP TABLE shapes`)
	if _, err := db.Query(ctx, `SELECT * FROM shapes`); err == nil {
		t.Fatal("a query of a dropped table succeeded")
	}
	if err := inTx(`SELECT id FROM shapes`); err == nil {
		t.Fatal("a query of a dropped table succeeded in a transaction")
	}
}
