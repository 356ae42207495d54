package audit

import (
	"bufio"
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Report is the result of [Log.Verify].
type Report struct {
	OK          bool   `json:"ok"`
	Entries     int64  `json:"entries"`
	HeadHash    string `json:"head_hash"`
	Checkpoints int    `json:"checkpoints"`
	Pending     int64  `json:"pending"`
	// FirstBadSeq names the first entry that was altered, removed,
	// inserted or reordered; 0 when no entry is at fault (the log is
	// intact, or only a checkpoint was tampered with: see Problem).
	FirstBadSeq int64  `json:"first_bad_seq,omitempty"`
	Problem     string `json:"problem,omitempty"`
}

// Event is the audit entry of a verification that produced r.
func (r Report) Event() Event {
	outcome := Success
	if !r.OK {
		outcome = Failure
	}
	return Event{Action: "audit.verify", Target: "audit", Outcome: outcome,
		Details: map[string]any{"ok": r.OK, "entries": r.Entries, "first_bad_seq": r.FirstBadSeq}}
}

func (r *Report) fail(seq int64, format string, args ...any) {
	r.OK = false
	r.FirstBadSeq = seq
	r.Problem = fmt.Sprintf(format, args...)
}

// Verify recomputes the chain from the first entry, checks every entry's
// MAC and every checkpoint (in the database, and in the checkpoint file when
// one is configured), and reports the first problem. It only reads.
func (l *Log) Verify(ctx context.Context) (Report, error) {
	rep := Report{OK: true, HeadHash: genesis}
	cps, err := l.checkpoints(ctx)
	if err != nil {
		return rep, err
	}
	fileCPs, err := readCheckpointFile(l.file)
	if err != nil {
		return rep, err
	}
	cps = append(cps, fileCPs...)
	rep.Checkpoints = len(cps)
	// Only signed checkpoints count against the chain; a forged one is
	// reported after the chain, so a junk row cannot mask a bad entry.
	bySeq := make(map[int64][]Checkpoint, len(cps))
	var forged []Checkpoint
	for _, c := range cps {
		if !l.verifyCheckpoint(c) {
			forged = append(forged, c)
			continue
		}
		bySeq[c.Seq] = append(bySeq[c.Seq], c)
	}
	if err := l.db.QueryRow(ctx, `SELECT COUNT(*) FROM _keep_audit_pending`).Scan(&rep.Pending); err != nil {
		return rep, fmt.Errorf("audit: verify: %w", err)
	}

	rows, err := l.db.Query(ctx, `SELECT `+sealedColumns+` FROM _keep_audit_log ORDER BY seq`)
	if err != nil {
		return rep, fmt.Errorf("audit: verify: %w", err)
	}
	defer rows.Close()
	want, prev := int64(1), genesis
	for rows.Next() {
		e, err := scanSealed(rows)
		if err != nil {
			return rep, fmt.Errorf("audit: verify: %w", err)
		}
		if e.Seq != want {
			rep.fail(want, "entry %d is missing: removed, or the entries after it were renumbered", want)
			return rep, nil
		}
		got, err := computeHash(e.PrevHash, &e)
		switch {
		case err != nil || !hmac.Equal([]byte(got), []byte(e.Hash)):
			rep.fail(e.Seq, "entry %d does not match its hash: it was altered, or another entry was moved into its place", e.Seq)
			return rep, nil
		case !hmac.Equal([]byte(e.PrevHash), []byte(prev)):
			rep.fail(e.Seq, "entry %d does not link to entry %d: an entry was inserted, removed or reordered here", e.Seq, e.Seq-1)
			return rep, nil
		case !hmac.Equal([]byte(l.computeMAC(e.Hash)), []byte(e.mac)):
			rep.fail(e.Seq, "entry %d has no valid MAC: it was inserted or rewritten without the install key", e.Seq)
			return rep, nil
		}
		for _, c := range bySeq[e.Seq] {
			if c.HeadHash != e.Hash {
				rep.fail(e.Seq, "the chain up to entry %d differs from the checkpoint of %s: entries up to it were rewritten", e.Seq, c.Time)
				return rep, nil
			}
		}
		prev = e.Hash
		want++
		rep.Entries++
	}
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("audit: verify: %w", err)
	}
	rep.HeadHash = prev
	for _, cs := range bySeq {
		for _, c := range cs {
			if c.Seq >= want {
				rep.fail(want, "entries from %d on are missing: a checkpoint of %s covers %d entries", want, c.Time, c.Seq)
				return rep, nil
			}
		}
	}
	if len(forged) > 0 {
		c := forged[0]
		rep.fail(0, "%d checkpoint(s) have no valid signature, the first claiming seq %d at %s: altered or forged",
			len(forged), c.Seq, c.Time)
	}
	return rep, nil
}

func (l *Log) checkpoints(ctx context.Context) ([]Checkpoint, error) {
	rows, err := l.db.Query(ctx, `SELECT seq, head_hash, time, key_id, signature FROM _keep_audit_checkpoints ORDER BY seq, time`)
	if err != nil {
		return nil, fmt.Errorf("audit: checkpoints: %w", err)
	}
	defer rows.Close()
	var out []Checkpoint
	for rows.Next() {
		var c Checkpoint
		if err := rows.Scan(&c.Seq, &c.HeadHash, &c.Time, &c.KeyID, &c.Signature); err != nil {
			return nil, fmt.Errorf("audit: checkpoints: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// maxCheckpointLine bounds one line of a checkpoint file.
const maxCheckpointLine = 4 << 10

// readCheckpointFile reads the JSON lines of a checkpoint file; a missing
// file holds none. A line that does not parse is an error: the file is
// Keep's own output, so damage to it is worth stopping for.
func readCheckpointFile(path string) ([]Checkpoint, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: checkpoint file: %w", err)
	}
	defer f.Close()
	var out []Checkpoint
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, maxCheckpointLine), maxCheckpointLine)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var c Checkpoint
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return nil, fmt.Errorf("audit: checkpoint file line %d: %w", n, err)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("audit: checkpoint file: %w", err)
	}
	return out, nil
}
