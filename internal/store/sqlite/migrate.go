package sqlite

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
			return nil, fmt.Errorf("sqlite: migration %s: name must be NNNN_name.sql", e.Name())
		}
		if version != len(ms)+1 {
			return nil, fmt.Errorf("sqlite: migration %s: want version %d", e.Name(), len(ms)+1)
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: version, name: name, sql: string(b)})
	}
	return ms, nil
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS _keep_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
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
// nil when none is pending. The writer pool begins IMMEDIATE, so the check and
// the apply happen under the write lock: a second process opening the file at
// the same time waits, then finds the migration recorded.
func applyNext(ctx context.Context, db *sql.DB, ms []migration) (*migration, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: migrate: %w", mapErr(err))
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, createMigrationsTable); err != nil {
		return nil, fmt.Errorf("sqlite: migrate: %w", mapErr(err))
	}
	var latest int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM _keep_migrations`).Scan(&latest); err != nil {
		return nil, fmt.Errorf("sqlite: migrate: %w", mapErr(err))
	}
	if n := len(ms); n > 0 && latest > ms[n-1].version {
		return nil, fmt.Errorf("sqlite: database is at migration %d, newer than this build knows (%d)", latest, ms[n-1].version)
	}
	for i := range ms {
		m := &ms[i]
		if m.version <= latest {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return nil, fmt.Errorf("sqlite: migration %04d_%s: %w", m.version, m.name, mapErr(err))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO _keep_migrations (version, name) VALUES (?, ?)`, m.version, m.name); err != nil {
			return nil, fmt.Errorf("sqlite: migration %04d_%s: %w", m.version, m.name, mapErr(err))
		}
		if err := tx.Commit(); err != nil {
			return nil, fmt.Errorf("sqlite: migration %04d_%s: %w", m.version, m.name, mapErr(err))
		}
		return m, nil
	}
	return nil, tx.Commit()
}
