package app

import (
	"github.com/keep-dev/keep/internal/api"
	"github.com/keep-dev/keep/internal/ratelimit"
)

// limiter is the per-IP limiter of the auth endpoints (ratelimit's default
// limits, in memory, per process), or nil when --rate-limits=off. The
// per-identifier login lockout of accounts applies either way.
func (k *Keep) limiter() api.Limiter {
	if k.cfg.RateLimits == "off" {
		return nil // a nil interface, not a nil *ratelimit.Limiter
	}
	return ratelimit.New(ratelimit.Options{})
}
