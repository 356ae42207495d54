package postgres

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/sqldb"
)

// querier adapts a pool or a transaction to store.Querier.
func querier(c sqldb.Conn) sqldb.Querier {
	return sqldb.Querier{C: c, Dialect: store.Postgres, MapErr: mapErr}
}

// SQLSTATE codes the engine maps (PostgreSQL Appendix A).
const (
	uniqueViolation      = "23505"
	foreignKeyViolation  = "23503"
	serializationFailure = "40001"
	deadlockDetected     = "40P01"
	lockNotAvailable     = "55P03"
	featureNotSupported  = "0A000"
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
	return s == serializationFailure || s == deadlockDetected || staleCachedPlan(err)
}

// staleCachedPlan reports PostgreSQL's refusal to run a statement that pgx
// prepared and cached on this connection before a schema change altered its
// result columns ("cached plan must not change result type"). pgx drops the
// statement on that error, so running it again prepares it afresh; nothing
// ran, so a retry is safe.
func staleCachedPlan(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == featureNotSupported && strings.Contains(e.Message, "cached plan")
}

// staleRetries bounds the retries of a statement whose cached plan went
// stale: each connection of the pool may hold its own stale copy.
const staleRetries = 4

func sqlState(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
