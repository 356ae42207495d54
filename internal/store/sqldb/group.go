package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keep-dev/keep/internal/store"
)

// Group commits the transactions of a pool with a single connection (the
// SQLite writer) together: while one transaction holds the connection,
// those that arrive queue behind it, and when it ends they run in the same
// database transaction, each inside its own savepoint, so that one COMMIT,
// and one fsync, acknowledges them all. A transaction that fails rolls back
// to its savepoint alone; the others go on. No transaction returns before
// the COMMIT that holds it succeeded, so durability is that of the engine's
// setting (with synchronous=FULL: nothing acknowledged is lost on power
// loss), at a fraction of the fsyncs.
//
// A lone transaction commits at once: a batch stays open only while
// another transaction waits for the connection, and at most MaxMembers
// transactions or MaxAge long, so a steady stream cannot hold the first
// ones' acknowledgements back.
//
// A Group must be used through [TxRunner] with its Pool having one
// connection. The zero value is not usable; create one with [NewGroup].
type Group struct {
	// MaxMembers and MaxAge bound one batch.
	MaxMembers int
	MaxAge     time.Duration
	// Ended, when set, is called once a batch's transaction has ended,
	// committed or not, while the group still holds the connection (so no
	// statement of the next batch has run) and before any member returns.
	Ended func()

	slot chan struct{} // held by the transaction that owns the connection
	open *batch        // the batch being filled; only the slot holder touches it

	// mu orders a holder's choice to leave the batch open for the waiters
	// against the last waiter giving up, so that a batch is never left open
	// with nobody to close it.
	mu      sync.Mutex
	waiting int // transactions waiting for slot

	commits, members atomic.Int64
}

// NewGroup returns a Group with Keep's bounds: 256 transactions or 20 ms
// per batch.
func NewGroup() *Group {
	return &Group{MaxMembers: 256, MaxAge: 20 * time.Millisecond, slot: make(chan struct{}, 1)}
}

// GroupStats counts what a Group did.
type GroupStats struct {
	Commits int64 // COMMITs run
	Members int64 // transactions those commits acknowledged
}

// Stats reports the commits so far and the transactions they held.
func (g *Group) Stats() GroupStats {
	return GroupStats{Commits: g.commits.Load(), Members: g.members.Load()}
}

// Waiting is the number of transactions waiting for the connection.
func (g *Group) Waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waiting
}

// batch is one database transaction shared by the members of a group.
type batch struct {
	tx      *sql.Tx
	began   time.Time
	members int
	done    chan struct{} // closed once the batch committed or failed
	err     error         // why it failed, set before done closes
}

// run runs fn as a member of the open batch, or of a new one, and returns
// once the batch that holds its writes committed.
func (g *Group) run(ctx context.Context, r TxRunner, fn func(q store.Querier) error) error {
	if err := g.acquire(ctx, r); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		g.release(r)
		return err
	}
	b := g.open
	if b == nil {
		// Not ctx: database/sql rolls a transaction back when its context
		// ends, and this one carries the other members' writes too.
		tx, err := r.Pool.BeginTx(context.Background(), nil)
		if err != nil {
			g.release(r)
			return r.MapErr(err)
		}
		b = &batch{tx: tx, began: time.Now(), done: make(chan struct{})}
		g.open = b
	}
	if err := g.exec(b, r, `SAVEPOINT keep_member`); err != nil {
		g.release(r)
		return err
	}
	q := &txQuerier{Querier: detached{r.Querier(b.tx)}}
	returned := false
	defer func() {
		if !returned { // fn panicked or called runtime.Goexit: undo it, let it go on
			g.undo(b, r)
			g.release(r)
		}
	}()
	err := fn(q)
	returned = true
	if err != nil {
		g.undo(b, r)
		g.release(r)
		return err
	}
	if err := g.exec(b, r, `RELEASE keep_member`); err != nil {
		g.release(r)
		return err
	}
	b.members++
	g.release(r)
	<-b.done
	if b.err != nil {
		return b.err
	}
	for _, f := range q.after {
		f()
	}
	return nil
}

