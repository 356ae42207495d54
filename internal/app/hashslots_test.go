package app

import (
	"runtime"
	"testing"
)

// TestAddHashProcs checks that the password hashes get Ps of their own
// (GOMAXPROCS doubled, one slot per P it had) unless GOMAXPROCS was set
// explicitly, which is then kept.
func TestAddHashProcs(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(before) })
	for _, tt := range []struct {
		explicit  bool
		wantProcs int
	}{{false, 2 * before}, {true, before}} {
		runtime.GOMAXPROCS(before)
		if n := addHashProcs(tt.explicit); n != before || runtime.GOMAXPROCS(0) != tt.wantProcs {
			t.Errorf("explicit=%v: %d slots, GOMAXPROCS %d; want %d slots, GOMAXPROCS %d",
				tt.explicit, n, runtime.GOMAXPROCS(0), before, tt.wantProcs)
		}
	}
}

// TestHashSlotsOnce: building more Keeps in one process neither adds Ps
// again nor changes the slots.
func TestHashSlotsOnce(t *testing.T) {
	n := hashSlots()
	procs := runtime.GOMAXPROCS(0)
	if again := hashSlots(); again != n || runtime.GOMAXPROCS(0) != procs {
		t.Errorf("second call: %d slots, GOMAXPROCS %d; want %d and %d unchanged", again, runtime.GOMAXPROCS(0), n, procs)
	}
}
