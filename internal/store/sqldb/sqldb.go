// Package sqldb is what the database/sql based engines share: a Querier that
// rebinds placeholders and maps errors, and the runner of embedded, versioned
// migrations. Each engine supplies only what differs: its dialect, its error
// mapping and its migration lock.
package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"strconv"
	"strings"

	"github.com/keep-dev/keep/internal/store"
)

// Conn is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type Conn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Querier adapts a Conn to store.Querier: it rebinds `?` placeholders for
// Dialect and passes every error through MapErr.
type Querier struct {
	C       Conn
	Dialect store.Dialect
	MapErr  func(error) error
	// Stmts, when set, is the statement cache of the pool C is (or whose
	// transaction C is).
	Stmts *StmtCache
	// Gate, when set, admits the calls to C (a pool) in arrival order; a
	// call holds its slot until its rows are closed or its row scanned.
	Gate *Gate
}

// Exec runs a statement and reports the rows it affected.
func (q Querier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	if err := q.Gate.Enter(ctx); err != nil {
		return 0, err
	}
	defer q.Gate.Leave()
	query = q.Dialect.Rebind(query)
	var res sql.Result
	var err error
	if s := q.prepared(ctx, query); s != nil {
		res, err = s.ExecContext(ctx, args...)
	} else {
		res, err = q.C.ExecContext(ctx, query, args...)
	}
	if err != nil {
		return 0, q.MapErr(err)
	}
	n, err := res.RowsAffected()
	return n, q.MapErr(err)
}

// Query runs a query; the caller closes the rows.
func (q Querier) Query(ctx context.Context, query string, args ...any) (store.Rows, error) {
	if err := q.Gate.Enter(ctx); err != nil {
		return nil, err
	}
	query = q.Dialect.Rebind(query)
	var r *sql.Rows
	var err error
	if s := q.prepared(ctx, query); s != nil {
		r, err = s.QueryContext(ctx, args...)
	} else {
		r, err = q.C.QueryContext(ctx, query, args...)
	}
	if err != nil {
		q.Gate.Leave()
		return nil, q.MapErr(err)
	}
	return &rows{Rows: r, mapErr: q.MapErr, gate: q.Gate}, nil
}

// QueryRow runs a query for one row.
func (q Querier) QueryRow(ctx context.Context, query string, args ...any) store.Row {
	if err := q.Gate.Enter(ctx); err != nil {
		return ErrRow(err)
	}
	query = q.Dialect.Rebind(query)
	if s := q.prepared(ctx, query); s != nil {
		return &row{r: s.QueryRowContext(ctx, args...), mapErr: q.MapErr, gate: q.Gate}
	}
	return &row{r: q.C.QueryRowContext(ctx, query, args...), mapErr: q.MapErr, gate: q.Gate}
}

// rows leaves its gate once, when the rows end or are closed, whichever
// comes first (database/sql frees the connection at either).
type rows struct {
	*sql.Rows
	mapErr func(error) error
	gate   *Gate
	left   bool
}

func (r *rows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.leave()
	return false
}

func (r *rows) Scan(dest ...any) error { return r.mapErr(r.Rows.Scan(dest...)) }
func (r *rows) Err() error             { return r.mapErr(r.Rows.Err()) }

func (r *rows) Close() error {
	err := r.mapErr(r.Rows.Close())
	r.leave()
	return err
}

func (r *rows) leave() {
	if !r.left {
		r.left = true
		r.gate.Leave()
	}
}

// row holds its gate's slot until Scan, which frees the connection.
type row struct {
	r      *sql.Row
	mapErr func(error) error
	gate   *Gate
	left   bool
}

func (r *row) Scan(dest ...any) error {
	if !r.left {
		r.left = true
		defer r.gate.Leave()
	}
	return r.mapErr(r.r.Scan(dest...))
}

// Migration is one embedded NNNN_name.sql file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// LoadMigrations reads dir/NNNN_name.sql from fsys in version order.
// Versions must run 1, 2, 3, … without gaps, so a migration added with a
// number below the latest (which would never be applied) fails every test.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range entries {
		base, _ := strings.CutSuffix(e.Name(), ".sql")
		v, name, ok := strings.Cut(base, "_")
		version, err := strconv.Atoi(v)
		if !ok || err != nil || name == "" {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", e.Name())
		}
		if version != len(ms)+1 {
			return nil, fmt.Errorf("migration %s: want version %d", e.Name(), len(ms)+1)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: version, Name: name, SQL: string(b)})
	}
	return ms, nil
}

// Migrator applies migrations, one transaction each, recorded in
// _keep_migrations.
type Migrator struct {
	Engine      string // for messages: "sqlite", "postgres"
	Dialect     store.Dialect
	CreateTable string // CREATE TABLE IF NOT EXISTS _keep_migrations …
	// Lock, when set, runs first in every migration transaction, so that
	// processes opening one database at once apply each migration once.
	Lock   func(ctx context.Context, tx *sql.Tx) error
	MapErr func(error) error
}

// Run applies every pending migration of ms to db.
func (m Migrator) Run(ctx context.Context, db *sql.DB, ms []Migration, log *slog.Logger) error {
	for {
		applied, err := m.applyNext(ctx, db, ms)
		if err != nil {
			return err
		}
		if applied == nil {
			return nil
		}
		log.InfoContext(ctx, "applied migration", "version", applied.Version, "name", applied.Name)
	}
}

// applyNext applies the first migration not yet recorded and returns it, or
// nil when none is pending. The check and the apply share one transaction
// under the engine's lock, so a second process waits and then finds the
// migration recorded.
func (m Migrator) applyNext(ctx context.Context, db *sql.DB, ms []Migration) (*Migration, error) {
	fail := func(what string, err error) error {
		return fmt.Errorf("%s: %s: %w", m.Engine, what, m.MapErr(err))
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fail("migrate", err)
	}
	defer tx.Rollback()
	if m.Lock != nil {
		if err := m.Lock(ctx, tx); err != nil {
			return nil, fail("migrate", err)
		}
	}
	if _, err := tx.ExecContext(ctx, m.CreateTable); err != nil {
		return nil, fail("migrate", err)
	}
	var latest int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM _keep_migrations`).Scan(&latest); err != nil {
		return nil, fail("migrate", err)
	}
	if n := len(ms); n > 0 && latest > ms[n-1].Version {
		return nil, fmt.Errorf("%s: database is at migration %d, newer than this build knows (%d)", m.Engine, latest, ms[n-1].Version)
	}
	for i := range ms {
		mig := &ms[i]
		if mig.Version <= latest {
			continue
		}
		what := fmt.Sprintf("migration %04d_%s", mig.Version, mig.Name)
		// Without arguments both drivers run a multi-statement file in one
		// call (pgx through its simple protocol).
		if _, err := tx.ExecContext(ctx, mig.SQL); err != nil {
			return nil, fail(what, err)
		}
		if _, err := tx.ExecContext(ctx, m.Dialect.Rebind(`INSERT INTO _keep_migrations (version, name) VALUES (?, ?)`), mig.Version, mig.Name); err != nil {
			return nil, fail(what, err)
		}
		if err := tx.Commit(); err != nil {
			return nil, fail(what, err)
		}
		return mig, nil
	}
	return nil, tx.Commit()
}

// ErrRow is a Row whose Scan fails with err, for queries refused before they
// run (a closed database).
func ErrRow(err error) store.Row { return errRow{err} }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
