package sqldb

import (
	"context"
	"database/sql"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/keep-dev/keep/internal/store"
)

// TxRunner runs read-write transactions on a pool, retrying those the
// engine aborted before anything was committed.
type TxRunner struct {
	Pool      *sql.DB
	Querier   func(Conn) Querier
	MapErr    func(error) error
	Retryable func(error) bool // reports errors after which fn may run again
	Attempts  int              // at most this many runs of fn
	Backoff   time.Duration    // the first wait; it doubles, with jitter
	Log       *slog.Logger
	// Stmts, when set, is the pool's statement cache: statements first
	// seen inside a transaction are prepared after it.
	Stmts *StmtCache
	// Group, when set, commits the transactions of the pool (which must
	// have one connection) in batches.
	Group *Group
	// Gate, when set, admits transactions to Pool in arrival order; a
	// transaction holds its slot until it commits or rolls back.
	Gate *Gate
}

// Run runs fn in a transaction and commits if it returns nil, retrying as
// configured.
func (r TxRunner) Run(ctx context.Context, fn func(q store.Querier) error) error {
	if r.Group == nil {
		// (A Group fills the cache itself, while it holds the connection.)
		defer r.Stmts.Fill(context.WithoutCancel(ctx))
	}
	for attempt := 1; ; attempt++ {
		err := r.once(ctx, fn)
		if err == nil || !r.Retryable(err) || attempt >= r.Attempts {
			return err
		}
		r.Log.DebugContext(ctx, "retrying transaction", "attempt", attempt, "err", err)
		d := r.Backoff << (attempt - 1)
		if sleep(ctx, d+rand.N(d)) != nil {
			return err
		}
	}
}

func (r TxRunner) once(ctx context.Context, fn func(q store.Querier) error) error {
	if r.Group != nil {
		return r.Group.run(ctx, r, fn)
	}
	if err := r.Gate.Enter(ctx); err != nil {
		return err
	}
	left := false
	leave := func() {
		if !left {
			left = true
			r.Gate.Leave()
		}
	}
	defer leave()
	tx, err := r.Pool.BeginTx(ctx, nil)
	if err != nil {
		return r.MapErr(err)
	}
	// Roll back unless fn returned nil: on error, on panic (which then goes
	// on up with its own stack) and on runtime.Goexit.
	ok := false
	defer func() {
		if !ok {
			tx.Rollback()
		}
	}()
	q := &txQuerier{Querier: r.Querier(tx)}
	if err := fn(q); err != nil {
		return err
	}
	ok = true
	// A failed COMMIT leaves nothing committed: the driver rolls back.
	if err := tx.Commit(); err != nil {
		return r.MapErr(err)
	}
	leave() // the connection is back in the pool; the hooks may use it
	for _, f := range q.after {
		f()
	}
	return nil
}

// txQuerier is the Querier of one attempt of a transaction.
type txQuerier struct {
	store.Querier
	after []func()
}

// AfterCommit implements store.CommitNotifier.
func (q *txQuerier) AfterCommit(fn func()) { q.after = append(q.after, fn) }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
