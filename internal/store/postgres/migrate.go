package postgres

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

// migrationLock is the pg_advisory_xact_lock key every Keep process takes
// before it looks at or changes _keep_migrations ("keepmigr" in ASCII). It is
// held until the transaction ends, so a second process waits and then, under
// READ COMMITTED, sees what the first committed. Even CREATE TABLE IF NOT
// EXISTS needs it: run concurrently it can fail with a unique violation in
// the catalog.
const migrationLock int64 = 0x6b6565706d696772

var migrator = sqldb.Migrator{
	Engine:  "postgres",
	Dialect: store.Postgres,
	CreateTable: `CREATE TABLE IF NOT EXISTS _keep_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`,
	Lock: func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock)
		return err
	},
	MapErr: mapErr,
}

// migrate applies pending migrations one transaction each.
func migrate(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	ms, err := sqldb.LoadMigrations(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return migrator.Run(ctx, db, ms, log)
}
