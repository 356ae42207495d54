package audit

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/keep-dev/keep/internal/store"
)

// Outcomes of an entry.
const (
	Success = "success"
	Failure = "failure" // the action was attempted and failed (a wrong password)
	Denied  = "denied"  // the caller was not allowed to attempt it
)

// ErrInvalid means an event or a query is malformed; the message says how.
var ErrInvalid = errors.New("audit: invalid")

// Limits on what one entry may hold, so that a caller cannot make the log
// grow by megabytes per request.
const (
	maxField   = 512
	maxDetails = 8 << 10
)

// TimeFormat is how entry times are stored and hashed: fixed width, so text
// order is time order on both engines.
const TimeFormat = "2006-01-02T15:04:05.000000Z"

// Event is what a caller records. Actor, when empty, comes from the request
// in the context (see [WithRequest]); Outcome defaults to [Success].
type Event struct {
	Action  string
	Target  string
	Outcome string
	Actor   string
	Details map[string]any
}

// User names a user as an actor or target: "user:<id>", the one form
// every entry uses, so filtering by actor or target finds all of a user's.
func User(id string) string { return "user:" + id }

// Request is who and where a request came from. The HTTP layer puts one in
// the context of every request and fills in Actor once the caller is known.
// Its fields must not change after the handler starts, except through its
// methods.
type Request struct {
	Actor     string // "user:<id>", "anonymous", "cli", "system"
	Via       string // "apikey:<id>" when an API key authenticated the caller
	IP        string
	UserAgent string
	RequestID string

	written atomic.Bool
}

// Written reports whether an entry of this request has been committed, so
// that the HTTP layer does not add a second one for a refusal.
func (r *Request) Written() bool { return r != nil && r.written.Load() }

type requestKey struct{}

