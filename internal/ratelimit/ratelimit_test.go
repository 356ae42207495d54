package ratelimit

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeClock moves only when told; safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func newTest(limits map[string]Limit, maxKeys int) (*Limiter, *fakeClock) {
	c := newFakeClock()
	return New(Options{Limits: limits, MaxKeys: maxKeys, Now: c.Now}), c
}

type result struct {
	OK    bool
	Retry time.Duration
}

func allow(l *Limiter, class, key string) result {
	ok, r := l.Allow(class, key)
	return result{ok, r}
}

func TestBurstThenRate(t *testing.T) {
	l, c := newTest(map[string]Limit{"login": PerMinute(10, 3)}, 0)
	var got []result
	for range 4 {
		got = append(got, allow(l, "login", "a"))
	}
	want := []result{{true, 0}, {true, 0}, {true, 0}, {false, 6 * time.Second}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("burst (-want +got):\n%s", diff)
	}
	// A refused request spends nothing: the wait only shrinks with time.
	c.Advance(2 * time.Second)
	if got := allow(l, "login", "a"); got != (result{false, 4 * time.Second}) {
		t.Fatalf("after 2s: %+v", got)
	}
	c.Advance(4 * time.Second)
	if got := allow(l, "login", "a"); !got.OK {
		t.Fatalf("after the interval: %+v", got)
	}
	if got := allow(l, "login", "a"); got != (result{false, 6 * time.Second}) {
		t.Fatalf("right after: %+v", got)
	}
	// Fully recovered after burst intervals.
	c.Advance(18 * time.Second)
	for i := range 3 {
		if got := allow(l, "login", "a"); !got.OK {
			t.Fatalf("recovered burst %d: %+v", i, got)
		}
	}
	if got := allow(l, "login", "a"); got.OK {
		t.Fatalf("past the recovered burst: %+v", got)
	}
}

func TestKeysAndClassesAreSeparate(t *testing.T) {
	l, _ := newTest(map[string]Limit{"login": PerMinute(1, 1), "signup": PerMinute(1, 1), "open": {}}, 0)
	for _, k := range [][2]string{{"login", "a"}, {"login", "b"}, {"signup", "a"}} {
		if got := allow(l, k[0], k[1]); !got.OK {
			t.Fatalf("%v: first request refused", k)
		}
	}
	if got := allow(l, "login", "a"); got.OK {
		t.Fatal("second login from a allowed")
	}
	for range 100 {
		if got := allow(l, "open", "a"); !got.OK {
			t.Fatal("an unlimited class refused a request")
		}
	}
	// A class not configured gets the fallback (login's default), not
	// "unlimited".
	for i := range 20 {
		if !allow(l, "typo", "a").OK {
			t.Fatalf("fallback refused request %d within its burst", i)
		}
	}
	if allow(l, "typo", "a").OK {
		t.Fatal("fallback allowed more than its burst")
	}
}

func TestIdleEntriesAreDropped(t *testing.T) {
	l, c := newTest(map[string]Limit{"login": PerMinute(10, 5)}, 0)
	for i := range 100 {
		l.Allow("login", fmt.Sprint("ip", i))
	}
	if n := l.Len(); n != 100 {
		t.Fatalf("tracked %d, want 100", n)
	}
	c.Advance(6 * time.Second) // every key has recovered its single request
	l.Allow("login", "new")
	if n := l.Len(); n != 1 {
		t.Fatalf("tracked %d after recovery, want 1", n)
	}
}

func TestMaxKeys(t *testing.T) {
	l, _ := newTest(map[string]Limit{"login": PerMinute(1, 1)}, 10)
	for i := range 1000 {
		if !allow(l, "login", fmt.Sprint("ip", i)).OK {
			t.Fatalf("first request of ip%d refused", i)
		}
		if n := l.Len(); n > 10 {
			t.Fatalf("tracked %d keys, cap 10", n)
		}
	}
	// The most recent keys are still limited; the oldest were forgotten.
	if allow(l, "login", "ip999").OK {
		t.Fatal("a recent key was forgotten")
	}
	if !allow(l, "login", "ip0").OK {
		t.Fatal("the oldest key was not forgotten")
	}
}

// TestConcurrent checks that parallel callers share one allowance exactly:
// run it with -race.
func TestConcurrent(t *testing.T) {
	l, c := newTest(map[string]Limit{"login": PerMinute(60, 50)}, 0)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range 20 {
		wg.Go(func() {
			for i := range 100 {
				if ok, _ := l.Allow("login", "shared"); ok {
					allowed.Add(1)
				}
				l.Allow("login", fmt.Sprint("g", g, "-", i))
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 50 {
		t.Fatalf("allowed %d of 2000 parallel requests, want the burst of 50", n)
	}
	c.Advance(time.Second)
	if !allow(l, "login", "shared").OK {
		t.Fatal("no request allowed after an interval")
	}
}

func TestDefaultLimits(t *testing.T) {
	d := DefaultLimits()
	for _, class := range []string{"login", "signup", "refresh", "password", "verify", "reset", "mfa"} {
		lim, ok := d[class]
		if !ok || lim.Every <= 0 || lim.Burst < 1 {
			t.Errorf("class %s: %+v", class, lim)
		}
	}
	if got := d["login"]; got != (Limit{Every: 6 * time.Second, Burst: 20}) {
		t.Errorf("login default %+v, want 10/min burst 20", got)
	}
}

func TestKeyForIP(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":            "192.0.2.7",
		"::ffff:192.0.2.7":     "192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"fe80::1%eth0":         "fe80::/64",
		"":                     "",
		"not an ip":            "not an ip",
	} {
		if got := KeyForIP(in); got != want {
			t.Errorf("KeyForIP(%q) = %q, want %q", in, got, want)
		}
	}
}
