package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Filter selects entries for [Log.List]. Zero fields match everything.
type Filter struct {
	Actor, Action, Target string
	Since, Until          time.Time // Since inclusive, Until exclusive
	Limit                 int       // 1 to MaxLimit; 0 means DefaultLimit
	Cursor                string    // from the previous page's NextCursor
}

// Page sizes of [Log.List].
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Page is one page of entries, newest first.
type Page struct {
	Items      []Entry `json:"items"`
	NextCursor string  `json:"next_cursor,omitempty"`
}

// List seals pending entries, so the caller sees every committed one, and
// returns the entries f selects, newest first.
func (l *Log) List(ctx context.Context, f Filter) (Page, error) {
	if f.Limit == 0 {
		f.Limit = DefaultLimit
	}
	if f.Limit < 1 || f.Limit > MaxLimit {
		return Page{}, fmt.Errorf("%w: limit must be between 1 and %d", ErrInvalid, MaxLimit)
	}
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"actor", f.Actor}, {"action", f.Action}, {"target", f.Target}} {
		if c.v != "" {
			if len(c.v) > maxField {
				return Page{}, fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalid, c.col, maxField)
			}
			if !utf8.ValidString(c.v) || strings.IndexByte(c.v, 0) >= 0 {
				return Page{}, fmt.Errorf("%w: %s must be UTF-8 text without NUL", ErrInvalid, c.col)
			}
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	for _, t := range []struct {
		name string
		t    time.Time
	}{{"since", f.Since}, {"until", f.Until}} {
		// Outside these years the fixed-width format, and so text order, breaks.
		if !t.t.IsZero() && (t.t.UTC().Year() < 1 || t.t.UTC().Year() > 9999) {
			return Page{}, fmt.Errorf("%w: %s must be between years 1 and 9999", ErrInvalid, t.name)
		}
	}
	if !f.Since.IsZero() {
		where = append(where, "time >= ?")
		args = append(args, f.Since.UTC().Format(TimeFormat))
	}
	if !f.Until.IsZero() {
		where = append(where, "time < ?")
		args = append(args, f.Until.UTC().Format(TimeFormat))
	}
	if f.Cursor != "" {
		seq, err := strconv.ParseInt(f.Cursor, 10, 64)
		if err != nil || seq < 1 {
			return Page{}, fmt.Errorf("%w: cursor is not one this endpoint gave", ErrInvalid)
		}
		where = append(where, "seq < ?")
		args = append(args, seq)
	}
	if _, err := l.Seal(ctx); err != nil {
		return Page{}, err
	}
	q := `SELECT ` + sealedColumns + ` FROM _keep_audit_log`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY seq DESC LIMIT ?"
	args = append(args, f.Limit+1)
	items, err := l.query(ctx, q, args...)
	if err != nil {
		return Page{}, err
	}
	p := Page{Items: items}
	if len(items) > f.Limit {
		p.Items = items[:f.Limit]
		p.NextCursor = strconv.FormatInt(p.Items[f.Limit-1].Seq, 10)
	}
	if p.Items == nil {
		p.Items = []Entry{}
	}
	return p, nil
}

func (l *Log) query(ctx context.Context, q string, args ...any) ([]Entry, error) {
	rows, err := l.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		e, err := scanSealed(rows)
		if err != nil {
			return nil, fmt.Errorf("audit: list: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// exportBatch is how many entries Export reads per query.
const exportBatch = 1000

// Export seals pending entries and writes every entry from since on, oldest
// first, as JSON lines.
func (l *Log) Export(ctx context.Context, since time.Time, w io.Writer) (int, error) {
	if _, err := l.Seal(ctx); err != nil {
		return 0, err
	}
	enc := json.NewEncoder(w)
	n := 0
	var after int64
	for {
		items, err := l.query(ctx, `SELECT `+sealedColumns+` FROM _keep_audit_log
  WHERE seq > ? AND time >= ? ORDER BY seq LIMIT ?`, after, since.UTC().Format(TimeFormat), exportBatch)
		if err != nil {
			return n, err
		}
		for i := range items {
			if err := enc.Encode(&items[i]); err != nil {
				return n, fmt.Errorf("audit: export: %w", err)
			}
			n++
		}
		if len(items) < exportBatch {
			return n, nil
		}
		after = items[len(items)-1].Seq
	}
}
