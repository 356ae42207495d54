package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keep-dev/keep/internal/store"
)

// conn is what *sql.DB and *sql.Tx have in common.
type conn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// querier adapts a pool or a transaction to store.Querier: it rebinds `?`
// placeholders and maps errors.
type querier struct{ c conn }

func (q querier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.c.ExecContext(ctx, store.Postgres.Rebind(query), args...)
	if err != nil {
		return 0, mapErr(err)
	}
	n, err := res.RowsAffected()
	return n, mapErr(err)
}

func (q querier) Query(ctx context.Context, query string, args ...any) (store.Rows, error) {
	r, err := q.c.QueryContext(ctx, store.Postgres.Rebind(query), args...)
	if err != nil {
		return nil, mapErr(err)
	}
	return rows{r}, nil
}

func (q querier) QueryRow(ctx context.Context, query string, args ...any) store.Row {
	return row{r: q.c.QueryRowContext(ctx, store.Postgres.Rebind(query), args...)}
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

// SQLSTATE codes the engine maps (PostgreSQL Appendix A).
const (
	uniqueViolation      = "23505"
	foreignKeyViolation  = "23503"
	serializationFailure = "40001"
	deadlockDetected     = "40P01"
	lockNotAvailable     = "55P03"
)

// mapErr wraps a driver error with the store sentinel it stands for, keeping
// the driver error as the cause for logs. Other errors pass through as they are.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %w", store.ErrNotFound, err)
	}
	var kind error
	switch sqlState(err) {
	case uniqueViolation:
		kind = store.ErrConflict
	case foreignKeyViolation:
		kind = store.ErrForeignKey
	case serializationFailure, deadlockDetected, lockNotAvailable:
		kind = store.ErrBusy
	case "22021", "22P05", "54000": // bad byte sequence (NUL), bad unicode escape in jsonb, index row too large
		kind = store.ErrInvalidValue
	default:
		return err
	}
	return fmt.Errorf("%w: %w", kind, err)
}

// retryable reports whether PostgreSQL aborted the transaction in a way
// that running it again can cure.
func retryable(err error) bool {
	s := sqlState(err)
	return s == serializationFailure || s == deadlockDetected
}

func sqlState(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
