package hashworker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/keep-dev/keep/internal/argon2id"
	"github.com/keep-dev/keep/internal/auth"
)

// command is the argument that makes the binary a worker. The leading
// underscores keep it out of the way of real subcommands; it is not in the
// usage text.
const command = "__keep-hash-worker"

// ErrUnavailable is returned by [Start] when this binary cannot run as a
// worker: [Main] was not called, or the platform has no idle priority.
var ErrUnavailable = errors.New("hashworker: this binary cannot start a hash worker")

// canServe is set once, by Main in main before anything else runs: whether
// this binary can be re-executed as a worker is a property of the program,
// not of any one Pool.
var canServe atomic.Bool

// Main must be called first in main. When the process was started as a
// worker it serves until stdin closes and exits; otherwise it records that
// the binary can start workers and returns.
func Main() {
	if len(os.Args) != 2 || os.Args[1] != command {
		canServe.Store(true)
		return
	}
	// The server ends its worker by closing stdin. A Ctrl-C reaches the
	// terminal's whole process group, and the worker must outlive the
	// server's graceful shutdown, in which logins may still finish.
	signal.Ignore(os.Interrupt, syscall.SIGTERM)
	// The heap is a few 19 MiB buffers at a time, all pointer-free, so a
	// collection is cheap and worth running often: at the default GOGC,
	// freed buffers and the collector's slack let two hashes hold 130 MiB.
	// (A memory limit was worse: the runtime returned the pages and every
	// hash faulted 19 MiB back in, a third of the login rate.)
	debug.SetGCPercent(25)
	if err := serve(os.Stdin, os.Stdout, runtime.GOMAXPROCS(0)); err != nil {
		fmt.Fprintln(os.Stderr, "keep hash worker:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Limits of the wire format. A password longer than maxPassword (no login
// path allows one; the bodies are bounded long before) is hashed in the
// server's process instead.
const (
	maxPassword = 1 << 14
	headerLen   = 8 + 4 + 4 + 1 + 1 + 1 // id, memory, iterations, parallelism, key length, salt length
	maxFrame    = headerLen + 64 + maxPassword
)

// request is one key to compute.
type request struct {
	id       uint64
	params   auth.Params
	salt     []byte
	password []byte
}

// appendRequest appends r's frame: a 4-byte length, then the fields.
func appendRequest(b []byte, r request) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(headerLen+len(r.salt)+len(r.password)))
	b = binary.LittleEndian.AppendUint64(b, r.id)
	b = binary.LittleEndian.AppendUint32(b, r.params.Memory)
	b = binary.LittleEndian.AppendUint32(b, r.params.Iterations)
	b = append(b, r.params.Parallelism, byte(r.params.KeyLen), byte(len(r.salt)))
	b = append(b, r.salt...)
	return append(b, r.password...)
}

// parseRequest parses a frame's body (after its length). The parameters
// must pass [auth.Params.Validate]: they decide how much memory the worker
// takes, so the worker does not trust them any more than the server trusts
// a stored hash.
func parseRequest(body []byte) (request, error) {
	if len(body) < headerLen || len(body) > maxFrame {
		return request{}, errors.New("bad frame length")
	}
	r := request{
		id: binary.LittleEndian.Uint64(body),
		params: auth.Params{
			Memory:      binary.LittleEndian.Uint32(body[8:]),
			Iterations:  binary.LittleEndian.Uint32(body[12:]),
			Parallelism: body[16],
			KeyLen:      uint32(body[17]),
			SaltLen:     uint32(body[18]),
		},
	}
	rest := body[headerLen:]
	if int(r.params.SaltLen) > len(rest) {
		return request{}, errors.New("salt longer than the frame")
	}
	if err := r.params.Validate(); err != nil {
		return request{}, err
	}
	r.salt, r.password = rest[:r.params.SaltLen], rest[r.params.SaltLen:]
	if len(r.password) > maxPassword {
		return request{}, errors.New("password too long")
	}
	return r, nil
}

// readFrame reads one length-prefixed frame into a new buffer.
func readFrame(r io.Reader, limit int) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err // io.EOF between frames: the stream ended cleanly
	}
	size := binary.LittleEndian.Uint32(n[:])
	if size > uint32(limit) {
		return nil, fmt.Errorf("frame of %d bytes exceeds %d", size, limit)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("short frame: %w", io.ErrUnexpectedEOF)
	}
	return b, nil
}

