package sqldb

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestGate: a gate admits as many callers as it has slots, a waiter whose
// context ends gives up without a slot, and a left slot admits the next.
// (First come, first served is the channel's: blocked senders are queued
// in order by the runtime.)
func TestGate(t *testing.T) {
	ctx := t.Context()
	g := NewGate(2)
	for range 2 {
		if err := g.Enter(ctx); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := g.Enter(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Enter on a full gate = %v, want the context's error", err)
	}
	entered := make(chan error)
	go func() { entered <- g.Enter(ctx) }()
	g.Leave()
	if err := <-entered; err != nil {
		t.Fatalf("Enter after a Leave = %v", err)
	}
	var none *Gate
	done, stop := context.WithCancel(ctx)
	stop()
	if err := none.Enter(done); err != nil {
		t.Fatalf("a nil gate refused: %v", err)
	}
	none.Leave()
}
