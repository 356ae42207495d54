package sqldb

import (
	"context"
	"database/sql"
	"sync"
)

// StmtCache keeps one prepared statement per query text for a pool, so a
// driver that would otherwise parse and plan the SQL of every call (the
// SQLite driver does: about a fifth of a request's CPU) does it once per
// connection. database/sql prepares a cached statement on each connection
// the first time it runs there, and Tx.StmtContext reuses the copy of the
// transaction's connection.
//
// The cache is bounded: past max distinct texts, further ones run
// unprepared, so a stream of distinct query shapes cannot grow memory. Keep
// writes every value as a placeholder, so the number of shapes is bounded by
// the schema and the filters' structure, not by the data. It is safe for
// concurrent use.
type StmtCache struct {
	pool *sql.DB
	max  int

	mu     sync.RWMutex
	m      map[string]*sql.Stmt
	wanted map[string]bool // missed inside a transaction, prepared after it
	closed bool
}

// NewStmtCache returns a cache of at most max statements of pool.
func NewStmtCache(pool *sql.DB, max int) *StmtCache {
	return &StmtCache{pool: pool, max: max, m: map[string]*sql.Stmt{}, wanted: map[string]bool{}}
}

// lookup returns the cached statement of query, or nil.
func (c *StmtCache) lookup(query string) (s *sql.Stmt, full bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[query], c.closed || len(c.m)+len(c.wanted) >= c.max
}

// want notes a query missed inside a transaction. Preparing it there would
// need a second connection of the pool, which the writer pool of SQLite
// (one connection, held by the transaction) does not have; [StmtCache.Fill]
// prepares it once the transaction is over.
func (c *StmtCache) want(query string) {
	if _, full := c.lookup(query); full {
		return
	}
	c.mu.Lock()
	c.wanted[query] = true
	c.mu.Unlock()
}

// Fill prepares the queries missed inside transactions. TxRunner calls it
// after each transaction, when the connection is free again.
func (c *StmtCache) Fill(ctx context.Context) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if len(c.wanted) == 0 {
		c.mu.Unlock()
		return
	}
	queries := make([]string, 0, len(c.wanted))
	for q := range c.wanted {
		queries = append(queries, q)
	}
	clear(c.wanted)
	c.mu.Unlock()
	for _, q := range queries {
		c.get(ctx, q)
	}
}

// get returns the statement of query, preparing it on first use; nil when
// it cannot be cached (the cache is full or closed, or preparing failed: the
// caller then runs the query unprepared and reports that error itself).
func (c *StmtCache) get(ctx context.Context, query string) *sql.Stmt {
	s, full := c.lookup(query)
	if s != nil || full {
		return s
	}
	s, err := c.pool.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok || c.closed || len(c.m) >= c.max {
		s.Close()
		return prev
	}
	c.m[query] = s
	return s
}

// Close closes every statement; later calls run unprepared.
func (c *StmtCache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var first error
	for q, s := range c.m {
		if err := s.Close(); err != nil && first == nil {
			first = err
		}
		delete(c.m, q)
	}
	return first
}

// prepared is the cached statement of query for q's connection: the pool's
// own for the pool, the transaction's copy in a transaction, nil otherwise.
func (q Querier) prepared(ctx context.Context, query string) *sql.Stmt {
	if q.Stmts == nil {
		return nil
	}
	switch c := q.C.(type) {
	case *sql.Tx:
		if s, _ := q.Stmts.lookup(query); s != nil {
			return c.StmtContext(ctx, s)
		}
		q.Stmts.want(query)
	case *sql.DB:
		if c == q.Stmts.pool {
			return q.Stmts.get(ctx, query)
		}
	}
	return nil
}
