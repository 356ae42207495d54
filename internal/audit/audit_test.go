package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/keep-dev/keep/internal/audit"
	"github.com/keep-dev/keep/internal/secretbox"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

func newLog(t testing.TB, db store.DB, file string) *audit.Log {
	t.Helper()
	box, err := secretbox.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(context.Background(), db, audit.Options{Keys: box, CheckpointFile: file})
	if err != nil {
		t.Fatalf("audit.Open: %v", err)
	}
	return l
}

// fill records n entries and seals them.
func fill(t testing.TB, l *audit.Log, n int) {
	t.Helper()
	ctx := audit.WithRequest(context.Background(), &audit.Request{Actor: "user:u1", IP: "192.0.2.1", UserAgent: "test", RequestID: "req-1"})
	for i := range n {
		if err := l.Record(ctx, audit.Event{Action: "test.action", Target: fmt.Sprintf("thing/%d", i+1), Details: map[string]any{"i": i + 1}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Seal(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func verify(t *testing.T, l *audit.Log) audit.Report {
	t.Helper()
	rep, err := l.Verify(context.Background())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}

func exec(t *testing.T, db store.DB, sql string, args ...any) {
	t.Helper()
	if err := db.Tx(context.Background(), func(q store.Querier) error {
		_, err := q.Exec(context.Background(), sql, args...)
		return err
	}); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

const cols = `time, actor, action, target, outcome, ip, user_agent, request_id, details, nonce, prev_hash, hash, mac`

// copied selects a row's columns for a copy: the nonce is unique, so the
// copy's differs.
const copied = `time, actor, action, target, outcome, ip, user_agent, request_id, details, nonce || 'x', prev_hash, hash, mac`

// TestTamperingIsNamed is acceptance point 3 at the package level: each
// kind of direct change to the table makes Verify fail naming the entry.
func TestTamperingIsNamed(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		cases := []struct {
			name   string
			tamper func(t *testing.T, db store.DB)
			bad    int64
		}{
			{"untouched", func(*testing.T, store.DB) {}, 0},
			{"change a byte", func(t *testing.T, db store.DB) {
				exec(t, db, `UPDATE _keep_audit_log SET target = 'thing/X' WHERE seq = 4`)
			}, 4},
			{"change details", func(t *testing.T, db store.DB) {
				exec(t, db, `UPDATE _keep_audit_log SET details = '{"i":99}' WHERE seq = 2`)
			}, 2},
			{"delete a row", func(t *testing.T, db store.DB) {
				exec(t, db, `DELETE FROM _keep_audit_log WHERE seq = 5`)
			}, 5},
			{"delete the first row", func(t *testing.T, db store.DB) {
				exec(t, db, `DELETE FROM _keep_audit_log WHERE seq = 1`)
			}, 1},
			{"delete a row and renumber the rest", func(t *testing.T, db store.DB) {
				exec(t, db, `DELETE FROM _keep_audit_log WHERE seq = 5`)
				exec(t, db, `UPDATE _keep_audit_log SET seq = seq + 1000 WHERE seq > 5`)
				exec(t, db, `UPDATE _keep_audit_log SET seq = seq - 1001 WHERE seq > 1000`)
			}, 5},
			{"insert a copy at the end", func(t *testing.T, db store.DB) {
				exec(t, db, `INSERT INTO _keep_audit_log (seq, `+cols+`) SELECT 11, `+copied+` FROM _keep_audit_log WHERE seq = 10`)
			}, 11},
			{"insert in the middle", func(t *testing.T, db store.DB) {
				exec(t, db, `UPDATE _keep_audit_log SET seq = seq + 1000 WHERE seq >= 6`)
				exec(t, db, `UPDATE _keep_audit_log SET seq = seq - 999 WHERE seq > 1000`)
				exec(t, db, `INSERT INTO _keep_audit_log (seq, `+cols+`) SELECT 6, `+copied+` FROM _keep_audit_log WHERE seq = 3`)
			}, 6},
			{"swap two rows", func(t *testing.T, db store.DB) {
				exec(t, db, `UPDATE _keep_audit_log SET seq = 1003 WHERE seq = 3`)
				exec(t, db, `UPDATE _keep_audit_log SET seq = 3 WHERE seq = 7`)
				exec(t, db, `UPDATE _keep_audit_log SET seq = 7 WHERE seq = 1003`)
			}, 3},
			{"truncate the end behind a checkpoint", func(t *testing.T, db store.DB) {
				exec(t, db, `DELETE FROM _keep_audit_log WHERE seq >= 9`)
			}, 9},
			{"alter a checkpoint", func(t *testing.T, db store.DB) {
				exec(t, db, `UPDATE _keep_audit_checkpoints SET seq = 3`)
			}, -1},
			{"a junk checkpoint does not hide a changed entry", func(t *testing.T, db store.DB) {
				exec(t, db, `INSERT INTO _keep_audit_checkpoints (seq, head_hash, time, key_id, signature) VALUES (0, 'x', 'y', 'z', 'w')`)
				exec(t, db, `UPDATE _keep_audit_log SET outcome = 'denied' WHERE seq = 4`)
			}, 4},
			{"change only the mac", func(t *testing.T, db store.DB) {
				exec(t, db, `UPDATE _keep_audit_log SET mac = hash WHERE seq = 7`)
			}, 7},
			{"change only prev_hash", func(t *testing.T, db store.DB) {
				exec(t, db, `UPDATE _keep_audit_log SET prev_hash = hash WHERE seq = 8`)
			}, 8},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				db := open(t)
				l := newLog(t, db, "")
				fill(t, l, 10)
				if _, err := l.Checkpoint(context.Background()); err != nil {
					t.Fatal(err)
				}
				tc.tamper(t, db)
				rep := verify(t, l)
				switch {
				case tc.bad == -1: // a checkpoint, not an entry, is at fault
					if rep.OK || rep.FirstBadSeq != 0 || !strings.Contains(rep.Problem, "checkpoint") {
						t.Fatalf("report %+v, want a checkpoint named", rep)
					}
				case rep.OK != (tc.bad == 0) || rep.FirstBadSeq != tc.bad:
					t.Fatalf("report %+v, want first bad seq %d", rep, tc.bad)
				}
				if tc.bad == 0 && (rep.Entries != 10 || rep.Checkpoints != 1) {
					t.Fatalf("report %+v, want 10 entries and 1 checkpoint", rep)
				}
			})
		}
	})
}

// TestRechainWithoutKey: an attacker who recomputes the SHA-256 chain after
// an edit, but has no MAC key, is still caught at the edited entry.
func TestRechainWithoutKey(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		db := open(t)
		l := newLog(t, db, "")
		fill(t, l, 5)
		// The attacker copies entry 5's hash and prev_hash onto a forged
		// entry 6 appended after it, as if re-chained: its MAC cannot match.
		exec(t, db, `INSERT INTO _keep_audit_log (seq, `+cols+`) SELECT 6, `+copied+` FROM _keep_audit_log WHERE seq = 5`)
		if rep := verify(t, l); rep.OK || rep.FirstBadSeq != 6 {
			t.Fatalf("report %+v, want entry 6 named", rep)
		}
	})
}

