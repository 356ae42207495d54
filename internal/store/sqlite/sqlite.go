package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"

	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/sqldb"
)

// Options tunes [Open]. The zero value selects the defaults documented on
// each field.
type Options struct {
	// Synchronous is PRAGMA synchronous: "FULL" (the default) makes every
	// commit durable across power loss; "NORMAL" is faster and in WAL mode
	// may lose the last commits on power loss, but never corrupts the file.
	Synchronous string
	// Readers is the size of the read-only pool; default max(4, 2×GOMAXPROCS).
	Readers int
	// BusyTimeout is how long a connection waits for a lock held by another
	// connection or process before reporting busy; default 5s.
	BusyTimeout time.Duration
	// Logger receives migration and retry messages; nil discards them.
	Logger *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	switch s := strings.ToUpper(o.Synchronous); s {
	case "":
		o.Synchronous = "FULL"
	case "FULL", "NORMAL":
		o.Synchronous = s
	default:
		return o, fmt.Errorf("sqlite: synchronous must be FULL or NORMAL, not %q", o.Synchronous)
	}
	if o.Readers <= 0 {
		o.Readers = max(4, 2*runtime.GOMAXPROCS(0))
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// DB is an open SQLite database. It is safe for concurrent use. Exec and Tx
// use the single writer connection; Query and QueryRow use the read-only pool
// and see only committed data.
type DB struct {
	reader *sql.DB
	writer *sql.DB
	// Prepared statements of each pool (the driver otherwise parses every
	// query's SQL at every call).
	readerStmts, writerStmts *sqldb.StmtCache
	// group batches the transactions waiting for the writer into one
	// commit (one fsync).
	group *sqldb.Group
	// readGate admits reads to the reader pool in arrival order.
	readGate *sqldb.Gate
	// changes tracks the tables the writer wrote (store.TableVersions).
	changes *changes
	log     *slog.Logger
	closed  atomic.Bool
}

// maxCachedStmts bounds each pool's statement cache.
const maxCachedStmts = 512

var _ store.DB = (*DB)(nil)

// Open opens (creating if needed) the database file at path and applies any
// pending migrations. The parent directory is created with mode 0700 and a
// new file with mode 0600; SQLite gives the -wal and -shm files the same mode.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if pageCacheErr != nil {
		opts.Logger.Warn("sqlite: each page cache allocated page by page, so reads slow down beside writes", "err", pageCacheErr)
	}
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	path, err = filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create directory: %w", err)
	}
	// Create the file ourselves so it is private from the start; an empty
	// file is a valid empty database.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	f.Close()

	ch := newChanges()
	writer, err := openPool(path, false, opts, ch)
	if err != nil {
		return nil, err
	}
	reader, err := openPool(path, true, opts, nil)
	if err != nil {
		writer.Close()
		return nil, err
	}
	db := &DB{
		writer:   writer,
		reader:   reader,
		log:      opts.Logger.With("component", "store", "engine", "sqlite"),
		group:    sqldb.NewGroup(),
		readGate: sqldb.NewGate(opts.Readers),
		changes:  ch,
	}
	db.group.Ended = ch.ended
	db.readerStmts = sqldb.NewStmtCache(db.reader, maxCachedStmts)
	db.writerStmts = sqldb.NewStmtCache(db.writer, maxCachedStmts)
	// The writer goes first: its first connection switches the file to WAL
	// and migrations create the schema before any reader looks at it.
	if err := openWriter(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.reader.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open reader: %w", mapErr(err))
	}
	return db, nil
}

// openWriter runs the migrations on the writer. Two processes opening a
// new file at once can get SQLITE_BUSY without the busy timeout's wait
// (the switch to WAL takes its lock without the busy handler), so a busy
// failure is tried again a few times, as Tx does.
func openWriter(ctx context.Context, db *DB) error {
	for attempt := 1; ; attempt++ {
		err := migrate(ctx, db.writer, db.log)
		if err == nil || !errors.Is(err, store.ErrBusy) || attempt >= txAttempts {
			return err
		}
		db.log.DebugContext(ctx, "retrying migrations", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(txBackoff << attempt):
		}
	}
}

// openPool opens a pool; its connections are made lazily. The writer's
// report their row changes to ch.
func openPool(path string, readOnly bool, o Options, ch *changes) (*sql.DB, error) {
	base, err := sqlite.NewConnector(driverDSN(path, readOnly, o))
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	var db *sql.DB
	if ch != nil {
		db = sql.OpenDB(hookedConnector{Connector: base, hook: ch.wrote})
	} else {
		db = sql.OpenDB(base)
	}
	n := 1
	if readOnly {
		n = o.Readers
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n) // keep connections: a new one re-runs every pragma
	return db, nil
}

