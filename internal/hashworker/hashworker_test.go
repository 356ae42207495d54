package hashworker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/sys/unix"

	"github.com/keep-dev/keep/internal/auth"
	"github.com/keep-dev/keep/internal/logtest"
)

// TestMain lets the test binary serve as the worker, as keep's main does.
func TestMain(m *testing.M) {
	Main()
	os.Exit(m.Run())
}

// cheap are parameters that keep the tests fast; the wire carries them like
// the defaults.
var cheap = auth.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

func want(password, salt []byte, p auth.Params) []byte {
	return argon2.IDKey(password, salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLen)
}

// startPool starts a worker whose warnings go to the returned buffer: a
// test that expects the worker to have done the work checks it is empty,
// since every fall back to this process logs one.
func startPool(t *testing.T) (*Pool, *logtest.Buffer) {
	t.Helper()
	logs := &logtest.Buffer{}
	p, err := Start(2, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p, logs
}

// hashAtOnce asks p for n keys under params at the same time.
func hashAtOnce(p *Pool, n int, params auth.Params) {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Key([]byte("pw"), make([]byte, params.SaltLen), params)
		}()
	}
	wg.Wait()
}

// TestKeys: the worker's keys are Argon2id's, for each parameter the wire
// carries, from many callers at once, and no key fell back to this process.
func TestKeys(t *testing.T) {
	p, logs := startPool(t)
	pid := p.pid()
	if pid == 0 {
		t.Fatal("no worker running after Start")
	}
	cases := []struct {
		name     string
		params   auth.Params
		password string
	}{
		{"cheap", cheap, "correct horse battery staple"},
		{"defaults", auth.DefaultParams(), "pass for lena 123"},
		{"two lanes, long key, long salt", auth.Params{Memory: 256, Iterations: 3, Parallelism: 2, SaltLen: 64, KeyLen: 64}, "x"},
		{"empty password", cheap, ""},
		{"binary password", cheap, "\x00\xff\n\x00"},
		{"longest password", cheap, strings.Repeat("é", maxPassword/2)},
	}
	var wg sync.WaitGroup
	for i, tt := range cases {
		for j := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				salt := bytes.Repeat([]byte{byte(i), byte(j)}, int(tt.params.SaltLen)/2)
				got := p.Key([]byte(tt.password), salt, tt.params)
				if !bytes.Equal(got, want([]byte(tt.password), salt, tt.params)) {
					t.Errorf("%s/%d: key differs from argon2.IDKey", tt.name, j)
				}
			}()
		}
	}
	wg.Wait()
	if got := p.pid(); got != pid {
		t.Errorf("worker pid changed from %d to %d", pid, got)
	}
	if s := logs.String(); s != "" {
		t.Errorf("keys fell back to this process: %s", s)
	}
}

// TestWorkerRunsIdle: every thread of the worker runs at SCHED_IDLE, also
// the ones its runtime made while hashing, and it has no environment but
// GOMAXPROCS, however much the server's holds.
func TestWorkerRunsIdle(t *testing.T) {
	t.Setenv("KEEP_DB", "postgres://keep:hunter2@db/keep")
	p, _ := startPool(t)
	hashAtOnce(p, 8, auth.Params{Memory: 4096, Iterations: 1, Parallelism: 4, SaltLen: 16, KeyLen: 32})
	pid := p.pid()
	tasks, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) < 2 {
		t.Fatalf("worker has %d threads; a Go process has more", len(tasks))
	}
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		attr, err := unix.SchedGetAttr(tid, 0)
		if err != nil {
			t.Fatalf("thread %d: %v", tid, err)
		}
		if attr.Policy != unix.SCHED_IDLE {
			t.Errorf("thread %d of the worker has policy %d, want SCHED_IDLE (%d)", tid, attr.Policy, unix.SCHED_IDLE)
		}
	}
	// And this process is untouched: the thread that forked the worker is gone.
	if attr, err := unix.SchedGetAttr(0, 0); err != nil || attr.Policy != unix.SCHED_NORMAL {
		t.Errorf("this thread's policy: %v, %v; want SCHED_NORMAL", attr, err)
	}
	env, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimRight(string(env), "\x00"); got != "GOMAXPROCS=2" {
		t.Errorf("worker environment %q, want only GOMAXPROCS=2", got)
	}
}