// acquire takes the connection, or gives up when ctx ends. A waiter that
// gives up last closes the batch a holder may have left open for it, if
// the connection is free; if it is not, its holder has yet to choose and
// will see that nobody waits.
func (g *Group) acquire(ctx context.Context, r TxRunner) error {
	g.mu.Lock()
	g.waiting++
	g.mu.Unlock()
	select {
	case g.slot <- struct{}{}:
		g.mu.Lock()
		g.waiting--
		g.mu.Unlock()
		return nil
	case <-ctx.Done():
		g.mu.Lock()
		g.waiting--
		last := g.waiting == 0
		g.mu.Unlock()
		if last {
			select {
			case g.slot <- struct{}{}:
				g.release(r)
			default:
			}
		}
		return ctx.Err()
	}
}

// release gives the connection up, committing the open batch first unless
// another transaction waits to join it.
func (g *Group) release(r TxRunner) {
	g.mu.Lock()
	b := g.open
	if b == nil || (g.waiting > 0 && b.members < g.MaxMembers && time.Since(b.began) < g.MaxAge) {
		// Nothing to commit, or left open for a waiter: freed under mu, so
		// that a waiter giving up meanwhile finds the connection free.
		<-g.slot
		g.mu.Unlock()
		return
	}
	g.open = nil
	g.mu.Unlock()
	if b.members == 0 {
		b.tx.Rollback() // every member failed: nothing to commit
	} else if err := b.tx.Commit(); err != nil {
		b.err = r.MapErr(err)
		abandon(r)
	} else {
		g.commits.Add(1)
		g.members.Add(int64(b.members))
	}
	g.ended()
	close(b.done)
	// The connection is free now: prepare what the batch missed.
	r.Stmts.Fill(context.Background())
	<-g.slot
}

func (g *Group) ended() {
	if g.Ended != nil {
		g.Ended()
	}
}

// abandon makes sure no transaction stays open on the pool's connection
// after a failed COMMIT or ROLLBACK: SQLite keeps a transaction open when
// its COMMIT fails busy, while database/sql has already given the
// connection back as if it were clean. The error (no transaction is
// active) is the usual outcome and is ignored.
func abandon(r TxRunner) {
	r.Pool.ExecContext(context.Background(), `ROLLBACK`)
}

// exec runs a savepoint statement; if it fails the whole batch is lost.
func (g *Group) exec(b *batch, r TxRunner, stmt string) error {
	if _, err := b.tx.ExecContext(context.Background(), stmt); err != nil {
		err = r.MapErr(err)
		g.fail(b, r, err)
		return err
	}
	return nil
}

// undo rolls the current member back to its savepoint.
func (g *Group) undo(b *batch, r TxRunner) {
	if g.exec(b, r, `ROLLBACK TO keep_member`) == nil {
		g.exec(b, r, `RELEASE keep_member`)
	}
}

// fail ends b without committing, after err broke its transaction: the
// members waiting for the commit did nothing wrong and nothing of theirs
// was acknowledged, so they get an error that Tx retries (ErrBusy), and
// the next transaction starts a new batch.
func (g *Group) fail(b *batch, r TxRunner, err error) {
	if g.open != b {
		return
	}
	g.open = nil
	if b.tx.Rollback() != nil {
		abandon(r)
	}
	g.ended()
	b.err = fmt.Errorf("%w: the shared transaction was rolled back by another member's failure: %w", store.ErrBusy, err)
	close(b.done)
}

// detached runs a member's statements without its context's cancellation.
// SQLite answers an interrupted INSERT, UPDATE or DELETE inside an explicit
// transaction by rolling back the whole transaction, which here holds the
// other members' writes; a member whose request is cancelled finishes its
// few statements instead (fn can still look at ctx itself).
type detached struct{ q store.Querier }

func (d detached) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	return d.q.Exec(context.WithoutCancel(ctx), query, args...)
}

func (d detached) Query(ctx context.Context, query string, args ...any) (store.Rows, error) {
	return d.q.Query(context.WithoutCancel(ctx), query, args...)
}

func (d detached) QueryRow(ctx context.Context, query string, args ...any) store.Row {
	return d.q.QueryRow(context.WithoutCancel(ctx), query, args...)
}
