package app

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestGCPercent(t *testing.T) {
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, gcMaxPercent},
		{1 << 20, gcMaxPercent},         // 64 MiB of room would be 6400 %
		{gcHeadroom / 10, gcMaxPercent}, // exactly the cap
		{gcHeadroom / 4, 400},           // 16 MiB live: 64 MiB of room
		{gcHeadroom / 2, 200},
		{gcHeadroom, 100}, // from here on, the default
		{4 * gcHeadroom, 100},
	} {
		if got := gcPercent(tc.live); got != tc.want {
			t.Errorf("gcPercent(%d MiB) = %d, want %d", tc.live>>20, got, tc.want)
		}
	}
}

// TestGCPacerFollowsTheHeap: after each collection the pacer sets GOGC from
// the live heap that collection measured: the default while a large heap
// is live, more once it is gone.
func TestGCPacerFollowsTheHeap(t *testing.T) {
	old := debug.SetGCPercent(100)
	p := newGCPacer()
	t.Cleanup(func() {
		p.stopped.Store(true)
		debug.SetGCPercent(old)
	})
	p.watch()
	settle := func(want func(int64) bool) int64 {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			runtime.GC()
			if got := p.percent.Load(); want(got) || time.Now().After(deadline) {
				return got
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	big := make([]byte, 4*gcHeadroom)
	for i := range big { // live and resident
		big[i] = 1
	}
	if got := settle(func(p int64) bool { return p == 100 }); got != 100 {
		t.Errorf("with %d MiB live: GOGC %d, want 100", len(big)>>20, got)
	}
	runtime.KeepAlive(big)
	big = nil
	if got := settle(func(p int64) bool { return p > 200 }); got <= 200 {
		t.Errorf("with the large heap gone: GOGC %d, want more than 200", got)
	}
	if cur := debug.SetGCPercent(100); int64(cur) != p.percent.Load() {
		t.Errorf("runtime GOGC %d, pacer's %d", cur, p.percent.Load())
	}
}
