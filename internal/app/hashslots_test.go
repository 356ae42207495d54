package app

import (
	"runtime"
	"testing"
)

// TestHashSlotsAddsPsOnce checks that the password hashes get Ps of their own
// (GOMAXPROCS at least twice the slots) and that building more Keeps in one
// process does not add them again.
func TestHashSlotsAddsPsOnce(t *testing.T) {
	n := hashSlots()
	procs := runtime.GOMAXPROCS(0)
	if n < 1 || procs < 2*n {
		t.Fatalf("hashSlots() = %d with GOMAXPROCS %d, want at least 1 slot and GOMAXPROCS ≥ 2×slots", n, procs)
	}
	if again := hashSlots(); again != n || runtime.GOMAXPROCS(0) != procs {
		t.Errorf("second call: %d slots, GOMAXPROCS %d; want %d and %d unchanged", again, runtime.GOMAXPROCS(0), n, procs)
	}
}
