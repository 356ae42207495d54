package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/sqldb"
)

// querier adapts a pool or a transaction to store.Querier.
func querier(c sqldb.Conn) sqldb.Querier {
	return sqldb.Querier{C: c, Dialect: store.SQLite, MapErr: mapErr}
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
