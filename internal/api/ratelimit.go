package api

import (
	"net/http"
	"time"

	"github.com/keep-dev/keep/internal/accounts"
	"github.com/keep-dev/keep/internal/ratelimit"
)

// Limiter decides whether a request of a class (login, signup, …) from a key
// (the client IP) may go ahead, and if not how long to wait.
// *ratelimit.Limiter implements it.
type Limiter interface {
	Allow(class, key string) (ok bool, retryAfter time.Duration)
}

// limit applies the per-IP limit of class before fn: a request over it
// answers 429 too_many_attempts with Retry-After, before its body is read.
// With no limiter (--rate-limits=off) fn runs as is; the per-identifier
// login lockout of accounts applies either way.
func (a *API) limit(class string, fn func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	if a.limiter == nil {
		return fn
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		if ok, wait := a.limiter.Allow(class, ratelimit.KeyForIP(clientInfo(r).IP)); !ok {
			return &accounts.RateLimitError{RetryAfter: wait}
		}
		return fn(w, r)
	}
}
