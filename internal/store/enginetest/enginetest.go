package enginetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/postgres"
	"github.com/keep-dev/keep/internal/store/sqlite"
)

// PostgresURLEnv names the environment variable that enables PostgreSQL
// tests. It holds a URL of a database the tests may create schemas in.
const PostgresURLEnv = "KEEP_TEST_POSTGRES_URL"

// SQLite opens a fresh SQLite engine in t.TempDir and closes it when the
// test ends.
func SQLite(t testing.TB) store.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "keep.db"), sqlite.Options{})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Postgres opens a PostgreSQL engine on a fresh schema (see [PostgresURL])
// and closes it when the test ends. It skips the test when
// KEEP_TEST_POSTGRES_URL is not set.
func Postgres(t testing.TB) store.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), PostgresURL(t), postgres.Options{})
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// PostgresURL creates a uniquely named empty schema and returns
// KEEP_TEST_POSTGRES_URL with search_path set to it, for tests that open the
// engine themselves. The schema is dropped, with everything in it, when the
// test ends; close engines opened on it in an earlier-registered cleanup or
// before the test returns. It skips the test when KEEP_TEST_POSTGRES_URL is
// not set.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresURLEnv)
	if base == "" {
		t.Skip(PostgresURLEnv + " not set: skipping PostgreSQL tests")
	}
	// The "pgx" driver is registered by the postgres engine's import of
	// pgx/v5/stdlib.
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open %s: %v", PostgresURLEnv, err)
	}
	schema := "keep_test_" + strings.ToLower(rand.Text())
	if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return withSearchPath(base, schema)
}

// withSearchPath sets search_path in a URL or keyword/value connection string.
func withSearchPath(conn, schema string) string {
	if strings.HasPrefix(conn, "postgres://") || strings.HasPrefix(conn, "postgresql://") {
		if u, err := url.Parse(conn); err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return conn + " search_path=" + schema
}

// Each runs fn as the subtests "sqlite" and "postgres", passing the opener
// for that engine. The postgres subtest skips unless KEEP_TEST_POSTGRES_URL
// is set.
func Each(t *testing.T, fn func(t *testing.T, open func(t testing.TB) store.DB)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres) })
}
