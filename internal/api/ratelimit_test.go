package api_test

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keep-dev/keep/internal/config"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// TestLoginRateLimitPerIP hammers the login endpoint from one client with a
// different email each time, so that only the per-IP limit can answer 429.
func TestLoginRateLimitPerIP(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		h := newHarness(t, open(t), func(c *config.Config) { c.RateLimits = "on" })
		// The requests go in parallel so that the limiter sees them all
		// within a moment, whatever the hashing costs: of the burst of 20,
		// the harness's own admin login spent one.
		const n = 25
		responses := make([]*http.Response, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				body := fmt.Sprintf(`{"email": "u%d@example.com", "password": "wrong password"}`, i)
				r, err := http.Post(h.srv.URL+"/api/auth/login", "application/json", strings.NewReader(body))
				if err == nil {
					responses[i] = r
				}
			})
		}
		wg.Wait()
		statuses := map[int]int{}
		var limited response
		for i, r := range responses {
			if r == nil {
				t.Fatalf("request %d failed", i)
			}
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			statuses[r.StatusCode]++
			if r.StatusCode == http.StatusTooManyRequests {
				limited = response{status: r.StatusCode, header: r.Header, body: b}
			}
		}
		if diff := cmp.Diff(map[int]int{http.StatusUnauthorized: 19, http.StatusTooManyRequests: n - 19}, statuses); diff != "" {
			t.Fatalf("statuses (-want +got):\n%s", diff)
		}
		h.expect(limited, http.StatusTooManyRequests, "too_many_attempts")
		if s, err := strconv.Atoi(limited.header.Get("Retry-After")); err != nil || s < 1 || s > 6 {
			t.Fatalf("Retry-After %q, want 1..6 seconds (login: one every 6 s)", limited.header.Get("Retry-After"))
		}
		// The next request is refused as well.
		h.expect(h.do("", "POST", "/api/auth/login", map[string]string{"email": "admin@example.com", "password": "admin password 1"}),
			http.StatusTooManyRequests, "too_many_attempts")
		// Other classes keep their own allowance.
		h.expect(h.do("", "POST", "/api/auth/signup", map[string]string{"email": "carol@example.com", "password": "pass for carol 123"}), http.StatusCreated, "")
	})
}

// TestLoginLockoutWithoutRateLimits checks that --rate-limits=off leaves the
// per-identifier lockout on, and that it answers alike for a real and an
// unknown email.
func TestLoginLockoutWithoutRateLimits(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		h := newHarness(t, open(t), func(c *config.Config) { c.RateLimits = "off"; c.LoginMaxFailures = 3 })
		h.signup("alice")
		type answer struct {
			Status     int
			RetryAfter string
			Error      map[string]any
		}
		attempt := func(email, password string) answer {
			r := h.do("", "POST", "/api/auth/login", map[string]string{"email": email, "password": password})
			var env map[string]any
			if r.status >= 400 {
				env, _ = h.expect(r, r.status, "")["error"].(map[string]any)
				delete(env, "request_id")
			}
			// The lock lasts a minute; allow for slow test machines.
			retry := r.header.Get("Retry-After")
			if s, err := strconv.Atoi(retry); err == nil && s > 50 && s <= 60 {
				retry = "about 60"
			}
			return answer{r.status, retry, env}
		}
		invalid := answer{401, "", map[string]any{"code": "invalid_credentials", "message": "invalid email or password"}}
		locked := answer{429, "about 60", map[string]any{"code": "too_many_attempts", "message": "too many attempts; try again later"}}
		want := []answer{invalid, invalid, invalid, locked, locked}

		for _, email := range []string{"alice@example.com", "nobody@example.com"} {
			var got []answer
			for range 4 {
				got = append(got, attempt(email, "wrong password"))
			}
			got = append(got, attempt(email, "pass for alice 123")) // right for alice, refused while locked
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("%s (-want +got):\n%s", email, diff)
			}
		}
		// Another identifier is not affected.
		h.signup("bob")
	})
}
