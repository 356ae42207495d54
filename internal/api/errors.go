package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/keep-dev/keep/internal/accounts"
	"github.com/keep-dev/keep/internal/keyring"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
)

// Error is an error with a status, a stable machine code and a message for
// the client. Err, when set, is the internal cause for the log only.
type Error struct {
	Status int
	Code   string
	Msg    string
	Fields map[string]string
	Err    error
	// RetryAfter, when set, becomes the Retry-After header (seconds,
	// rounded up).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// statusClientClosed is the status logged for a request whose client
// disconnected before the answer (nginx's convention).
const statusClientClosed = 499

func newError(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Msg: msg}
}

type envelope struct {
	Error envelopeBody `json:"error"`
}

type envelopeBody struct {
	Code      string            `json:"code"`
	Message   string            `json:"message"`
	Fields    map[string]string `json:"fields,omitempty"`
	RequestID string            `json:"request_id"`
}

// classify maps any error to what the client may see. It is the only place
// that knows how domain errors become statuses.
func classify(err error) *Error {
	var (
		ae  *Error
		ve  *records.ValidationError
		pe  *records.PublicError
		rl  *accounts.RateLimitError
		msg string
	)
	if errors.As(err, &pe) {
		msg = pe.Msg
	}
	pick := func(status int, code, fallback string) *Error {
		if msg == "" {
			msg = fallback
		}
		return &Error{Status: status, Code: code, Msg: msg, Err: err}
	}
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &ve):
		return &Error{Status: http.StatusUnprocessableEntity, Code: "validation_failed", Msg: "the request has invalid fields", Fields: ve.Fields}
	case errors.Is(err, records.ErrNotFound):
		return pick(http.StatusNotFound, "not_found", "not found")
	case errors.Is(err, records.ErrUnauthorized):
		return pick(http.StatusUnauthorized, "unauthorized", "authentication required")
	case errors.Is(err, records.ErrForbidden):
		return pick(http.StatusForbidden, "forbidden", "you are not allowed to do this")
	case errors.Is(err, records.ErrConflict):
		return pick(http.StatusConflict, "conflict", "conflict")
	case errors.Is(err, records.ErrBadRequest):
		return pick(http.StatusBadRequest, "bad_request", "bad request")
	case errors.Is(err, accounts.ErrInvalidCredentials):
		return pick(http.StatusUnauthorized, "invalid_credentials", "invalid email or password")
	case errors.Is(err, accounts.ErrUnauthenticated):
		return pick(http.StatusUnauthorized, "invalid_token", "invalid or expired token")
	case errors.As(err, &rl):
		return &Error{Status: http.StatusTooManyRequests, Code: "too_many_attempts", Msg: "too many attempts; try again later",
			RetryAfter: rl.RetryAfter, Err: err}
	case errors.Is(err, keyring.ErrIntegrity):
		// A stored value that does not decrypt: never garbage, never the
		// value; the cause (which field of which record) is logged.
		return &Error{Status: http.StatusInternalServerError, Code: "integrity_error", Msg: "a stored value failed its integrity check", Err: err}
	case isAuditInvalid(err):
		return &Error{Status: http.StatusBadRequest, Code: "invalid_query", Msg: auditInvalidMessage(err), Err: err}
	case errors.Is(err, accounts.ErrNotImplemented):
		return pick(http.StatusNotImplemented, "not_implemented", "not implemented by this server")
	case errors.Is(err, context.Canceled):
		// The client went away (nginx's 499): nothing to tell it, no bug to log.
		return &Error{Status: statusClientClosed, Code: "canceled", Msg: "the request was canceled", Err: err}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, store.ErrBusy):
		return pick(http.StatusServiceUnavailable, "unavailable", "the server is busy; try again shortly")
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal_error", Msg: "internal error", Err: err}
}

// writeError writes the envelope for err and logs server errors with their
// cause.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := classify(err)
	st := state(r)
	if e.Status >= 500 {
		st.logger().ErrorContext(r.Context(), "request failed", "err", err)
	} else if e.Err != nil {
		st.logger().DebugContext(r.Context(), "request refused", "status", e.Status, "err", e.Err)
	}
	switch e.Status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="keep"`)
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	writeJSON(w, e.Status, envelope{Error: envelopeBody{Code: e.Code, Message: e.Msg, Fields: e.Fields, RequestID: st.id}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	bp := bodyPool.Get().(*[]byte)
	b, err := appendJSON((*bp)[:0], v)
	if err != nil {
		slog.Error("encode response", "err", err)
		status = http.StatusInternalServerError
		b = append(b[:0], `{"error":{"code":"internal_error","message":"internal error"}}`...)
	}
	b = append(b, '\n')
	// With the length known, net/http sends the body as is instead of in
	// chunks (one write and no terminating chunk for a large list).
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
	if cap(b) <= maxPooledBody {
		*bp = b
		bodyPool.Put(bp)
	}
}

// bodyPool recycles response buffers up to maxPooledBody bytes, so that
// an occasional huge response does not stay in memory.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxPooledBody = 256 << 10
