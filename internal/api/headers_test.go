package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/keep-dev/keep/internal/config"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

const appOrigin = "https://app.example.com"

func withCORS(origins ...string) func(*config.Config) {
	return func(c *config.Config) { c.CORSOrigins = origins }
}

// corsHeaders are the response headers whose names start with
// Access-Control-.
func corsHeaders(h http.Header) []string {
	var out []string
	for k := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func varies(h http.Header, name string) bool {
	for _, v := range h.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), name) {
				return true
			}
		}
	}
	return false
}

func TestSecurityHeaders(t *testing.T) {
	h := newHarness(t, enginetest.SQLite(t))
	tests := []struct {
		name, who, method, path string
		body                    any
		noStore                 bool
	}{
		{"authenticated", "admin", "GET", "/api/auth/me", nil, true},
		{"auth endpoint", "", "POST", "/api/auth/login", map[string]string{"email": "x@example.com", "password": "wrong password"}, true},
		{"error envelope", "admin", "GET", "/api/collections/missing", nil, true},
		{"unknown route", "", "GET", "/nowhere", nil, false},
		{"health", "", "GET", "/healthz", nil, false},
		{"authenticated outside /api", "admin", "GET", "/metrics", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do(tt.who, tt.method, tt.path, tt.body, "Origin", appOrigin)
			want := map[string]string{
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
				"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
				"X-Frame-Options":         "DENY",
			}
			for k, v := range want {
				if got := r.header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if got := r.header.Get("Cache-Control"); (got == "no-store") != tt.noStore {
				t.Errorf("Cache-Control = %q, want no-store: %v", got, tt.noStore)
			}
			// Plain HTTP: no HSTS (browsers ignore it there anyway).
			if got := r.header.Get("Strict-Transport-Security"); got != "" {
				t.Errorf("HSTS over plain HTTP: %q", got)
			}
			// CORS is off by default: not one CORS header, even for an Origin.
			if got := corsHeaders(r.header); len(got) > 0 || varies(r.header, "Origin") {
				t.Errorf("CORS headers without --cors-origins: %v, Vary %q", got, r.header.Values("Vary"))
			}
		})
	}
}

func TestHSTSOverTLS(t *testing.T) {
	h := newHarness(t, enginetest.SQLite(t))
	srv := httptest.NewTLSServer(h.keep.Handler)
	defer srv.Close()
	for _, path := range []string{"/healthz", "/api/auth/me"} {
		res, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if got := res.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
			t.Errorf("%s: Strict-Transport-Security = %q, want one year", path, got)
		}
	}
}

func TestCORS(t *testing.T) {
	h := newHarness(t, enginetest.SQLite(t), withCORS(appOrigin, "http://localhost:5173"))

	t.Run("allowed origin", func(t *testing.T) {
		r := h.do("admin", "GET", "/api/auth/me", nil, "Origin", appOrigin)
		h.expect(r, 200, "")
		if got := r.header.Get("Access-Control-Allow-Origin"); got != appOrigin {
			t.Fatalf("Access-Control-Allow-Origin = %q, want %q", got, appOrigin)
		}
		if !varies(r.header, "Origin") {
			t.Fatalf("Vary = %q, want Origin", r.header.Values("Vary"))
		}
		if r.header.Get("Access-Control-Allow-Credentials") != "" {
			t.Fatal("credentials allowed: Keep uses bearer tokens")
		}
		if !strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "X-Request-Id") {
			t.Fatalf("X-Request-Id not exposed: %q", r.header.Get("Access-Control-Expose-Headers"))
		}
	})
	t.Run("denied origin", func(t *testing.T) {
		for _, origin := range []string{"https://evil.example", "https://app.example.com.evil.example", "null", "http://app.example.com"} {
			r := h.do("admin", "GET", "/api/auth/me", nil, "Origin", origin)
			h.expect(r, 200, "") // a GET is served; the browser hides it from the page
			if got := corsHeaders(r.header); len(got) > 0 {
				t.Fatalf("%s: CORS headers %v", origin, got)
			}
			if !varies(r.header, "Origin") {
				t.Fatalf("%s: Vary = %q, want Origin (the answer depends on it)", origin, r.header.Values("Vary"))
			}
		}
	})
	t.Run("no origin", func(t *testing.T) {
		r := h.do("admin", "GET", "/api/auth/me", nil)
		if got := corsHeaders(r.header); len(got) > 0 {
			t.Fatalf("CORS headers without an Origin: %v", got)
		}
	})
	t.Run("preflight allowed", func(t *testing.T) {
		r := h.do("", "OPTIONS", "/api/collections/notes/records", nil,
			"Origin", appOrigin, "Access-Control-Request-Method", "PATCH",
			"Access-Control-Request-Headers", "authorization, content-type, x-request-id")
		h.expect(r, http.StatusNoContent, "")
		if got := r.header.Get("Access-Control-Allow-Origin"); got != appOrigin {
			t.Fatalf("Access-Control-Allow-Origin = %q", got)
		}
		methods := r.header.Get("Access-Control-Allow-Methods")
		for _, m := range []string{"GET", "POST", "PATCH", "DELETE"} {
			if !strings.Contains(methods, m) {
				t.Errorf("Access-Control-Allow-Methods %q lacks %s", methods, m)
			}
		}
		headers := strings.ToLower(r.header.Get("Access-Control-Allow-Headers"))
		for _, hd := range []string{"authorization", "content-type", "x-request-id"} {
			if !strings.Contains(headers, hd) {
				t.Errorf("Access-Control-Allow-Headers %q lacks %s", headers, hd)
			}
		}
		if r.header.Get("Access-Control-Allow-Credentials") != "" || !varies(r.header, "Origin") {
			t.Errorf("credentials %q, Vary %q", r.header.Get("Access-Control-Allow-Credentials"), r.header.Values("Vary"))
		}
	})
	t.Run("preflight denied", func(t *testing.T) {
		r := h.do("", "OPTIONS", "/api/collections", nil,
			"Origin", "https://evil.example", "Access-Control-Request-Method", "POST")
		if r.status == http.StatusNoContent || r.status < 400 {
			t.Fatalf("preflight from a denied origin answered %d", r.status)
		}
		if got := corsHeaders(r.header); len(got) > 0 {
			t.Fatalf("CORS headers for a denied preflight: %v", got)
		}
	})
}

