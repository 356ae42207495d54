package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/keep-dev/keep/internal/accounts"
	"github.com/keep-dev/keep/internal/audit"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/roles"
)

// reqState is what the middleware learns about a request as it passes. One
// pointer lives in the context, so inner layers can fill in the route and
// caller for outer layers (logging, metrics).
type reqState struct {
	id      string
	route   string
	caller  records.Caller
	base    *slog.Logger // the API's logger; log is it with the request id
	log     *slog.Logger
	started time.Time
	audit   audit.Request // in the context too (audit.RequestFrom)
}

// logger is the request's logger, made at its first use: most requests
// log nothing, and slog's With costs a handler copy and the encoded id.
func (st *reqState) logger() *slog.Logger {
	if st.log == nil {
		st.log = st.base.With("request_id", st.id)
	}
	return st.log
}

type stateKey struct{}

func state(r *http.Request) *reqState {
	if st, ok := r.Context().Value(stateKey{}).(*reqState); ok {
		return st
	}
	return &reqState{log: slog.New(slog.DiscardHandler)}
}

// An incoming request id is kept only when it is short and plain, so it can
// be logged and echoed safely.
var clientRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusWriter remembers the status for logs and metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// outer is the first middleware: request id, security headers, recovery,
// one access-log line and metrics.
func (a *API) outer(next http.Handler) http.Handler {
	next = a.cors.handler(next) // CORS and cross-origin protection, headers.go
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &reqState{started: time.Now()}
		if id := r.Header.Get("X-Request-Id"); clientRequestID.MatchString(id) {
			st.id = id
		} else {
			st.id = newRequestID()
		}
		st.base = a.log
		// One context for both: the request state, and who and where for
		// the audit log (the actor is filled in once the caller is known).
		ci := clientInfo(r)
		st.audit.Actor, st.audit.IP, st.audit.UserAgent, st.audit.RequestID = "anonymous", ci.IP, ci.UserAgent, st.id
		r = r.WithContext(audit.WithRequest(context.WithValue(r.Context(), stateKey{}, st), &st.audit))

		w.Header().Set("X-Request-Id", st.id)
		setSecurityHeaders(w.Header(), r) // headers.go
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				st.logger().Error("panic", "panic", p, "stack", string(debug.Stack()))
				if sw.status == 0 {
					writeError(sw, r, &Error{Status: http.StatusInternalServerError, Code: "internal_error", Msg: "internal error"})
				}
			}
			d := time.Since(st.started)
			if a.metrics != nil {
				a.metrics.Observe(st.route, r.Method, sw.status, d)
			}
			// The path only: query strings can carry filter values. (The
			// check first spares building the line's attributes when the
			// level is off, as it is under load.)
			if a.log.Enabled(r.Context(), slog.LevelInfo) {
				st.logger().Info("request", "method", r.Method, "path", r.URL.Path, "route", st.route,
					"status", sw.status, "duration_ms", float64(d.Microseconds())/1000, "remote", r.RemoteAddr,
					"user", st.caller.Auth.ID)
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// route wraps a handler that returns an error, recording the route pattern
// and writing any error as the envelope.
func (a *API) route(pattern string, fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	data := a.inFlight != nil && strings.Contains(pattern, " /api/collections/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if data {
			a.inFlight.Add(1)
			defer a.inFlight.Add(-1)
		}
		st := state(r)
		st.route = pattern
		ar := &st.audit
		if err := a.authenticate(r, st); err != nil {
			writeError(w, r, a.auditFailure(r, err))
			return
		}
		setAuditActor(ar, st.caller)
		if err := fn(w, r); err != nil {
			writeError(w, r, a.auditFailure(r, err))
		}
	})
}

// authenticate turns an Authorization header into the request's caller. A
// header that is present but not a valid bearer token is refused, never
// downgraded to anonymous.
func (a *API) authenticate(r *http.Request, st *reqState) error {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Msg: "the Authorization header must be \"Bearer <token>\""}
	}
	c, err := a.accounts.Authenticate(r.Context(), strings.TrimSpace(token), clientInfo(r))
	if err != nil {
		return err
	}
	st.caller = c
	return nil
}

func caller(r *http.Request) records.Caller { return state(r).caller }

// maxUserAgent bounds what a session stores of the User-Agent header.
const maxUserAgent = 512

// clientInfo is where the request came from. The IP is the TCP peer: Keep
// does not trust forwarding headers until a trusted-proxy setting exists.
func clientInfo(r *http.Request) accounts.ClientInfo {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	ua := r.UserAgent()
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	ua = strings.ToValidUTF8(ua, "") // PostgreSQL refuses invalid UTF-8 in text
	return accounts.ClientInfo{IP: ip, UserAgent: ua}
}

// requireUser answers 401 to anonymous callers.
func requireUser(r *http.Request) (records.Caller, error) {
	c := caller(r)
	if c.Anonymous() {
		return c, records.ErrUnauthorized
	}
	return c, nil
}

// requirePermission answers 401 to anonymous callers and 403 to callers
// whose current roles do not grant p; superusers hold every permission.
// Every admin route calls it first, and adminRoutes (roles.go) lists which
// permission each one needs.
func (a *API) requirePermission(r *http.Request, p roles.Permission) error {
	c := caller(r)
	switch {
	case c.Anonymous():
		return records.ErrUnauthorized
	case c.Superuser:
		return nil
	case a.roles == nil:
		return records.ErrForbidden
	}
	ok, err := a.roles.Has(r.Context(), c, p)
	if err != nil {
		return err
	}
	if !ok {
		return records.ErrForbidden
	}
	return nil
}

// muxFallback swallows ServeMux's own plain-text 404 and 405 answers so that
// dispatch can write the envelope instead; headers such as Allow are kept.
type muxFallback struct {
	http.ResponseWriter
	status int
}

func (w *muxFallback) WriteHeader(code int) { w.status = code }
func (w *muxFallback) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(b), nil
}