// serve is the worker: it computes each request's key, at most concurrency
// at a time, and answers with a frame of the request's id and the key, in
// the order they finish. A malformed frame ends it with an error: the
// stream is out of step, and the server starts a new worker.
func serve(in io.Reader, out io.Writer, concurrency int) error {
	var (
		wmu  sync.Mutex
		werr error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, max(concurrency, 1))
		mem  argon2id.Pool
		idle = &idleReleaser{after: idleRelease, release: func() {
			mem.Release()
			debug.FreeOSMemory()
		}}
	)
	defer wg.Wait()
	for {
		frame, err := readFrame(in, maxFrame)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		req, err := parseRequest(frame)
		if err != nil {
			return err
		}
		sem <- struct{}{}
		idle.busy()
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := req.params
			key := mem.Key(req.password, req.salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLen)
			clear(frame)
			idle.done()
			<-sem
			resp := binary.LittleEndian.AppendUint32(make([]byte, 0, 4+8+len(key)), uint32(8+len(key)))
			resp = binary.LittleEndian.AppendUint64(resp, req.id)
			resp = append(resp, key...)
			wmu.Lock()
			defer wmu.Unlock()
			if werr == nil {
				_, werr = out.Write(resp)
			}
		}()
	}
}

// idleRelease is how long the worker waits without a hash before it gives
// its memory back: a burst of logins reuses the Argon2 buffers (faulting
// 19 MiB in again would cost each hash milliseconds), a quiet worker keeps
// none of them.
const idleRelease = time.Second

// idleReleaser calls release (which lets the kept Argon2 memory go and
// returns the worker's free memory to the kernel) once no hash has run for
// a while.
type idleReleaser struct {
	mu       sync.Mutex
	inFlight int
	after    time.Duration
	release  func()
	timer    *time.Timer
}

func (r *idleReleaser) busy() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inFlight++
	if r.timer != nil {
		r.timer.Stop()
	}
}

func (r *idleReleaser) done() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inFlight--; r.inFlight == 0 {
		r.timer = time.AfterFunc(r.after, r.release)
	}
}

// Pool computes keys in a worker process, starting it again after it dies.
// When no worker runs, or one does not answer within answerWithin, keys are
// computed in the calling process, so hashing never fails or hangs for want
// of a worker. A Pool is safe for concurrent use; the number of keys in
// flight is the caller's to bound (auth.Hasher's slots), which also bounds
// the worker's memory. The zero value is not usable; use [Start].
type Pool struct {
	concurrency int
	log         *slog.Logger
	// restartEvery limits how often a worker is started: one that dies at
	// once (a broken binary) must not turn every login into a fork.
	restartEvery time.Duration
	// answerWithin bounds the wait for one key. At SCHED_IDLE a worker
	// gets almost no CPU while normal work keeps every core busy, and a
	// stopped or frozen one gets none; past this the worker is killed and
	// the key computed here, at normal priority.
	answerWithin time.Duration

	mu        sync.Mutex
	w         *worker
	lastStart time.Time
	closed    bool
}

// Defaults of a Pool's restartEvery and answerWithin.
const (
	restartEvery = time.Second
	answerWithin = 5 * time.Second
)

// Start starts a worker that runs concurrency hashes at a time and returns
// its Pool, or [ErrUnavailable] when this binary or platform cannot run
// one.
func Start(concurrency int, log *slog.Logger) (*Pool, error) {
	p := &Pool{concurrency: concurrency, log: log, restartEvery: restartEvery, answerWithin: answerWithin}
	w, err := start(concurrency, log)
	if err != nil {
		return nil, err
	}
	p.w, p.lastStart = w, time.Now()
	return p, nil
}

// Key returns the Argon2id key of password and salt under params, computed
// by the worker, or in this process when the worker is unavailable or has
// not answered within answerWithin (it is then killed). It takes no context:
// once a key is asked for, the caller's slot must stay taken until the work
// is done, as with a hash computed in this process.
func (p *Pool) Key(password, salt []byte, params auth.Params) []byte {
	if len(password) <= maxPassword && len(salt) <= 64 {
		if w := p.worker(); w != nil {
			key, err := w.key(request{params: params, salt: salt, password: password}, p.answerWithin)
			if err == nil {
				return key
			}
			p.log.Warn("password hash worker failed; hashing in the server process until it restarts", "err", err)
		}
	}
	return argon2id.Key(password, salt, params.Iterations, params.Memory, params.Parallelism, params.KeyLen)
}

// worker returns the running worker, starting a new one when the last has
// died and restartEvery has passed; nil means "compute in this process".
func (p *Pool) worker() *worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.w != nil && !p.w.isDead() {
		return p.w
	}
	if p.closed || time.Since(p.lastStart) < p.restartEvery {
		return nil
	}
	p.lastStart = time.Now()
	w, err := start(p.concurrency, p.log)
	if err != nil {
		p.log.Warn("password hash worker did not start; hashing in the server process", "err", err)
		return nil
	}
	p.w = w
	return w
}