// TestWorkerGivesMemoryBack: after a burst of hashes at the default
// parameters the worker holds their buffers; once idle it returns them.
func TestWorkerGivesMemoryBack(t *testing.T) {
	if raceEnabled {
		t.Skip("under the race detector the worker's RSS is mostly shadow memory; the run without it checks this")
	}
	p, _ := startPool(t)
	hashAtOnce(p, 6, auth.DefaultParams())
	status := filepath.Join("/proc", strconv.Itoa(p.pid()), "status")
	rss := func() int {
		b, err := os.ReadFile(status)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
				return kb >> 10
			}
		}
		t.Fatal("no VmRSS")
		return 0
	}
	if mb := rss(); mb < 19 {
		t.Fatalf("worker RSS %d MiB right after hashing 19 MiB; the test measures nothing", mb)
	}
	deadline := time.Now().Add(idleRelease + 5*time.Second)
	for rss() >= 19 {
		if time.Now().After(deadline) {
			t.Fatalf("worker still holds %d MiB long after its last hash", rss())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWorkerDies: keys in flight when the worker is killed, and keys asked
// for before it restarts, are computed here, correctly; after restartEvery a
// new worker takes over.
func TestWorkerDies(t *testing.T) {
	p, logs := startPool(t)
	p.restartEvery = 200 * time.Millisecond
	first := p.pid()
	slow := auth.Params{Memory: 64 << 10, Iterations: 3, Parallelism: 1, SaltLen: 16, KeyLen: 32}
	salt := make([]byte, 16)
	done := make(chan []byte)
	go func() { done <- p.Key([]byte("in flight"), salt, slow) }()
	time.Sleep(20 * time.Millisecond)
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if got := <-done; !bytes.Equal(got, want([]byte("in flight"), salt, slow)) {
		t.Error("the key in flight when the worker died is wrong")
	}
	if got := p.Key([]byte("next"), salt, cheap); !bytes.Equal(got, want([]byte("next"), salt, cheap)) {
		t.Error("a key asked for while the worker is down is wrong")
	}
	if !strings.Contains(logs.String(), "hashing in the server process") {
		t.Errorf("no warning that hashes fell back: %q", logs.String())
	}
	time.Sleep(p.restartEvery)
	if got := p.Key([]byte("later"), salt, cheap); !bytes.Equal(got, want([]byte("later"), salt, cheap)) {
		t.Error("a key after the restart is wrong")
	}
	if second := p.pid(); second == 0 || second == first {
		t.Errorf("worker pid %d after the restart (the first was %d)", second, first)
	}
}

// TestWorkerStopped: a worker that makes no progress (stopped here; at
// SCHED_IDLE on a host that is never idle it would be starved) does not
// hang its callers: past answerWithin it is killed and the key computed
// here.
func TestWorkerStopped(t *testing.T) {
	p, logs := startPool(t)
	p.answerWithin = 300 * time.Millisecond
	pid := p.pid()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	salt := make([]byte, 16)
	if got := p.Key([]byte("stuck"), salt, cheap); !bytes.Equal(got, want([]byte("stuck"), salt, cheap)) {
		t.Error("the key asked of a stopped worker is wrong")
	}
	if !strings.Contains(logs.String(), "no answer within") {
		t.Errorf("no warning about the stuck worker: %q", logs.String())
	}
	// Killed and reaped: a stopped process still dies of SIGKILL.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stuck worker %d still exists", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCloseAnswersKeysInFlight: a key the worker is computing when the pool
// closes still comes back right.
func TestCloseAnswersKeysInFlight(t *testing.T) {
	p, _ := startPool(t)
	slow := auth.Params{Memory: 64 << 10, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}
	salt := make([]byte, 16)
	done := make(chan []byte)
	go func() { done <- p.Key([]byte("in flight"), salt, slow) }()
	time.Sleep(20 * time.Millisecond)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if got := <-done; !bytes.Equal(got, want([]byte("in flight"), salt, slow)) {
		t.Error("the key in flight at Close is wrong")
	}
}

// TestClose: the worker exits when the pool closes, and keys asked for
// afterwards are still right.
func TestClose(t *testing.T) {
	p, _ := startPool(t)
	pid := p.pid()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	// Closed and reaped: the pid is gone (not even a zombie).
	if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("worker %d still exists after Close: %v", pid, err)
	}
	salt := make([]byte, 16)
	if got := p.Key([]byte("after"), salt, cheap); !bytes.Equal(got, want([]byte("after"), salt, cheap)) {
		t.Error("a key after Close is wrong")
	}
	if p.pid() != 0 {
		t.Error("a worker runs after Close")
	}
}

// TestUnavailable: without Main, Start refuses, and the server hashes in
// its own process.
func TestUnavailable(t *testing.T) {
	canServe.Store(false)
	t.Cleanup(func() { canServe.Store(true) })
	if _, err := Start(1, slog.Default()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Start without Main: %v, want ErrUnavailable", err)
	}
}

func frame(body []byte) []byte {
	return append(binary.LittleEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// TestServeRefuses: the worker stops, without a panic or an answer, at a
// frame it cannot trust; it ends cleanly at the end of the stream.
func TestServeRefuses(t *testing.T) {
	good := appendRequest(nil, request{id: 7, params: cheap, salt: make([]byte, 16), password: []byte("pw")})[4:]
	with := func(off int, b ...byte) []byte {
		c := bytes.Clone(good)
		copy(c[off:], b)
		return c
	}
	for _, tt := range []struct {
		name  string
		input []byte
		ok    bool
	}{
		{"empty stream", nil, true},
		{"one request", frame(good), true},
		{"length beyond the limit", binary.LittleEndian.AppendUint32(nil, maxFrame+1), false},
		{"truncated frame", frame(good)[:10], false},
		{"truncated length", []byte{1, 0}, false},
		{"short header", frame(good[:headerLen-1]), false},
		{"memory 0", frame(with(8, 0, 0, 0, 0)), false},
		{"memory 4 TiB", frame(with(8, 0xff, 0xff, 0xff, 0xff)), false},
		{"iterations 0", frame(with(12, 0, 0, 0, 0)), false},
		{"parallelism 0", frame(with(16, 0)), false},
		{"key of 8 bytes", frame(with(17, 8)), false},
		{"salt longer than the frame", frame(with(18, 64)), false},
		{"salt of 4 bytes", frame(with(18, 4)), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := serve(bytes.NewReader(tt.input), &out, 2)
			if (err == nil) != tt.ok {
				t.Fatalf("serve: %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok && out.Len() != 0 {
				t.Errorf("answered %d bytes to a bad stream", out.Len())
			}
			if tt.ok && len(tt.input) > 0 {
				resp, err := readFrame(&out, 8+64)
				if err != nil || binary.LittleEndian.Uint64(resp) != 7 ||
					!bytes.Equal(resp[8:], want([]byte("pw"), make([]byte, 16), cheap)) {
					t.Errorf("answer %x, %v", resp, err)
				}
			}
		})
	}
}

// FuzzParseRequest: parsing never panics, accepts only parameters
// auth.Params.Validate accepts, and encodes back to the same bytes.
func FuzzParseRequest(f *testing.F) {
	f.Add(appendRequest(nil, request{id: 1, params: cheap, salt: make([]byte, 16), password: []byte("pw")})[4:])
	f.Add(appendRequest(nil, request{params: auth.DefaultParams(), salt: make([]byte, 16)})[4:])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := parseRequest(body)
		if err != nil {
			return
		}
		if err := r.params.Validate(); err != nil {
			t.Fatalf("accepted invalid params: %v", err)
		}
		if again := appendRequest(nil, r)[4:]; !bytes.Equal(again, body) {
			t.Fatalf("round trip: %x != %x", again, body)
		}
	})
}
