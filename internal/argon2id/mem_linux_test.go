package argon2id

import (
	"runtime"
	"testing"
)

// TestPoolMemoryOutsideHeap: a Pool's blocks are not on the Go heap, so
// they do not move the collector's goal, and Release unmaps them.
func TestPoolMemoryOutsideHeap(t *testing.T) {
	var p Pool
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	p.Key([]byte("pw"), []byte("saltsalt"), 1, 8192, 1, 32)
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 1<<20 {
		t.Errorf("the heap grew by %d bytes for an 8 MiB hash", grew)
	}
	m := p.get()
	if m.unmap == nil || m.Blocks() != 8192 {
		t.Fatalf("pooled Memory: %d blocks, mapped %v", m.Blocks(), m.unmap != nil)
	}
	p.put(m)
	p.Release()
	if m.blocks != nil || m.unmap != nil {
		t.Error("Release kept the map")
	}
}