// driverDSN is, with openPool, mapErr, the writer's hook (changes.go) and
// bulkPageCache (pagecache.go), the only code that knows the driver: how
// its DSN carries pragmas and the BEGIN mode.
//
// modernc.org/sqlite runs each _pragma on every new connection, busy_timeout
// first and the rest in name order; query_only must come after journal_mode,
// which that order gives.
func driverDSN(path string, readOnly bool, o Options) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", max(1, o.BusyTimeout.Milliseconds())))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", "synchronous("+o.Synchronous+")")
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Add("_pragma", fmt.Sprintf("cache_size(%d)", -cacheKiB)) // KiB, per connection (pagecache.go)
	// No memory map: in WAL mode every commit makes each other connection
	// unmap the whole file at its next read, so beside writes each reader
	// unmaps, maps again and faults its pages back in; that cost more than
	// reading them (docs/design.md). Set, not left to the build's default.
	q.Add("_pragma", "mmap_size(0)")
	if readOnly {
		q.Add("_pragma", "query_only(ON)")
	} else {
		q.Set("_txlock", "immediate")
	}
	p := filepath.ToSlash(path)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows drive letter: file:///C:/...
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: q.Encode()}
	return u.String()
}

// Dialect returns [store.SQLite].
func (db *DB) Dialect() store.Dialect { return store.SQLite }

// Exec runs a statement in a transaction of its own on the writer: it
// commits as it runs, as outside a transaction, and every write goes
// through Tx, whose commits update TableVersion.
func (db *DB) Exec(ctx context.Context, query string, args ...any) (n int64, err error) {
	err = db.Tx(ctx, func(q store.Querier) error {
		n, err = q.Exec(ctx, query, args...)
		return err
	})
	return n, err
}

// Query runs a query on the read-only pool.
func (db *DB) Query(ctx context.Context, query string, args ...any) (store.Rows, error) {
	if db.closed.Load() {
		return nil, store.ErrClosed
	}
	return db.readerQuerier().Query(ctx, query, args...)
}

// QueryRow runs a query on the read-only pool.
func (db *DB) QueryRow(ctx context.Context, query string, args ...any) store.Row {
	if db.closed.Load() {
		return sqldb.ErrRow(store.ErrClosed)
	}
	return db.readerQuerier().QueryRow(ctx, query, args...)
}

// Retry policy for Tx: the busy timeout already waits for the lock, so a few
// attempts with a short pause cover the cases where SQLite reports busy
// without waiting (such as WAL recovery by another process).
const (
	txAttempts = 4
	txBackoff  = 10 * time.Millisecond
)

// Tx runs fn in a BEGIN IMMEDIATE transaction on the writer connection,
// which transactions waiting for it share: each runs in its own savepoint
// and one COMMIT acknowledges them all (see [sqldb.Group]). fn must use q,
// not db: db.Exec inside fn would wait for the connection fn holds.
func (db *DB) Tx(ctx context.Context, fn func(q store.Querier) error) error {
	if db.closed.Load() {
		return store.ErrClosed
	}
	return sqldb.TxRunner{Pool: db.writer, Querier: db.writerQuerier, MapErr: mapErr,
		Retryable: func(err error) bool { return errors.Is(err, store.ErrBusy) },
		Attempts:  txAttempts, Backoff: txBackoff, Log: db.log, Stmts: db.writerStmts, Group: db.group}.Run(ctx, fn)
}

// Ping checks that a reader connection answers. It does not wait for the
// writer, which a long transaction may hold.
func (db *DB) Ping(ctx context.Context) error {
	if db.closed.Load() {
		return store.ErrClosed
	}
	return mapErr(db.reader.PingContext(ctx))
}

// Stats reports the "reader" and "writer" pools.
func (db *DB) Stats() []store.PoolStats {
	return []store.PoolStats{poolStats("reader", db.reader), poolStats("writer", db.writer)}
}

func poolStats(name string, db *sql.DB) store.PoolStats {
	s := db.Stats()
	return store.PoolStats{
		Name:      name,
		Open:      s.OpenConnections,
		InUse:     s.InUse,
		Idle:      s.Idle,
		WaitCount: s.WaitCount,
		MaxOpen:   s.MaxOpenConnections,
	}
}

// Close closes both pools. Later calls return nil; other methods return
// [store.ErrClosed] once Close has been called.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return nil
	}
	return errors.Join(db.readerStmts.Close(), db.writerStmts.Close(), db.reader.Close(), db.writer.Close())
}

func (db *DB) readerQuerier() sqldb.Querier {
	q := querier(db.reader)
	q.Stmts = db.readerStmts
	q.Gate = db.readGate
	return q
}

// writerQuerier adapts the writer pool or one of its transactions.
func (db *DB) writerQuerier(c sqldb.Conn) sqldb.Querier {
	q := querier(c)
	q.Stmts = db.writerStmts
	return q
}
