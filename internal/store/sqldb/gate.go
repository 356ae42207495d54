package sqldb

import "context"

// Gate admits callers to a connection pool in the order they came.
// database/sql hands a freed connection to a random waiter, so when
// hundreds of requests queue for a pool of a few connections (a thousand
// clients on two cores), an unlucky one is passed over again and again and
// the tail latency is many times the mean. A Gate as wide as the pool,
// whose waiters queue on a channel (first in, first out), admits no more
// callers than there are connections: nobody waits inside database/sql,
// and the wait is that of the queue.
//
// A nil *Gate admits everyone at once.
type Gate struct{ slots chan struct{} }

// NewGate returns a gate for a pool of n connections.
func NewGate(n int) *Gate { return &Gate{slots: make(chan struct{}, max(1, n))} }

// Enter waits for a slot, or returns ctx's error when it ends first.
func (g *Gate) Enter(ctx context.Context) error {
	if g == nil {
		return nil
	}
	select {
	case g.slots <- struct{}{}:
		return nil
	default:
	}
	select {
	case g.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Leave gives the slot back.
func (g *Gate) Leave() {
	if g != nil {
		<-g.slots
	}
}
