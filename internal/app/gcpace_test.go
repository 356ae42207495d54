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

// TestMemoryLimit: the soft limit sits gcHeadroom above the largest heap
// the pacer's GOGC allows, so it never makes the collector run sooner.
func TestMemoryLimit(t *testing.T) {
	for _, live := range []uint64{0, 1 << 20, gcHeadroom / 10, gcHeadroom / 2, gcHeadroom, 4 * gcHeadroom} {
		goal := live + live*uint64(gcPercent(live))/100
		goal = max(goal, 4<<20*uint64(gcPercent(live))/100) // the runtime's smallest goal
		if got := memoryLimit(live); got < int64(goal+gcHeadroom) {
			t.Errorf("memoryLimit(%d MiB) = %d MiB, below the goal %d MiB + headroom", live>>20, got>>20, goal>>20)
		}
	}
	if got, want := memoryLimit(4<<20), int64(132<<20); got != want {
		t.Errorf("memoryLimit(4 MiB) = %d MiB, want %d MiB", got>>20, want>>20)
	}
	if got, want := memoryLimit(4*gcHeadroom), int64(9*gcHeadroom); got != want {
		t.Errorf("memoryLimit(256 MiB) = %d MiB, want %d MiB", got>>20, want>>20)
	}
}

// TestGCPacerFollowsTheHeap: after each collection the pacer sets GOGC from
// the live heap that collection measured: the default while a large heap
// is live, more once it is gone.
func TestGCPacerFollowsTheHeap(t *testing.T) {
	old, oldLimit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	p := newGCPacer()
	t.Cleanup(func() {
		p.stopped.Store(true)
		debug.SetGCPercent(old)
		debug.SetMemoryLimit(oldLimit)
	})
	p.watch()
	// settle collects until ok holds for the pacer (or 5 s have passed).
	settle := func(ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			runtime.GC()
			if ok() || time.Now().After(deadline) {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	const size = 4 * gcHeadroom
	big := make([]byte, size)
	for i := range big { // live and resident
		big[i] = 1
	}
	// The limit leaves the default's doubling and the headroom above it.
	least := int64(2*size + gcHeadroom)
	settle(func() bool { return p.percent.Load() == 100 && p.limit.Load() >= least })
	if got := p.percent.Load(); got != 100 {
		t.Errorf("with %d MiB live: GOGC %d, want 100", size>>20, got)
	}
	if got := debug.SetMemoryLimit(-1); got < least || got != p.limit.Load() {
		t.Errorf("with %d MiB live: memory limit %d MiB (pacer's %d MiB), want at least %d MiB",
			size>>20, got>>20, p.limit.Load()>>20, least>>20)
	}
	runtime.KeepAlive(big)
	big = nil
	settle(func() bool { return p.percent.Load() > 200 && p.limit.Load() < size })
	if got := p.percent.Load(); got <= 200 {
		t.Errorf("with the large heap gone: GOGC %d, want more than 200", got)
	}
	if cur := debug.SetGCPercent(100); int64(cur) != p.percent.Load() {
		t.Errorf("runtime GOGC %d, pacer's %d", cur, p.percent.Load())
	}
	if got := debug.SetMemoryLimit(-1); got != p.limit.Load() || got >= size {
		t.Errorf("with the large heap gone: memory limit %d MiB (pacer's %d MiB), want the pacer's, below %d MiB",
			got>>20, p.limit.Load()>>20, size>>20)
	}
}
