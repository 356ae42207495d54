package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors. Engines wrap their native errors so that errors.Is works
// with these; code above the store never inspects driver errors.
var (
	// ErrNotFound is returned by Row.Scan when the query produced no row.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict is a unique or primary key violation.
	ErrConflict = errors.New("store: conflict")
	// ErrForeignKey is a foreign key violation: a reference to a missing row,
	// or a delete restricted by rows that still reference it.
	ErrForeignKey = errors.New("store: foreign key violation")
	// ErrBusy means the engine could not get a lock in time.
	ErrBusy = errors.New("store: busy")
	// ErrInvalidValue means the engine refused a value it cannot store: a
	// string with NUL on PostgreSQL, or a value too large for its index.
	ErrInvalidValue = errors.New("store: value cannot be stored")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("store: closed")
)

// Dialect names the SQL dialect of an engine. Domain packages switch on it
// where the SQL they generate differs (column types, JSON and string
// functions); placeholders are always written as `?` and rebound by the engine.
type Dialect string

// The dialects Keep speaks.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// QuoteIdent quotes an identifier for either dialect. Callers only pass names
// that were validated against a strict pattern; quoting is defence in depth
// and keeps reserved words usable as field names.
func QuoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// Rebind rewrites `?` placeholders to the dialect's form ($1, $2, … for
// PostgreSQL). Keep never writes literals into SQL text, so every `?` outside
// a quoted identifier is a placeholder.
func (d Dialect) Rebind(query string) string {
	if d != Postgres || strings.IndexByte(query, '?') < 0 {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	inIdent := false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '"':
			inIdent = !inIdent
			b.WriteByte(c)
		case c == '?' && !inIdent:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Querier runs SQL with `?` placeholders. Errors are already mapped to the
// sentinels above. Implementations are safe for concurrent use unless they
// belong to a transaction.
type Querier interface {
	Exec(ctx context.Context, query string, args ...any) (rowsAffected int64, err error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) Row
}

// CommitNotifier is implemented by the Querier a transaction hands to its
// function: fn runs after the transaction commits, and never when it rolls
// back (or is retried from the start).
type CommitNotifier interface {
	AfterCommit(fn func())
}

// AfterCommit runs fn once what q wrote is committed: at commit for a
// transaction's Querier, at once for any other (its statements commit as
// they run).
func AfterCommit(q Querier, fn func()) {
	if n, ok := q.(CommitNotifier); ok {
		n.AfterCommit(fn)
		return
	}
	fn()
}

// TableVersions is implemented by an engine through which every write of
// this process passes on one connection (SQLite), so that it can tell,
// without a query, that a table may have changed. Callers keep what they
// derived from a table's rows only while its version stays the same.
//
// Writes made by other processes are not seen: a cache built on it must
// also bound its entries' age.
type TableVersions interface {
	// TableVersion returns a number that grows when a transaction that
	// wrote to table (a row inserted, updated or deleted, directly, by a
	// trigger or by a foreign key action) has ended, before any of that
	// transaction's callers return. It may also grow when nothing changed.
	TableVersion(table string) uint64
	// AlteredVersion is TableVersion counting only rows that existed
	// before: it grows when a transaction that updated or deleted a row of
	// table (directly, by a trigger, by a foreign key action or by a
	// REPLACE) has ended, and stays the same when one only inserted. What
	// was derived from particular rows stays valid while it holds: a new
	// session or user changes no other.
	AlteredVersion(table string) uint64
}

// Rows is an iterator over a result set; callers must Close it.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Columns() ([]string, error)
	Err() error
	Close() error
}

// Row is a single-row result. Scan returns ErrNotFound when there was no row.
type Row interface {
	Scan(dest ...any) error
}

// DB is an open database. Its Querier methods run outside a transaction on
// the read side of the engine (on SQLite: the reader pool, which never sees
// uncommitted data). All writes go through Tx.
type DB interface {
	Querier
	// Dialect tells which SQL dialect the engine speaks.
	Dialect() Dialect
	// Tx runs fn in a read-write transaction and commits if fn returns nil.
	// It rolls back on error or panic. fn may be retried when the engine
	// reports ErrBusy before anything was committed, so it must not have side
	// effects outside the transaction.
	Tx(ctx context.Context, fn func(q Querier) error) error
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Stats reports connection pool statistics for metrics.
	Stats() []PoolStats
	// Close releases every connection.
	Close() error
}

// PoolStats describes one connection pool of an engine.
type PoolStats struct {
	Name      string // "reader", "writer" or "pool"
	Open      int
	InUse     int
	Idle      int
	WaitCount int64
	MaxOpen   int
}
