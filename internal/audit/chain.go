package audit

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"

	"github.com/keep-dev/keep/internal/store"
)

// Entry is one audit log entry as stored and as the API shows it. Details
// is a JSON object.
type Entry struct {
	Seq       int64           `json:"seq"`
	Time      string          `json:"time"`
	Actor     string          `json:"actor"`
	Action    string          `json:"action"`
	Target    string          `json:"target"`
	Outcome   string          `json:"outcome"`
	IP        string          `json:"ip"`
	UserAgent string          `json:"user_agent"`
	RequestID string          `json:"request_id"`
	Details   json.RawMessage `json:"details"`
	PrevHash  string          `json:"prev_hash"`
	Hash      string          `json:"hash"`
	nonce     string
	mac       string
}

// genesis is the prev_hash of the first entry.
var genesis = strings.Repeat("0", 64)

// entryDomain separates entry hashes from every other SHA-256 use.
const entryDomain = "keep.audit.entry.v1\x00"

// computeHash is the chain hash of e given its predecessor's hash (hex).
// It fails only when prevHex is not 32 bytes of hex, which verify reports.
func computeHash(prevHex string, e *Entry) (string, error) {
	prev, err := hex.DecodeString(prevHex)
	if err != nil || len(prev) != sha256.Size {
		return "", errors.New("prev_hash is not a SHA-256 in hex")
	}
	h := sha256.New()
	h.Write([]byte(entryDomain))
	h.Write(prev)
	for _, f := range []string{strconv.FormatInt(e.Seq, 10), e.Time, e.Actor, e.Action, e.Target, e.Outcome,
		e.IP, e.UserAgent, e.RequestID, string(e.Details), e.nonce} {
		writeField(h, f)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeField writes a length-prefixed field, so that no two different
// entries hash the same bytes.
func writeField(h hash.Hash, s string) {
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
	h.Write([]byte(s))
}

func (l *Log) computeMAC(hashHex string) string {
	m := hmac.New(sha256.New, l.keys.mac)
	m.Write([]byte("keep.audit.mac.v1\x00"))
	m.Write([]byte(hashHex))
	return hex.EncodeToString(m.Sum(nil))
}

// sealBatch bounds one sealing transaction.
const sealBatch = 500

// sealLock is the PostgreSQL advisory lock key of the sealer ("keepaud").
const sealLock = 0x6b656570617564

const entryColumns = `time, actor, action, target, outcome, ip, user_agent, request_id, details`

// sealedColumns are the columns of a sealed entry, in scanSealed's order.
const sealedColumns = `seq, ` + entryColumns + `, nonce, prev_hash, hash, mac`

// scanSealed reads one row of sealedColumns.
func scanSealed(rows store.Rows) (Entry, error) {
	var e Entry
	var details string
	err := rows.Scan(&e.Seq, &e.Time, &e.Actor, &e.Action, &e.Target, &e.Outcome, &e.IP, &e.UserAgent,
		&e.RequestID, &details, &e.nonce, &e.PrevHash, &e.Hash, &e.mac)
	e.Details = json.RawMessage(details)
	return e, err
}

// Seal moves every pending entry into the chain and returns how many it
// sealed. It is safe to call from any number of goroutines and processes:
// one sealer runs at a time.
func (l *Log) Seal(ctx context.Context) (int, error) {
	if l == nil {
		return 0, nil
	}
	l.sealMu.Lock()
	defer l.sealMu.Unlock()
	// Most rounds find nothing: ask the read side first, so an idle sealer
	// never takes SQLite's write lock.
	var one int
	switch err := l.db.QueryRow(ctx, `SELECT 1 FROM _keep_audit_pending LIMIT 1`).Scan(&one); {
	case errors.Is(err, store.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("audit: seal: %w", err)
	}
	total := 0
	for {
		n := 0
		err := l.db.Tx(ctx, func(q store.Querier) error {
			n = 0
			if l.db.Dialect() == store.Postgres {
				var one int
				if err := q.QueryRow(ctx, `SELECT 1 FROM (SELECT pg_advisory_xact_lock(?)) AS l`, int64(sealLock)).Scan(&one); err != nil {
					return err
				}
			}
			seq, prev, err := head(ctx, q)
			if err != nil {
				return err
			}
			rows, err := q.Query(ctx, `SELECT id, `+entryColumns+`, nonce, mac FROM _keep_audit_pending ORDER BY id LIMIT ?`, sealBatch)
			if err != nil {
				return err
			}
			var ids []int64
			var batch []Entry
			for rows.Next() {
				var id int64
				var e Entry
				var details string
				if err := rows.Scan(&id, &e.Time, &e.Actor, &e.Action, &e.Target, &e.Outcome, &e.IP, &e.UserAgent,
					&e.RequestID, &details, &e.nonce, &e.mac); err != nil {
					rows.Close()
					return err
				}
				e.Details = json.RawMessage(details)
				ids = append(ids, id)
				batch = append(batch, e)
			}
			if err := rows.Err(); err != nil {
				rows.Close()
				return err
			}
			rows.Close()
			replayed, err := knownNonces(ctx, q, batch)
			if err != nil {
				return err
			}
			for i := range batch {
				e := &batch[i]
				if reason := l.refuse(e, replayed); reason != "" {
					// Not Keep's, or a replay: the row goes, and the chain
					// records that someone tried.
					l.log.Error("audit: refused a pending entry", "pending_id", ids[i], "reason", reason)
					*e = l.forgery(ids[i], reason)
				}
				replayed[e.nonce] = true // a second copy within this batch is a replay too
				seq++
				e.Seq, e.PrevHash = seq, prev
				if e.Hash, err = computeHash(prev, e); err != nil {
					return fmt.Errorf("audit: the log head is damaged: %w", err)
				}
				e.mac = l.computeMAC(e.Hash)
				prev = e.Hash
			}
			if err := insertSealed(ctx, q, batch); err != nil {
				return err
			}
			// By id, never by range: on PostgreSQL an entry with a lower id
			// may commit after this transaction began, and must stay pending
			// for the next round.
			if err := deletePending(ctx, q, ids); err != nil {
				return err
			}
			n = len(batch)
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("audit: seal: %w", err)
		}
		total += n
		if n < sealBatch {
			return total, nil
		}
	}
}

// refuse says why a pending entry must not be chained ("" when it may):
// its MAC is not the pending key's, or its nonce is already in the log (a
// copy of an entry that was queued before).
func (l *Log) refuse(e *Entry, known map[string]bool) string {
	if !hmac.Equal([]byte(l.pendingMAC(e)), []byte(e.mac)) {
		return "its MAC is not this install's: it was not written by Keep, or was changed while pending"
	}
	if known[e.nonce] {
		return "its nonce is already in the log: a replayed entry"
	}
	return ""
}

// sealChunk bounds the rows of one statement while sealing (14 parameters
// a row stays far below both engines' parameter limits).
const sealChunk = 50

// chunks calls fn with consecutive index ranges of at most sealChunk.
func chunks(n int, fn func(from, to int) error) error {
	for from := 0; from < n; from += sealChunk {
		if err := fn(from, min(from+sealChunk, n)); err != nil {
			return err
		}
	}
	return nil
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// knownNonces returns which nonces of batch are in the log already.
func knownNonces(ctx context.Context, q store.Querier, batch []Entry) (map[string]bool, error) {
	known := map[string]bool{}
	err := chunks(len(batch), func(from, to int) error {
		args := make([]any, 0, to-from)
		for _, e := range batch[from:to] {
			args = append(args, e.nonce)
		}
		rows, err := q.Query(ctx, `SELECT nonce FROM _keep_audit_log WHERE nonce IN (`+placeholders(len(args))+`)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				return err
			}
			known[n] = true
		}
		return rows.Err()
	})
	return known, err
}

// insertSealed writes sealed entries, several rows per statement.
func insertSealed(ctx context.Context, q store.Querier, batch []Entry) error {
	const row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	return chunks(len(batch), func(from, to int) error {
		args := make([]any, 0, (to-from)*14)
		for _, e := range batch[from:to] {
			args = append(args, e.Seq, e.Time, e.Actor, e.Action, e.Target, e.Outcome, e.IP, e.UserAgent,
				e.RequestID, string(e.Details), e.nonce, e.PrevHash, e.Hash, e.mac)
		}
		_, err := q.Exec(ctx, `INSERT INTO _keep_audit_log (seq, `+entryColumns+`, nonce, prev_hash, hash, mac) VALUES `+
			strings.TrimSuffix(strings.Repeat(row+", ", to-from), ", "), args...)
		return err
	})
}

// deletePending removes the sealed rows from the pending table.
func deletePending(ctx context.Context, q store.Querier, ids []int64) error {
	return chunks(len(ids), func(from, to int) error {
		args := make([]any, 0, to-from)
		for _, id := range ids[from:to] {
			args = append(args, id)
		}
		_, err := q.Exec(ctx, `DELETE FROM _keep_audit_pending WHERE id IN (`+placeholders(len(args))+`)`, args...)
		return err
	})
}

// forgery is the entry sealed in place of a refused pending row.
func (l *Log) forgery(id int64, reason string) Entry {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	return Entry{Time: l.now().UTC().Format(TimeFormat), Actor: "system", Action: "audit.forged_pending",
		Target: "audit", Outcome: Failure, nonce: hex.EncodeToString(nonce[:]),
		Details: mustJSON(map[string]any{"pending_id": id, "reason": reason})}
}

func mustJSON(v map[string]any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// head returns the last sealed entry's seq and hash (0 and the genesis
// hash for an empty log).
func head(ctx context.Context, q store.Querier) (int64, string, error) {
	var seq int64
	var h string
	err := q.QueryRow(ctx, `SELECT seq, hash FROM _keep_audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &h)
	if errors.Is(err, store.ErrNotFound) {
		return 0, genesis, nil
	}
	return seq, h, err
}

// SealInterval is how often [Log.Run] seals pending entries: the bound on
// how long a committed entry stays outside the chain.
const SealInterval = 200 * time.Millisecond

// Run seals pending entries every SealInterval and writes a checkpoint
// every checkpointEvery when the log has grown, until ctx ends.
func (l *Log) Run(ctx context.Context, checkpointEvery time.Duration) {
	if l == nil {
		return
	}
	seal := time.NewTicker(SealInterval)
	defer seal.Stop()
	cp := time.NewTicker(checkpointEvery)
	defer cp.Stop()
	var lastCheckpoint int64 = -1
	for {
		select {
		case <-ctx.Done():
			// Seal what the last requests wrote, so a clean stop leaves
			// nothing outside the chain.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if _, err := l.Seal(sctx); err != nil {
				l.log.Error("audit seal at shutdown failed", "err", err)
			}
			cancel()
			return
		case <-seal.C:
			if _, err := l.Seal(ctx); err != nil && ctx.Err() == nil {
				l.log.Error("audit seal failed", "err", err)
			}
		case <-cp.C:
			seq, _, err := head(ctx, l.db)
			if err != nil || seq == lastCheckpoint {
				continue
			}
			c, err := l.Checkpoint(ctx)
			if err != nil {
				if ctx.Err() == nil {
					l.log.Error("audit checkpoint failed", "err", err)
				}
				continue
			}
			lastCheckpoint = c.Seq
		}
	}
}
