package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/sqldb"
)

// Options tunes [Open]. The zero value selects the defaults documented on
// each field.
type Options struct {
	// MaxConns caps the pool; default 4×GOMAXPROCS.
	MaxConns int
	// Logger receives migration and retry messages; nil discards them.
	Logger *slog.Logger
}

// DB is an open PostgreSQL database. It is safe for concurrent use.
type DB struct {
	pool *sql.DB
	// gate admits calls to the pool in arrival order.
	gate   *sqldb.Gate
	log    *slog.Logger
	closed atomic.Bool
}

var _ store.DB = (*DB)(nil)

// Open connects to the database at url (a postgres:// URL or a keyword/value
// string, with sslmode, search_path and other parameters handled as pgx
// does) and applies any pending migrations.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx masks the password in its parse errors.
		return nil, fmt.Errorf("postgres: %w", err)
	}
	n := opts.MaxConns
	if n <= 0 {
		n = 4 * runtime.GOMAXPROCS(0)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pool := stdlib.OpenDB(*cfg)
	pool.SetMaxOpenConns(n)
	pool.SetMaxIdleConns(n)
	db := &DB{pool: pool, gate: sqldb.NewGate(n), log: log.With("component", "store", "engine", "postgres")}
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := migrate(ctx, pool, db.log); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// Dialect returns [store.Postgres].
func (db *DB) Dialect() store.Dialect { return store.Postgres }

// Exec runs a statement outside a transaction.
func (db *DB) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	if db.closed.Load() {
		return 0, store.ErrClosed
	}
	return db.poolQuerier().Exec(ctx, query, args...)
}

// Query runs a query outside a transaction.
func (db *DB) Query(ctx context.Context, query string, args ...any) (store.Rows, error) {
	if db.closed.Load() {
		return nil, store.ErrClosed
	}
	for i := 0; ; i++ {
		rows, err := db.poolQuerier().Query(ctx, query, args...)
		if err == nil || !staleCachedPlan(err) || i == staleRetries {
			return rows, err
		}
	}
}

// QueryRow runs a query outside a transaction.
func (db *DB) QueryRow(ctx context.Context, query string, args ...any) store.Row {
	if db.closed.Load() {
		return sqldb.ErrRow(store.ErrClosed)
	}
	return retryRow{func() store.Row { return db.poolQuerier().QueryRow(ctx, query, args...) }}
}

// retryRow runs its query again when the first Scan meets a stale cached
// plan (see staleCachedPlan).
type retryRow struct{ run func() store.Row }

func (r retryRow) Scan(dest ...any) error {
	for i := 0; ; i++ {
		err := r.run().Scan(dest...)
		if err == nil || !staleCachedPlan(err) || i == staleRetries {
			return err
		}
	}
}

// Retry policy for Tx on serialization failures and deadlocks.
const (
	txAttempts = 4
	txBackoff  = 10 * time.Millisecond
)

// Tx runs fn in a READ COMMITTED transaction. It retries fn when PostgreSQL
// aborts the transaction with a serialization failure (40001) or a deadlock
// (40P01); in both cases nothing was committed.
func (db *DB) Tx(ctx context.Context, fn func(q store.Querier) error) error {
	if db.closed.Load() {
		return store.ErrClosed
	}
	return sqldb.TxRunner{Pool: db.pool, Querier: querier, MapErr: mapErr, Retryable: retryable,
		Attempts: txAttempts, Backoff: txBackoff, Log: db.log, Gate: db.gate}.Run(ctx, fn)
}

// Ping checks that the server answers.
func (db *DB) Ping(ctx context.Context) error {
	if db.closed.Load() {
		return store.ErrClosed
	}
	return mapErr(db.pool.PingContext(ctx))
}

// Stats reports the single pool, named "pool".
func (db *DB) Stats() []store.PoolStats {
	s := db.pool.Stats()
	return []store.PoolStats{{
		Name:      "pool",
		Open:      s.OpenConnections,
		InUse:     s.InUse,
		Idle:      s.Idle,
		WaitCount: s.WaitCount,
		MaxOpen:   s.MaxOpenConnections,
	}}
}

// Close closes the pool. Later calls return nil; other methods return
// [store.ErrClosed] once Close has been called.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return nil
	}
	return db.pool.Close()
}

// poolQuerier runs statements on the pool, through the gate.
func (db *DB) poolQuerier() sqldb.Querier {
	q := querier(db.pool)
	q.Gate = db.gate
	return q
}
