package ids

import (
	"sync"
	"testing"
)

func TestNewIsOrderedAndValid(t *testing.T) {
	prev := ""
	for i := 0; i < 10000; i++ {
		id := New()
		if !Valid(id) {
			t.Fatalf("invalid id %q", id)
		}
		if id[14] != '7' {
			t.Fatalf("not version 7: %q", id)
		}
		if id <= prev {
			t.Fatalf("ids not increasing: %q then %q", prev, id)
		}
		prev = id
	}
}

func TestNewConcurrentUnique(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				id := New()
				mu.Lock()
				if seen[id] {
					t.Errorf("duplicate id %q", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func TestValid(t *testing.T) {
	for _, s := range []string{"", "x", "0190b8a2-7c1e-7abc-8def-0123456789aZ", "0190b8a27c1e-7abc-8def-0123456789ab0"} {
		if Valid(s) {
			t.Errorf("Valid(%q) = true", s)
		}
	}
	if !Valid("0190b8a2-7c1e-7abc-8def-0123456789ab") {
		t.Error("valid id rejected")
	}
}
