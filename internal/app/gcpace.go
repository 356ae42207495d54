package app

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// Keep's live heap is small — tens of MB with a thousand connections — and
// a request allocates its few KB and drops them, so at the Go default
// (GOGC=100: collect when the heap doubles) the collector runs dozens of
// times a second under load, each time scanning every connection's stack:
// about a tenth of the CPU of a get by id. The pacer lets the heap grow by
// at least gcHeadroom past the live heap, and by the live heap itself once
// that is larger (GOGC=100 again), so a large heap (a login flood's Argon2
// buffers, many connections) is never given more room than the default
// would. It adjusts after every collection, from what that collection
// measured. "Live" here is what the runtime's GOGC multiplies: the live
// heap, the goroutine stacks and the globals it scans.
//
// It also sets a soft memory limit, gcHeadroom above the goal, so that
// the runtime hands freed pages back to the OS instead of keeping them: an
// Argon2id hash allocates 19 MiB at once, small objects settle in the pages
// a finished hash freed, and the next hash then takes fresh pages — during
// a login flood beside reads the heap kept up to three times what it used, and
// the process peaked at up to 270 MB. The limit sits above everything the
// goal allows (heap, stacks, a second Argon2 buffer), so it does not make
// the collector run more; past it the runtime returns memory eagerly.
//
// Measured (bench/run, docs/perf.md): get by id, list and /healthz gain
// 8–15 %; peak RSS of the 1,000-connection runs grows by about the headroom.
// An operator's GOGC or GOMEMLIMIT turns the pacer off.
const (
	gcHeadroom   = 64 << 20
	gcMaxPercent = 1000
)

var startGCPacer = sync.OnceFunc(func() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	p := newGCPacer()
	p.adjust()
	p.watch()
})

// gcPercent is the GOGC that gives a heap of live bytes gcHeadroom of
// growth, or the live heap's own size if that is more.
func gcPercent(live uint64) int {
	if live == 0 {
		return gcMaxPercent
	}
	return int(min(max(gcHeadroom*100/live, 100), gcMaxPercent))
}

// memoryLimit is the soft limit for live bytes: gcHeadroom above the most
// that gcPercent(live) lets them grow to (live plus the larger of
// gcHeadroom and live; GOGC's cap only ever gives less).
func memoryLimit(live uint64) int64 {
	return int64(live + max(gcHeadroom, live) + gcHeadroom)
}

type gcPacer struct {
	sample  []metrics.Sample // used by one adjust at a time: each cleanup arms the next
	percent atomic.Int64     // as last set
	limit   atomic.Int64     // as last set
	stopped atomic.Bool      // for tests: the next cleanup is the last
}

func newGCPacer() *gcPacer {
	p := &gcPacer{sample: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"},
	}}
	p.percent.Store(100)
	return p
}

// watch calls adjust after the next collection, and again after each one:
// a cleanup of an unreachable object runs once a collection has found it.
func (p *gcPacer) watch() {
	runtime.AddCleanup(new([64]byte), func(p *gcPacer) {
		if !p.stopped.Load() {
			p.adjust()
			p.watch()
		}
	}, p)
}

func (p *gcPacer) adjust() {
	metrics.Read(p.sample)
	var live uint64
	for _, s := range p.sample {
		if s.Value.Kind() != metrics.KindUint64 {
			return
		}
		live += s.Value.Uint64()
	}
	if want := int64(gcPercent(live)); p.percent.Swap(want) != want {
		debug.SetGCPercent(int(want))
	}
	if want := memoryLimit(live); p.limit.Swap(want) != want {
		debug.SetMemoryLimit(want)
	}
}
