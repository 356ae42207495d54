package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keep-dev/keep/internal/audit"
	"github.com/keep-dev/keep/internal/ratelimit"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/roles"
)

// Audit is what the API needs of the audit log.
type Audit interface {
	Record(ctx context.Context, ev audit.Event) error
	List(ctx context.Context, f audit.Filter) (audit.Page, error)
	Verify(ctx context.Context) (audit.Report, error)
	Checkpoint(ctx context.Context) (audit.Checkpoint, error)
}

// setAuditActor records the authenticated caller on the request.
func setAuditActor(ar *audit.Request, c records.Caller) {
	if ar == nil || c.Anonymous() {
		return
	}
	ar.Actor = audit.User(c.Auth.ID)
	if c.APIKey != "" {
		ar.Via = "apikey:" + c.APIKey
	}
}

// auditFailure records a refused request (401 or 403), and a stored value
// that failed its integrity check, before the answer is sent — unless the
// domain already wrote this request's entry (a failed login writes its
// own). It fails closed: when the entry cannot be written, the client gets
// a 500 instead.
func (a *API) auditFailure(r *http.Request, err error) error {
	ar := audit.RequestFrom(r.Context())
	if a.audit == nil || ar == nil || ar.Written() {
		return err
	}
	e := classify(err)
	ev := audit.Event{Action: "access.denied", Outcome: audit.Denied}
	switch {
	case e.Status == http.StatusUnauthorized, e.Status == http.StatusForbidden:
	case e.Code == "integrity_error":
		ev = audit.Event{Action: "record.integrity_error", Outcome: audit.Failure}
	default:
		return err
	}
	st := state(r)
	ev.Target = st.route
	ev.Details = map[string]any{"method": r.Method, "path": r.URL.Path, "status": e.Status, "code": e.Code}
	if ev.Action == "access.denied" {
		ok, suppressed := a.denials.allow(ar.IP)
		if !ok {
			return err // counted, and reported with this address's next entry
		}
		if suppressed > 0 {
			ev.Details["suppressed_before"] = suppressed
		}
	}
	if rerr := a.audit.Record(r.Context(), ev); rerr != nil {
		return &Error{Status: http.StatusInternalServerError, Code: "internal_error", Msg: "internal error", Err: rerr}
	}
	return err
}

// auditRead records a read of the audit log or of an audited collection
// before the answer is sent.
func (a *API) auditRead(r *http.Request, ev audit.Event) error {
	if a.audit == nil {
		return nil
	}
	return a.audit.Record(r.Context(), ev)
}

// denialLimiter bounds the access.denied entries one address can cause: a
// client hammering with bad tokens must not grow the log (or, on SQLite,
// queue on the single writer) without end. Past the allowance, refusals are
// counted and the count goes into the address's next entry. It is safe for
// concurrent use.
type denialLimiter struct {
	lim *ratelimit.Limiter

	mu         sync.Mutex
	suppressed map[string]int
}

// maxSuppressedKeys bounds the addresses whose suppressed refusals are
// counted; past it the counts start afresh (the refusals still are not
// written, only their count is lost).
const maxSuppressedKeys = 10_000

func newDenialLimiter() *denialLimiter {
	return &denialLimiter{
		lim:        ratelimit.New(ratelimit.Options{Limits: map[string]ratelimit.Limit{"denied": ratelimit.PerMinute(60, 120)}}),
		suppressed: map[string]int{},
	}
}

// allow reports whether a refusal from ip gets its own entry, and how many
// were left out since the last one that did.
func (d *denialLimiter) allow(ip string) (bool, int) {
	key := ratelimit.KeyForIP(ip)
	ok, _ := d.lim.Allow("denied", key)
	d.mu.Lock()
	defer d.mu.Unlock()
	if !ok {
		if len(d.suppressed) >= maxSuppressedKeys {
			clear(d.suppressed)
		}
		d.suppressed[key]++
		return false, 0
	}
	n := d.suppressed[key]
	delete(d.suppressed, key)
	return true, n
}

func (a *API) requireAudit(r *http.Request) error {
	if err := a.requirePermission(r, roles.AuditRead); err != nil {
		return err
	}
	if a.audit == nil {
		return newError(http.StatusNotFound, "not_found", "the audit log is not enabled")
	}
	return nil
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request) error {
	if err := a.requireAudit(r); err != nil {
		return err
	}
	q := r.URL.Query()
	f := audit.Filter{Actor: q.Get("actor"), Action: q.Get("action"), Target: q.Get("target"), Cursor: q.Get("cursor")}
	fields := map[string]string{}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(t.name); v != "" {
			tm, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				fields[t.name] = "must be an RFC 3339 time, e.g. 2026-12-03T10:00:00Z"
				continue
			}
			*t.dst = tm
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > audit.MaxLimit {
			fields["limit"] = "must be between 1 and " + strconv.Itoa(audit.MaxLimit)
		}
		f.Limit = n
	}
	if len(fields) > 0 {
		return &Error{Status: http.StatusBadRequest, Code: "invalid_query", Msg: "invalid audit query", Fields: fields}
	}
	page, err := a.audit.List(r.Context(), f)
	if err != nil {
		return err
	}
	filters := map[string]any{}
	for _, k := range []string{"actor", "action", "target", "since", "until", "limit", "cursor"} {
		if v := q.Get(k); v != "" {
			filters[k] = v
		}
	}
	if err := a.auditRead(r, audit.Event{Action: "audit.read", Target: "audit",
		Details: map[string]any{"filters": filters, "returned": len(page.Items)}}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (a *API) verifyAudit(w http.ResponseWriter, r *http.Request) error {
	if err := a.requireAudit(r); err != nil {
		return err
	}
	rep, err := a.audit.Verify(r.Context())
	if err != nil {
		return err
	}
	if err := a.auditRead(r, rep.Event()); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

func (a *API) createAuditCheckpoint(w http.ResponseWriter, r *http.Request) error {
	if err := a.requireAudit(r); err != nil {
		return err
	}
	c, err := a.audit.Checkpoint(r.Context())
	if err != nil {
		return err
	}
	if err := a.auditRead(r, c.Event()); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, c)
	return nil
}

// isAuditInvalid lets classify turn a malformed audit query into a 400.
func isAuditInvalid(err error) bool { return errors.Is(err, audit.ErrInvalid) }

// auditInvalidMessage is the public part of an audit.ErrInvalid: the
// package writes only what was wrong with the query into it.
func auditInvalidMessage(err error) string {
	_, msg, ok := strings.Cut(err.Error(), audit.ErrInvalid.Error()+": ")
	if !ok {
		return "invalid audit query"
	}
	return msg
}