func TestCrossOriginProtection(t *testing.T) {
	login := map[string]string{"email": "nobody@example.com", "password": "wrong password"}
	form := "email=nobody%40example.com&password=x"

	t.Run("without CORS origins", func(t *testing.T) {
		h := newHarness(t, enginetest.SQLite(t))
		tests := []struct {
			name    string
			method  string
			body    any
			headers []string
			refused bool
		}{
			{"cross-site form POST", "POST", form, []string{"Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, true},
			{"cross-site JSON POST", "POST", login, []string{"Sec-Fetch-Site", "cross-site"}, true},
			{"same-site (another subdomain) POST", "POST", login, []string{"Sec-Fetch-Site", "same-site"}, true},
			{"old browser, foreign Origin", "POST", login, []string{"Origin", "https://evil.example"}, true},
			{"same-origin POST", "POST", login, []string{"Sec-Fetch-Site", "same-origin"}, false},
			{"user-typed (none)", "POST", login, []string{"Sec-Fetch-Site", "none"}, false},
			{"no browser headers (curl, servers)", "POST", login, nil, false},
			{"cross-site GET is safe", "GET", nil, []string{"Sec-Fetch-Site", "cross-site"}, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				path := "/api/auth/login"
				if tt.method == "GET" {
					path = "/api/auth/me"
				}
				r := h.do("", tt.method, path, tt.body, tt.headers...)
				if tt.refused {
					h.expect(r, http.StatusForbidden, "cross_origin_refused")
					if r.header.Get("Content-Security-Policy") == "" {
						t.Error("the refusal lacks the security headers")
					}
					return
				}
				if r.status == http.StatusForbidden {
					t.Fatalf("refused: %s", r.body)
				}
			})
		}
	})
	t.Run("with CORS origins", func(t *testing.T) {
		h := newHarness(t, enginetest.SQLite(t), withCORS(appOrigin))
		// The allowed origin is trusted: its POST reaches the handler.
		r := h.do("", "POST", "/api/auth/login", login, "Origin", appOrigin, "Sec-Fetch-Site", "cross-site")
		h.expect(r, http.StatusUnauthorized, "")
		if r.header.Get("Access-Control-Allow-Origin") != appOrigin {
			t.Fatalf("Access-Control-Allow-Origin = %q", r.header.Get("Access-Control-Allow-Origin"))
		}
		// An authenticated write from the allowed origin works too.
		r = h.do("admin", "POST", "/api/auth/sessions/revoke-others", nil, "Origin", appOrigin, "Sec-Fetch-Site", "cross-site")
		if r.status >= 400 {
			t.Fatalf("authenticated write from the allowed origin: %d %s", r.status, r.body)
		}
		// Any other origin is still refused.
		r = h.do("", "POST", "/api/auth/login", login, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
		h.expect(r, http.StatusForbidden, "cross_origin_refused")
		if got := corsHeaders(r.header); len(got) > 0 {
			t.Fatalf("CORS headers on a refused origin: %v", got)
		}
	})
}
