package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/keep-dev/keep/internal/store"
)

// conn is what *sql.DB and *sql.Tx have in common.
type conn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// querier adapts a pool or a transaction to store.Querier, mapping errors.
type querier struct{ c conn }

func (q querier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.c.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, mapErr(err)
	}
	n, err := res.RowsAffected()
	return n, mapErr(err)
}

func (q querier) Query(ctx context.Context, query string, args ...any) (store.Rows, error) {
	r, err := q.c.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	return rows{r}, nil
}

func (q querier) QueryRow(ctx context.Context, query string, args ...any) store.Row {
	return row{r: q.c.QueryRowContext(ctx, query, args...)}
}

type rows struct{ *sql.Rows }

func (r rows) Scan(dest ...any) error { return mapErr(r.Rows.Scan(dest...)) }
func (r rows) Err() error             { return mapErr(r.Rows.Err()) }
func (r rows) Close() error           { return mapErr(r.Rows.Close()) }

type row struct {
	r   *sql.Row
	err error
}

func (r row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	return mapErr(r.r.Scan(dest...))
}

// fkMessage is SQLite's fixed text for every foreign key failure.
const fkMessage = "FOREIGN KEY constraint failed"

// mapErr wraps a driver error with the store sentinel it stands for, keeping
// the driver error as the cause for logs. Other errors pass through as they are.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %w", store.ErrNotFound, err)
	}
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return err
	}
	// Extended result codes are on, so Code is e.g. SQLITE_CONSTRAINT_UNIQUE;
	// its low byte is the primary code.
	var kind error
	switch code := e.Code(); {
	case code == sqlite3.SQLITE_CONSTRAINT_UNIQUE, code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		kind = store.ErrConflict
	case code == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		kind = store.ErrForeignKey
	case code == sqlite3.SQLITE_CONSTRAINT_TRIGGER && strings.Contains(e.Error(), fkMessage):
		// SQLite enforces ON DELETE/UPDATE RESTRICT with a built-in trigger
		// that raises fkMessage, so the code alone cannot tell it from a
		// user trigger's RAISE.
		kind = store.ErrForeignKey
	case code&0xff == sqlite3.SQLITE_BUSY, code&0xff == sqlite3.SQLITE_LOCKED:
		kind = store.ErrBusy
	default:
		return err
	}
	return fmt.Errorf("%w: %w", kind, err)
}
