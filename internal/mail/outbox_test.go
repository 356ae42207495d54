package mail

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// clock is a settable fake time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func enqueue(t *testing.T, o *Outbox, db store.DB, to, subject, body string) {
	t.Helper()
	if err := db.Tx(context.Background(), func(q store.Querier) error {
		return o.Enqueue(context.Background(), q, to, subject, body)
	}); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
}

func deliver(t *testing.T, o *Outbox, want int) {
	t.Helper()
	n, err := o.DeliverDue(context.Background())
	if err != nil {
		t.Fatalf("DeliverDue: %v", err)
	}
	if n != want {
		t.Fatalf("DeliverDue delivered %d, want %d", n, want)
	}
}

type row struct {
	attempts  int
	sent      bool
	body      string
	lastError string
	next      time.Time
}

func outboxRows(t *testing.T, db store.DB) []row {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT attempts, sent_at, body, last_error, next_attempt FROM _keep_outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		var (
			r         row
			sent, nxt any
			lastErr   *string
		)
		if err := rows.Scan(&r.attempts, &sent, &r.body, &lastErr, &nxt); err != nil {
			t.Fatal(err)
		}
		r.sent = sent != nil
		if lastErr != nil {
			r.lastError = *lastErr
		}
		if r.next, err = scanTime(nxt); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFileSink(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		db := open(t)
		dir := filepath.Join(t.TempDir(), "outbox")
		o, err := New(db, Config{Mode: "file", Dir: dir, From: "Keep <keep@example.com>"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := newClock()
		o.now = c.now
		body := "Hello,\n\nopen https://keep.example.com/auth/verify#token=abc_DEF-123\n"
		enqueue(t, o, db, "alice@example.com", "Verify your email address", body)
		deliver(t, o, 1)
		deliver(t, o, 0) // sent once

		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("outbox dir: %v %v", fi.Mode(), err)
		}
		files, err := filepath.Glob(filepath.Join(dir, "*"))
		if err != nil || len(files) != 1 || !strings.HasSuffix(files[0], ".eml") {
			t.Fatalf("files in outbox: %v %v", files, err)
		}
		fi, err := os.Stat(files[0])
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("message file mode: %v %v", fi.Mode(), err)
		}
		f, err := os.Open(files[0])
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		msg, err := mail.ReadMessage(f)
		if err != nil {
			t.Fatalf("ReadMessage: %v", err)
		}
		id := strings.TrimSuffix(filepath.Base(files[0]), ".eml")
		for k, want := range map[string]string{
			"From":         `"Keep" <keep@example.com>`,
			"To":           "alice@example.com",
			"Subject":      "Verify your email address",
			"Message-Id":   "<" + id + "@example.com>",
			"Content-Type": "text/plain; charset=utf-8",
			"Mime-Version": "1.0",
		} {
			if got := msg.Header.Get(k); got != want {
				t.Errorf("%s: %q, want %q", k, got, want)
			}
		}
		if d, err := msg.Header.Date(); err != nil || !d.Equal(c.now()) {
			t.Errorf("Date: %v %v, want %v", d, err, c.now())
		}
		got, _ := io.ReadAll(msg.Body)
		if strings.ReplaceAll(string(got), "\r\n", "\n") != body {
			t.Errorf("body %q, want %q", got, body)
		}
		rs := outboxRows(t, db)
		if len(rs) != 1 || !rs[0].sent || rs[0].body != "" || rs[0].attempts != 1 {
			t.Fatalf("row after delivery: %+v (the body must be erased)", rs)
		}
	})
}

func TestNonASCIIBodyIsQuotedPrintable(t *testing.T) {
	raw, err := render(message{ID: "0190a0b0-0000-7000-8000-000000000001", Created: time.Now(), To: "a@example.com",
		Subject: "Grüße", Body: "Grüße, " + strings.Repeat("x", 1200)}, &mail.Address{Address: "keep@localhost"})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
		t.Fatalf("encoding %q", msg.Header.Get("Content-Transfer-Encoding"))
	}
	if s, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil || s != "Grüße" {
		t.Fatalf("subject %q %v", s, err)
	}
}

