package api

// STUB — owned by the brute-force defence work (issue 3). Replace wholesale.

import (
	"net/http"
	"time"
)

// Limiter decides whether a request of a class (login, signup, …) from a key
// (the client IP) may go ahead, and if not how long to wait.
type Limiter interface {
	Allow(class, key string) (ok bool, retryAfter time.Duration)
}

// limit applies the per-IP limit of class before fn.
func (a *API) limit(class string, fn func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return fn
}