func TestCheckpointFileCatchesDeletedCheckpoints(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		db := open(t)
		file := filepath.Join(t.TempDir(), "checkpoints.jsonl")
		l := newLog(t, db, file)
		fill(t, l, 6)
		if _, err := l.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
		// Remove the tail and the database's checkpoints: only the file
		// still knows there were 6 entries.
		exec(t, db, `DELETE FROM _keep_audit_checkpoints`)
		exec(t, db, `DELETE FROM _keep_audit_log WHERE seq >= 5`)
		if rep := verify(t, l); rep.OK || rep.FirstBadSeq != 5 {
			t.Fatalf("report %+v, want entry 5 named", rep)
		}
	})
}

// TestFailedTransactionLeavesNoEntry: the entry commits with its change or
// not at all.
func TestFailedTransactionLeavesNoEntry(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		db := open(t)
		l := newLog(t, db, "")
		boom := errors.New("boom")
		err := db.Tx(context.Background(), func(q store.Querier) error {
			if err := l.Append(context.Background(), q, audit.Event{Action: "x.change"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		p, err := l.List(context.Background(), audit.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Items) != 0 {
			t.Fatalf("entries after a rolled back change: %+v", p.Items)
		}
	})
}

// TestConcurrentAppendAndSeal: many writers and sealers at once give one
// gapless chain holding every entry exactly once.
func TestConcurrentAppendAndSeal(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		db := open(t)
		l := newLog(t, db, "")
		l2 := newLog(t, db, "") // a second process's view of the same log
		const writers, each = 8, 25
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					if err := l.Record(context.Background(), audit.Event{Action: "w", Target: fmt.Sprintf("%d/%d", w, i)}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		done := make(chan struct{})
		for _, s := range []*audit.Log{l, l2} {
			wg.Go(func() {
				for {
					select {
					case <-done:
						return
					default:
					}
					if _, err := s.Seal(context.Background()); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		// Wait for the writers by polling the count, then stop the sealers.
		for {
			rep := verify(t, l)
			if !rep.OK {
				t.Fatalf("report %+v", rep)
			}
			if rep.Entries+rep.Pending == writers*each {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		close(done)
		wg.Wait()
		if _, err := l.Seal(context.Background()); err != nil {
			t.Fatal(err)
		}
		rep := verify(t, l)
		if !rep.OK || rep.Entries != writers*each || rep.Pending != 0 {
			t.Fatalf("report %+v, want %d entries", rep, writers*each)
		}
		seen := map[string]bool{}
		var buf bytes.Buffer
		if _, err := l.Export(context.Background(), time.Time{}, &buf); err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			var e audit.Entry
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatal(err)
			}
			if seen[e.Target] {
				t.Fatalf("entry %s sealed twice", e.Target)
			}
			seen[e.Target] = true
		}
		if len(seen) != writers*each {
			t.Fatalf("%d distinct entries exported", len(seen))
		}
	})
}

// TestLateCommitIsSealedLater: on PostgreSQL an entry with a lower id can
// commit after the sealer has sealed a higher one; it must be sealed on a
// later round, not lost or skipped.
func TestLateCommitIsSealedLater(t *testing.T) {
	db := enginetest.Postgres(t)
	l := newLog(t, db, "")
	ctx := context.Background()
	appended, release := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- db.Tx(ctx, func(q store.Querier) error {
			if err := l.Append(ctx, q, audit.Event{Action: "slow"}); err != nil {
				return err
			}
			close(appended)
			<-release
			return nil
		})
	}()
	<-appended
	if err := l.Record(ctx, audit.Event{Action: "fast"}); err != nil {
		t.Fatal(err)
	}
	if n, err := l.Seal(ctx); err != nil || n != 1 {
		t.Fatalf("first seal: %d, %v", n, err)
	}
	close(release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if n, err := l.Seal(ctx); err != nil || n != 1 {
		t.Fatalf("second seal: %d, %v", n, err)
	}
	p, err := l.List(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 2 || p.Items[0].Action != "slow" || p.Items[1].Action != "fast" {
		t.Fatalf("items %+v", p.Items)
	}
	if rep := verify(t, l); !rep.OK {
		t.Fatalf("report %+v", rep)
	}
}

func TestListFiltersAndCursor(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		db := open(t)
		now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
		box, _ := secretbox.New(bytes.Repeat([]byte{7}, 32))
		clock := now
		l, err := audit.Open(context.Background(), db, audit.Options{Keys: box, Now: func() time.Time { return clock }})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for i := range 7 {
			clock = now.Add(time.Duration(i) * time.Minute)
			actor := "user:a"
			if i%2 == 1 {
				actor = "user:b"
			}
			if err := l.Record(ctx, audit.Event{Action: "act", Actor: actor, Target: fmt.Sprintf("t/%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		p, err := l.List(ctx, audit.Filter{Actor: "user:a", Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for {
			for _, e := range p.Items {
				got = append(got, e.Target)
			}
			if p.NextCursor == "" {
				break
			}
			if p, err = l.List(ctx, audit.Filter{Actor: "user:a", Limit: 2, Cursor: p.NextCursor}); err != nil {
				t.Fatal(err)
			}
		}
		if strings.Join(got, ",") != "t/6,t/4,t/2,t/0" {
			t.Fatalf("actor pages: %v", got)
		}
		p, err = l.List(ctx, audit.Filter{Since: now.Add(2 * time.Minute), Until: now.Add(4 * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Items) != 2 || p.Items[0].Target != "t/3" || p.Items[1].Target != "t/2" {
			t.Fatalf("time range: %+v", p.Items)
		}
		if p.Items[0].Time != "2026-12-03T10:03:00.000000Z" {
			t.Fatalf("time %q", p.Items[0].Time)
		}
		for _, f := range []audit.Filter{{Limit: -1}, {Limit: audit.MaxLimit + 1}, {Cursor: "abc"}, {Cursor: "0"}, {Target: strings.Repeat("x", 600)}} {
			if _, err := l.List(ctx, f); !errors.Is(err, audit.ErrInvalid) {
				t.Errorf("List(%+v) = %v, want ErrInvalid", f, err)
			}
		}
	})
}

func TestRedact(t *testing.T) {
	db := enginetest.SQLite(t)
	l := newLog(t, db, "")
	a, b := l.Redact("alice@example.com"), l.Redact("alice@example.com")
	if a != b || strings.Contains(a, "alice") || a == l.Redact("bob@example.com") {
		t.Fatalf("redactions %q %q", a, b)
	}
	// The keys persist: a second Log on the same database redacts alike.
	if l2 := newLog(t, db, ""); l2.Redact("alice@example.com") != a {
		t.Fatal("redaction key changed between opens")
	}
}

// TestForgedPendingIsRefused: someone with database access queues an entry
// of their own, or replays one Keep queued; the sealer chains neither, and
// records the attempt in their place.
func TestForgedPendingIsRefused(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		db := open(t)
		l := newLog(t, db, "")
		ctx := context.Background()
		const pcols = `time, actor, action, target, outcome, ip, user_agent, request_id, details, nonce, mac`
		if err := l.Record(ctx, audit.Event{Action: "real"}); err != nil {
			t.Fatal(err)
		}
		// A replay of the queued entry, and an invented one.
		exec(t, db, `INSERT INTO _keep_audit_pending (`+pcols+`) SELECT `+pcols+` FROM _keep_audit_pending`)
		exec(t, db, `INSERT INTO _keep_audit_pending (`+pcols+`) VALUES ('1999-01-01T00:00:00.000000Z', 'user:ceo', 'role.assign', 'user:x', 'success', '', '', '', '{}', 'n', 'm')`)
		if _, err := l.Seal(ctx); err != nil {
			t.Fatal(err)
		}
		p, err := l.List(ctx, audit.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range p.Items {
			actions = append(actions, e.Action)
		}
		if strings.Join(actions, ",") != "audit.forged_pending,audit.forged_pending,real" {
			t.Fatalf("sealed %v", actions)
		}
		if rep := verify(t, l); !rep.OK || rep.Entries != 3 || rep.Pending != 0 {
			t.Fatalf("report %+v", rep)
		}
	})
}

// TestWrittenOnlyAfterCommit: a request whose entry rolled back counts as
// having none, so the HTTP layer still records its refusal.
func TestWrittenOnlyAfterCommit(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		db := open(t)
		l := newLog(t, db, "")
		r := &audit.Request{Actor: "user:u"}
		ctx := audit.WithRequest(context.Background(), r)
		_ = db.Tx(ctx, func(q store.Querier) error {
			if err := l.Append(ctx, q, audit.Event{Action: "x"}); err != nil {
				return err
			}
			return errors.New("roll back")
		})
		if r.Written() {
			t.Fatal("Written after a rollback")
		}
		if err := l.Record(ctx, audit.Event{Action: "x"}); err != nil {
			t.Fatal(err)
		}
		if !r.Written() {
			t.Fatal("not Written after a commit")
		}
	})
}

func TestClipAndLargeDetails(t *testing.T) {
	db := enginetest.SQLite(t)
	l := newLog(t, db, "")
	ctx := context.Background()
	big := strings.Repeat("é", 5000)
	if err := l.Record(ctx, audit.Event{Action: "big", Target: "bad\x00\xff" + big,
		Details: map[string]any{"reason": "kept", "blob": big}}); err != nil {
		t.Fatal(err)
	}
	p, err := l.List(ctx, audit.Filter{Action: "big"})
	if err != nil || len(p.Items) != 1 {
		t.Fatalf("%v %v", p, err)
	}
	e := p.Items[0]
	if len(e.Target) > 512 || strings.ContainsRune(e.Target, 0) || !utf8.ValidString(e.Target) {
		t.Fatalf("target not clipped: %d bytes", len(e.Target))
	}
	var d map[string]any
	if err := json.Unmarshal(e.Details, &d); err != nil || d["reason"] != "kept" || d["truncated"] != true {
		t.Fatalf("details %s", e.Details)
	}
}