// Close ends the worker: its stdin closes, so it answers the keys in flight
// and exits; one that has not exited after a few seconds is killed, and
// the keys it did not answer are computed by their callers. Keys asked for
// after Close are computed in the calling process.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	w := p.w
	p.w = nil
	p.mu.Unlock()
	if w != nil {
		w.stop(5 * time.Second)
	}
	return nil
}

// pid returns the process id of the running worker, or 0; tests use it.
func (p *Pool) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.w == nil || p.w.isDead() {
		return 0
	}
	return p.w.cmd.Process.Pid
}

// worker is one running worker process.
type worker struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	exited  chan struct{} // closed when the process has been waited for
	closing atomic.Bool   // stop was called: its exit is expected

	wmu sync.Mutex // one frame at a time on stdin

	mu      sync.Mutex
	pending map[uint64]chan []byte
	next    uint64
	err     error // why it died; nil while it runs
}

var errWorkerGone = errors.New("hash worker exited")

// start starts a worker process (spawn is per platform) and its reader.
func start(concurrency int, log *slog.Logger) (*worker, error) {
	if !canServe.Load() {
		return nil, ErrUnavailable
	}
	cmd, stdin, stdout, err := spawn(concurrency)
	if err != nil {
		return nil, err
	}
	w := &worker{cmd: cmd, stdin: stdin, exited: make(chan struct{}), pending: map[uint64]chan []byte{}}
	go w.read(stdout, log)
	return w, nil
}

func (w *worker) isDead() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err != nil
}

// key sends r (with a fresh id) and waits for its answer, at most within.
func (w *worker) key(r request, within time.Duration) ([]byte, error) {
	ch := make(chan []byte, 1)
	w.mu.Lock()
	if w.err != nil {
		w.mu.Unlock()
		return nil, w.err
	}
	r.id = w.next
	w.next++
	w.pending[r.id] = ch
	w.mu.Unlock()

	frame := appendRequest(make([]byte, 0, 4+headerLen+len(r.salt)+len(r.password)), r)
	w.wmu.Lock()
	_, err := w.stdin.Write(frame)
	w.wmu.Unlock()
	clear(frame) // it holds the password
	if err != nil {
		w.fail(fmt.Errorf("writing to the hash worker: %w", err))
	}
	timer := time.NewTimer(within)
	defer timer.Stop()
	var (
		key []byte
		ok  bool
	)
	select {
	case key, ok = <-ch:
	case <-timer.C:
		err := fmt.Errorf("hash worker: no answer within %v", within)
		w.fail(err)
		_ = w.cmd.Process.Kill()
		return nil, err
	}
	if !ok {
		w.mu.Lock()
		defer w.mu.Unlock()
		return nil, w.err
	}
	if len(key) != int(r.params.KeyLen) {
		w.fail(fmt.Errorf("hash worker: key of %d bytes, want %d", len(key), r.params.KeyLen))
		return nil, errors.New("hash worker: wrong key length")
	}
	return key, nil
}

// read delivers the worker's answers until its stdout ends, then reaps it.
func (w *worker) read(stdout io.Reader, log *slog.Logger) {
	for {
		frame, err := readFrame(stdout, 8+64)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errWorkerGone
			}
			w.fail(err)
			break
		}
		if len(frame) < 8+16 {
			w.fail(errors.New("hash worker: short answer"))
			break
		}
		id := binary.LittleEndian.Uint64(frame)
		w.mu.Lock()
		ch, ok := w.pending[id]
		delete(w.pending, id)
		w.mu.Unlock()
		if !ok {
			w.fail(fmt.Errorf("hash worker: answer to unknown request %d", id))
			break
		}
		ch <- frame[8:]
	}
	// Unblock a worker that still writes (the pipe's reader is gone), then
	// reap it.
	_ = w.cmd.Process.Kill()
	if err := w.cmd.Wait(); err != nil && !w.closing.Load() {
		log.Warn("password hash worker exited", "err", err)
	}
	close(w.exited)
}

// fail marks the worker dead and answers every waiting request with err.
func (w *worker) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return
	}
	w.err = err
	for id, ch := range w.pending {
		close(ch)
		delete(w.pending, id)
	}
	_ = w.stdin.Close()
}

// stop ends the worker: its stdin closes, so it answers the keys in flight
// and exits. One that has not exited within grace is killed; the callers it
// did not answer compute their keys themselves.
func (w *worker) stop(grace time.Duration) {
	w.closing.Store(true)
	w.wmu.Lock()
	_ = w.stdin.Close()
	w.wmu.Unlock()
	select {
	case <-w.exited:
	case <-time.After(grace):
		_ = w.cmd.Process.Kill()
		<-w.exited
	}
}
