package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
	"github.com/keep-dev/keep/internal/store/postgres"
	"github.com/keep-dev/keep/internal/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, enginetest.Postgres)
}

func open(t *testing.T, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), url, postgres.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func migrations(t *testing.T, db store.DB) []string {
	t.Helper()
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
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestConcurrentOpen is several Keep processes starting at once on an empty
// schema: all open, and each migration is applied once.
func TestConcurrentOpen(t *testing.T) {
	url := enginetest.PostgresURL(t)
	dbs := make([]*postgres.DB, 4)
	var wg sync.WaitGroup
	for i := range dbs {
		wg.Go(func() {
			db, err := postgres.Open(t.Context(), url, postgres.Options{MaxConns: 2})
			if err != nil {
				t.Errorf("Open %d: %v", i, err)
				return
			}
			dbs[i] = db
		})
	}
	wg.Wait()
	for _, db := range dbs {
		if db != nil {
			defer db.Close() // before the schema is dropped
		}
	}
	if t.Failed() {
		return
	}
	var n int
	if err := dbs[0].QueryRow(t.Context(), "SELECT COUNT(*) FROM _keep_collections").Scan(&n); err != nil || n != 1 {
		t.Errorf("collections = %d, %v; want 1", n, err)
	}
	if got := migrations(t, dbs[0]); len(got) == 0 {
		t.Error("no migration recorded")
	}
}

func TestReopen(t *testing.T) {
	url := enginetest.PostgresURL(t)
	db, err := postgres.Open(t.Context(), url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	before := migrations(t, db)
	db.Close()
	if diff := cmp.Diff(before, migrations(t, open(t, url))); diff != "" {
		t.Errorf("migrations after reopen (-before +after):\n%s", diff)
	}
}

func TestNewerDatabaseRefused(t *testing.T) {
	url := enginetest.PostgresURL(t)
	db := open(t, url)
	if _, err := db.Exec(t.Context(), "INSERT INTO _keep_migrations (version, name) VALUES (?, ?)", 9999, "future"); err != nil {
		t.Fatal(err)
	}
	if db, err := postgres.Open(t.Context(), url, postgres.Options{}); err == nil {
		db.Close()
		t.Fatal("Open accepted a database migrated by a newer build")
	}
}

func TestBadURL(t *testing.T) {
	if db, err := postgres.Open(t.Context(), "postgres://user:secret@%zz/db", postgres.Options{}); err == nil {
		db.Close()
		t.Fatal("Open accepted a malformed URL")
	}
}

func TestTxRetry(t *testing.T) {
	db := enginetest.Postgres(t)
	tests := []struct {
		code      string
		wantCalls int
		want      error
	}{
		{"40001", 2, nil}, // serialization_failure
		{"40P01", 2, nil}, // deadlock_detected
		{"23505", 1, store.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			calls := 0
			err := db.Tx(t.Context(), func(store.Querier) error {
				if calls++; calls == 1 {
					if tt.want != nil {
						// What a failed statement returns: already mapped.
						return fmt.Errorf("%w: %w", tt.want, &pgconn.PgError{Code: tt.code})
					}
					return &pgconn.PgError{Code: tt.code}
				}
				return nil
			})
			if calls != tt.wantCalls || !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("Tx = %v after %d calls, want %v after %d", err, calls, tt.want, tt.wantCalls)
			}
		})
	}
}

// TestLockNotAvailable: a NOWAIT lock on a row another transaction holds is
// reported as store.ErrBusy.
func TestLockNotAvailable(t *testing.T) {
	db := enginetest.Postgres(t)
	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- db.Tx(t.Context(), func(q store.Querier) error {
			var id string
			err := q.QueryRow(t.Context(), "SELECT id FROM _keep_collections WHERE name = ? FOR UPDATE", "users").Scan(&id)
			close(inside)
			<-release
			return err
		})
	}()
	<-inside
	err := db.Tx(t.Context(), func(q store.Querier) error {
		var id string
		return q.QueryRow(t.Context(), "SELECT id FROM _keep_collections WHERE name = ? FOR UPDATE NOWAIT", "users").Scan(&id)
	})
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !errors.Is(err, store.ErrBusy) {
		t.Errorf("FOR UPDATE NOWAIT on a locked row = %v, want store.ErrBusy", err)
	}
}

// TestInvalidValues: values PostgreSQL cannot store map to ErrInvalidValue,
// so the API answers 4xx instead of 500.
func TestInvalidValues(t *testing.T) {
	db := enginetest.Postgres(t)
	ctx := context.Background()
	if err := db.Tx(ctx, func(q store.Querier) error {
		_, err := q.Exec(ctx, `CREATE TABLE iv (t TEXT, j JSONB)`)
		if err == nil {
			_, err = q.Exec(ctx, `CREATE INDEX iv_t ON iv (t)`)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		query string
		arg   any
	}{
		"nul in text":       {`INSERT INTO iv (t) VALUES (?)`, "a\x00b"},
		"nul escape jsonb":  {`INSERT INTO iv (j) VALUES (?)`, `{"a":"\u0000"}`},
		"index row too big": {`INSERT INTO iv (t) VALUES (?)`, randomHex(8000)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := db.Exec(ctx, tc.query, tc.arg)
			if !errors.Is(err, store.ErrInvalidValue) {
				t.Fatalf("want ErrInvalidValue, got %v", err)
			}
		})
	}
}

func randomHex(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