func TestEnqueueFollowsTheTransaction(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		db := open(t)
		o, err := New(db, Config{Dir: t.TempDir()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		err = db.Tx(context.Background(), func(q store.Querier) error {
			if err := o.Enqueue(context.Background(), q, "a@example.com", "s", "b"); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		deliver(t, o, 0)
		if rs := outboxRows(t, db); len(rs) != 0 {
			t.Fatalf("a rolled back mail is queued: %+v", rs)
		}
	})
}

func TestHeaderInjectionRefused(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		db := open(t)
		dir := t.TempDir()
		o, err := New(db, Config{Dir: dir}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for name, tc := range map[string]struct{ to, subject string }{
			"CRLF in recipient": {"a@example.com\r\nBcc: evil@example.com", "s"},
			"LF in recipient":   {"a@example.com\nBcc: evil@example.com", "s"},
			"CRLF in subject":   {"a@example.com", "hi\r\nBcc: evil@example.com"},
			"LF in subject":     {"a@example.com", "hi\nX: y"},
			"CR in subject":     {"a@example.com", "hi\rX: y"},
			"NUL in subject":    {"a@example.com", "hi\x00"},
			"two recipients":    {"a@example.com, evil@example.com", "s"},
			"display name":      {"A <a@example.com>", "s"},
			"not an address":    {"nobody", "s"},
			"invalid utf-8":     {"a@example.com", "\xff"},
		} {
			t.Run(name, func(t *testing.T) {
				err := db.Tx(context.Background(), func(q store.Querier) error {
					return o.Enqueue(context.Background(), q, tc.to, tc.subject, "body")
				})
				if !errors.Is(err, ErrHeader) {
					t.Fatalf("Enqueue(%q, %q) = %v, want ErrHeader", tc.to, tc.subject, err)
				}
			})
		}
		// A row written around Enqueue is refused at delivery too.
		if err := db.Tx(context.Background(), func(q store.Querier) error {
			_, err := q.Exec(context.Background(), `INSERT INTO _keep_outbox (id, created, recipient, subject, body, next_attempt)
				VALUES (?, ?, ?, ?, ?, ?)`, "0190a0b0-0000-7000-8000-000000000001", o.timeArg(time.Now()), "a@example.com",
				"x\r\nBcc: evil@example.com", "b", o.timeArg(time.Now()))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		deliver(t, o, 0)
		rs := outboxRows(t, db)
		if len(rs) != 1 || rs[0].sent || rs[0].attempts != 1 || !strings.Contains(rs[0].lastError, "invalid header") {
			t.Fatalf("row: %+v", rs)
		}
		if files, _ := filepath.Glob(filepath.Join(dir, "*.eml")); len(files) != 0 {
			t.Fatalf("delivered: %v", files)
		}
		if _, err := New(db, Config{Dir: dir, From: "keep@example.com\r\nBcc: evil@example.com"}, nil); err == nil {
			t.Fatal("New accepted a From with CRLF")
		}
	})
}

func TestNewChecksConfig(t *testing.T) {
	db := enginetest.SQLite(t)
	for name, cfg := range map[string]Config{
		"unknown mode":            {Mode: "carrier-pigeon", Dir: t.TempDir()},
		"file without dir":        {Mode: "file"},
		"smtp without host":       {Mode: "smtp"},
		"bad tls":                 {Mode: "smtp", Host: "mail.example.com", TLS: "maybe"},
		"plain auth over the net": {Mode: "smtp", Host: "mail.example.com", TLS: "none", Username: "u", Password: "p"},
		"bad port":                {Mode: "smtp", Host: "mail.example.com", Port: 70000},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := New(db, cfg, nil); err == nil {
				t.Fatalf("New(%+v) succeeded", cfg)
			}
		})
	}
	if _, err := New(db, Config{Mode: "smtp", Host: "localhost", TLS: "none", Username: "u", Password: "p"}, nil); err != nil {
		t.Fatalf("plain auth to localhost: %v", err)
	}
}

// countingSink records deliveries and takes a little while, to give
// concurrent passes a chance to overlap.
type countingSink struct {
	mu    sync.Mutex
	count map[string]int
}

func (c *countingSink) deliver(_ context.Context, _ string, m message, _ []byte) error {
	time.Sleep(2 * time.Millisecond)
	c.mu.Lock()
	c.count[m.ID]++
	c.mu.Unlock()
	return nil
}

func TestConcurrentPassesSendOnce(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		db := open(t)
		sink := &countingSink{count: map[string]int{}}
		// Two outboxes on one database stand for two replicas.
		var boxes []*Outbox
		for range 2 {
			o, err := New(db, Config{Dir: t.TempDir()}, nil)
			if err != nil {
				t.Fatal(err)
			}
			o.sink = sink
			boxes = append(boxes, o)
		}
		const n = 30
		for i := range n {
			enqueue(t, boxes[i%2], db, "a@example.com", "s", "b")
		}
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			total int
		)
		for i := range 6 {
			wg.Go(func() {
				got, err := boxes[i%2].DeliverDue(context.Background())
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				total += got
				mu.Unlock()
			})
		}
		wg.Wait()
		if total != n || len(sink.count) != n {
			t.Fatalf("delivered %d (%d distinct), want %d", total, len(sink.count), n)
		}
		for id, c := range sink.count {
			if c != 1 {
				t.Errorf("message %s delivered %d times", id, c)
			}
		}
	})
}

func TestBackoff(t *testing.T) {
	// 30 s × 2^7 = 64 min is past the cap.
	for n, want := range map[int]time.Duration{1: 30 * time.Second, 2: time.Minute, 3: 2 * time.Minute, 7: 32 * time.Minute, 8: time.Hour, 50: time.Hour} {
		if got := backoff(n); got != want {
			t.Errorf("backoff(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestShortError(t *testing.T) {
	o := &Outbox{password: "s3cret"}
	got := o.shortError(errors.New("auth failed for s3cret\r\nline two " + strings.Repeat("é", 200)))
	if strings.Contains(got, "s3cret") || strings.ContainsAny(got, "\r\n") || len(got) > maxErrorLen || !strings.Contains(got, "REDACTED") {
		t.Fatalf("shortError: %q", got)
	}
	if !strings.HasPrefix(got, "auth failed for REDACTED  line two") {
		t.Fatalf("shortError: %q", got)
	}
}

func TestRunDeliversAndStops(t *testing.T) {
	db := enginetest.SQLite(t)
	dir := t.TempDir()
	o, err := New(db, Config{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	enqueue(t, o, db, "a@example.com", "s", "b")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if files, _ := filepath.Glob(filepath.Join(dir, "*.eml")); len(files) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not deliver within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
