package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads migrations/NNNN_name.sql in version order. Versions
// must run 1, 2, 3, … without gaps, so a migration added with a number below
// the latest (which would never be applied) fails every test instead.
func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		base, _ := strings.CutSuffix(e.Name(), ".sql")
		v, name, ok := strings.Cut(base, "_")
		version, err := strconv.Atoi(v)
		if !ok || err != nil || name == "" {
			return nil, fmt.Errorf("postgres: migration %s: name must be NNNN_name.sql", e.Name())
		}
		if version != len(ms)+1 {
			return nil, fmt.Errorf("postgres: migration %s: want version %d", e.Name(), len(ms)+1)
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: version, name: name, sql: string(b)})
	}
	return ms, nil
}

// migrationLock is the pg_advisory_xact_lock key every Keep process takes
// before it looks at or changes _keep_migrations ("keepmigr" in ASCII).
const migrationLock int64 = 0x6b6565706d696772

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS _keep_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`

// migrate applies pending migrations one transaction each.
func migrate(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	for {
		m, err := applyNext(ctx, db, ms)
		if err != nil {
			return err
		}
		if m == nil {
			return nil
		}
		log.InfoContext(ctx, "applied migration", "version", m.version, "name", m.name)
	}
}

// applyNext applies the first migration not yet recorded and returns it, or
// nil when none is pending. The advisory lock is held until the transaction
// ends, so a second process waits and then, under READ COMMITTED, sees what
// the first committed. Even CREATE TABLE IF NOT EXISTS needs the lock: run
// concurrently it can fail with a unique violation in the catalog.
func applyNext(ctx context.Context, db *sql.DB, ms []migration) (*migration, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("postgres: migrate: %w", mapErr(err))
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
		return nil, fmt.Errorf("postgres: migrate: %w", mapErr(err))
	}
	if _, err := tx.ExecContext(ctx, createMigrationsTable); err != nil {
		return nil, fmt.Errorf("postgres: migrate: %w", mapErr(err))
	}
	var latest int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM _keep_migrations`).Scan(&latest); err != nil {
		return nil, fmt.Errorf("postgres: migrate: %w", mapErr(err))
	}
	if n := len(ms); n > 0 && latest > ms[n-1].version {
		return nil, fmt.Errorf("postgres: database is at migration %d, newer than this build knows (%d)", latest, ms[n-1].version)
	}
	for i := range ms {
		m := &ms[i]
		if m.version <= latest {
			continue
		}
		// Without arguments pgx uses the simple protocol, which runs a
		// multi-statement file in one call.
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return nil, fmt.Errorf("postgres: migration %04d_%s: %w", m.version, m.name, mapErr(err))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO _keep_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
			return nil, fmt.Errorf("postgres: migration %04d_%s: %w", m.version, m.name, mapErr(err))
		}
		if err := tx.Commit(); err != nil {
			return nil, fmt.Errorf("postgres: migration %04d_%s: %w", m.version, m.name, mapErr(err))
		}
		return m, nil
	}
	return nil, tx.Commit()
}
