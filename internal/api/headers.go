package api

import (
	"net/http"
	"strings"
)

// Security headers of every response. Keep serves JSON only, where a
// content security policy is harmless; it also covers any HTML served later
// and stops a response from being framed or interpreted as a document.
const (
	contentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'"
	// hsts is sent on responses over TLS only (RFC 6797 has browsers
	// ignore it over plain HTTP). One year, without includeSubDomains:
	// Keep cannot know whether sibling hosts serve HTTPS.
	hsts = "max-age=31536000"
)

// What a preflight allows an allowed origin to send.
const (
	corsMethods = "GET, POST, PUT, PATCH, DELETE"
	corsHeaders = "Authorization, Content-Type, X-Request-Id"
	// corsExpose lets browser code read the request id and the retry hint.
	corsExpose = "X-Request-Id, Retry-After, WWW-Authenticate"
	corsMaxAge = "600"
)

// setSecurityHeaders sets the headers every response carries.
// Cache-Control: no-store goes on the API (every auth and authenticated
// route lives under /api/) and on any request that carries credentials, so
// a shared cache never keeps a user's answer; a handler may still set its
// own (the public JWKS does).
//
// The values are shared slices, set without Header.Set's copy (one
// allocation per header per request). Each has length = capacity 1, so a
// later Add appends to a fresh array and never writes into them.
func setSecurityHeaders(h http.Header, r *http.Request) {
	h["X-Content-Type-Options"] = hdrNosniff
	h["Referrer-Policy"] = hdrNoReferrer
	h["Content-Security-Policy"] = hdrCSP
	h["X-Frame-Options"] = hdrDeny
	if r.TLS != nil {
		h["Strict-Transport-Security"] = hdrHSTS
	}
	if strings.HasPrefix(r.URL.Path, "/api/") || r.Header.Get("Authorization") != "" {
		h["Cache-Control"] = hdrNoStore
	}
}

var (
	hdrNosniff    = []string{"nosniff"}
	hdrNoReferrer = []string{"no-referrer"}
	hdrCSP        = []string{contentSecurityPolicy}
	hdrDeny       = []string{"DENY"}
	hdrHSTS       = []string{hsts}
	hdrNoStore    = []string{"no-store"}
)

// cors is the cross-origin policy: the exact origins allowed to call the
// API from a browser, none by default. It is read-only after newCORS and
// safe for concurrent use.
type cors struct {
	origins map[string]bool // lower case, as browsers send them
	protect *http.CrossOriginProtection
}

// newCORS builds the policy for origins (validated by config). The
// cross-origin protection trusts the same origins, refuses every other
// cross-site unsafe request with the envelope, and lets requests without
// browser headers (curl, servers) through.
func newCORS(origins []string) *cors {
	c := &cors{origins: map[string]bool{}, protect: http.NewCrossOriginProtection()}
	for _, o := range origins {
		o = strings.ToLower(o)
		c.origins[o] = true
		// config.Validate accepts only scheme://host[:port], which is what
		// AddTrustedOrigin needs too; an origin it still refuses is simply
		// not trusted.
		_ = c.protect.AddTrustedOrigin(o)
	}
	c.protect.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, newError(http.StatusForbidden, "cross_origin_refused",
			"cross-origin requests from a browser are refused unless the origin is allowed (--cors-origins)"))
	}))
	return c
}

// handler applies the CORS policy and the cross-origin protection before
// next. Without configured origins it adds no CORS header at all. With
// them, every response varies by Origin; an allowed origin gets
// Access-Control-Allow-Origin naming it (never "*"), and never
// Access-Control-Allow-Credentials: Keep authenticates with bearer
// tokens, which need no credentials mode. Preflights from an allowed origin
// are answered here with 204; others fall through to the router like any
// OPTIONS request.
func (c *cors) handler(next http.Handler) http.Handler {
	protected := c.protect.Handler(next)
	if len(c.origins) == 0 {
		return protected
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		if origin == "" || !c.origins[strings.ToLower(origin)] {
			protected.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", corsMethods)
			h.Set("Access-Control-Allow-Headers", corsHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", corsExpose)
		protected.ServeHTTP(w, r)
	})
}
