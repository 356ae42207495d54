package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"log/slog"

	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/sqldb"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrator needs no lock of its own: migrate runs on the writer pool, whose
// transactions begin IMMEDIATE, so the check and the apply happen under the
// write lock and a second process opening the file waits, then finds the
// migration recorded.
var migrator = sqldb.Migrator{
	Engine:  "sqlite",
	Dialect: store.SQLite,
	CreateTable: `CREATE TABLE IF NOT EXISTS _keep_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)`,
	MapErr: mapErr,
}

// migrate applies pending migrations one transaction each.
func migrate(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	ms, err := sqldb.LoadMigrations(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return migrator.Run(ctx, db, ms, log)
}