// WithRequest returns ctx carrying r.
func WithRequest(ctx context.Context, r *Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// RequestFrom returns the request in ctx, or nil.
func RequestFrom(ctx context.Context) *Request {
	r, _ := ctx.Value(requestKey{}).(*Request)
	return r
}

// Options configure a Log.
type Options struct {
	Keys KeySource
	// CheckpointFile, when set, receives every checkpoint as a JSON line
	// too: a copy outside the database that an attacker with only database
	// access cannot rewrite.
	CheckpointFile string
	Now            func() time.Time
	Logger         *slog.Logger
}

// Log is the audit log of one database. It is safe for concurrent use. A nil
// *Log records nothing, for commands and tests that run without one.
type Log struct {
	db     store.DB
	keys   keys
	file   string
	now    func() time.Time
	log    *slog.Logger
	sealMu sync.Mutex
}

// Open returns the log of db with keys derived from opt.Keys.
func Open(ctx context.Context, db store.DB, opt Options) (*Log, error) {
	if opt.Keys == nil {
		return nil, errors.New("audit: no key source")
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	k, err := deriveKeys(opt.Keys)
	if err != nil {
		return nil, err
	}
	return &Log{db: db, keys: k, file: opt.CheckpointFile, now: opt.Now, log: opt.Logger}, nil
}

// Append writes ev as a pending entry with q, which should be the
// transaction of the change ev records. An error must fail that
// transaction: Keep does not make a change it cannot audit.
func (l *Log) Append(ctx context.Context, q store.Querier, ev Event) error {
	if l == nil {
		return nil
	}
	e, err := l.entry(ctx, ev)
	if err != nil {
		return err
	}
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	e.nonce = hex.EncodeToString(nonce[:])
	if _, err := q.Exec(ctx, `INSERT INTO _keep_audit_pending
  (time, actor, action, target, outcome, ip, user_agent, request_id, details, nonce, mac)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Time, e.Actor, e.Action, e.Target, e.Outcome, e.IP, e.UserAgent, e.RequestID, string(e.Details),
		e.nonce, l.pendingMAC(&e)); err != nil {
		return fmt.Errorf("audit: append: %w", err)
	}
	if r := RequestFrom(ctx); r != nil {
		// Only once it commits: a transaction that rolls back, or is run
		// again, leaves the request without an entry.
		store.AfterCommit(q, func() { r.written.Store(true) })
	}
	return nil
}

// pendingMAC authenticates a queued entry, so the sealer chains only what
// Keep itself wrote: a row slipped into the pending table by someone with
// database access is refused at sealing.
func (l *Log) pendingMAC(e *Entry) string {
	m := hmac.New(sha256.New, l.keys.pending)
	m.Write([]byte("keep.audit.pending.v1\x00"))
	for _, f := range []string{e.Time, e.Actor, e.Action, e.Target, e.Outcome, e.IP, e.UserAgent, e.RequestID,
		string(e.Details), e.nonce} {
		writeField(m, f)
	}
	return hex.EncodeToString(m.Sum(nil))
}

// Record appends ev in a transaction of its own: for refusals and failures
// that change nothing but must be on record before the response.
func (l *Log) Record(ctx context.Context, ev Event) error {
	if l == nil {
		return nil
	}
	return l.db.Tx(ctx, func(q store.Querier) error { return l.Append(ctx, q, ev) })
}

// entry builds the stored form of ev.
func (l *Log) entry(ctx context.Context, ev Event) (Entry, error) {
	e := Entry{
		Time:    l.now().UTC().Format(TimeFormat),
		Actor:   ev.Actor,
		Action:  ev.Action,
		Target:  ev.Target,
		Outcome: ev.Outcome,
	}
	if e.Outcome == "" {
		e.Outcome = Success
	}
	details := ev.Details
	if r := RequestFrom(ctx); r != nil {
		if e.Actor == "" {
			e.Actor = r.Actor
		}
		e.IP, e.UserAgent, e.RequestID = r.IP, r.UserAgent, r.RequestID
		if r.Via != "" {
			if _, ok := details["via"]; !ok {
				d := make(map[string]any, len(details)+1)
				for k, v := range details {
					d[k] = v
				}
				d["via"] = r.Via
				details = d
			}
		}
	} else if e.Actor == "" {
		e.Actor = "system"
	}
	if e.Actor == "" {
		e.Actor = "anonymous"
	}
	if e.Action == "" {
		return Entry{}, fmt.Errorf("%w: an entry needs an action", ErrInvalid)
	}
	for _, f := range []*string{&e.Actor, &e.Action, &e.Target, &e.Outcome, &e.IP, &e.UserAgent, &e.RequestID} {
		*f = clip(*f, maxField)
	}
	if details == nil {
		details = map[string]any{}
	}
	// encoding/json sorts map keys, so the stored text is canonical.
	b, err := json.Marshal(details)
	if err != nil {
		return Entry{}, fmt.Errorf("audit: details: %w", err)
	}
	if len(b) > maxDetails {
		b, err = shrink(details)
		if err != nil {
			return Entry{}, err
		}
	}
	e.Details = b
	return e, nil
}

// shrink keeps every key of details, replacing each large value by its
// size, so the facts an auditor needs (reason, via, user) survive a detail
// that is too big.
func shrink(details map[string]any) ([]byte, error) {
	small := make(map[string]any, len(details)+1)
	for k, v := range details {
		vb, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("audit: details: %w", err)
		}
		if len(vb) > maxDetails/16 {
			v = map[string]any{"truncated_bytes": len(vb)}
		}
		small[clip(k, 64)] = v
	}
	small["truncated"] = true
	b, err := json.Marshal(small)
	if err != nil {
		return nil, fmt.Errorf("audit: details: %w", err)
	}
	if len(b) > maxDetails {
		return json.Marshal(map[string]any{"truncated": true, "size": len(b)})
	}
	return b, nil
}

// clip makes s valid UTF-8 without NUL (PostgreSQL refuses both in text) and
// bounds it to n bytes, cutting at a rune boundary.
func clip(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	s = strings.ReplaceAll(s, "\x00", "")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// Redact returns a keyed digest of a sensitive value (an email typed at a
// failed login, a token's identifier): the same value gives the same
// digest within one install, so entries can be correlated, but the value
// cannot be read back or guessed without the install key.
func (l *Log) Redact(value string) string {
	if l == nil {
		return "hmac:unavailable"
	}
	m := hmac.New(sha256.New, l.keys.redact)
	m.Write([]byte(value))
	return "hmac:" + hex.EncodeToString(m.Sum(nil)[:16])
}

// KeyRotated returns a hook for a key rotation's transaction that records
// it (keys.rotate_signing, target the new key id).
func (l *Log) KeyRotated(ctx context.Context) func(q store.Querier, kid string) error {
	return func(q store.Querier, kid string) error {
		return l.Append(ctx, q, Event{Action: "keys.rotate_signing", Target: "signing-key:" + kid})
	}
}
