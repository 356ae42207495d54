package app

// STUB — owned by the brute-force defence work (issue 3). Replace wholesale.

import "github.com/keep-dev/keep/internal/api"

// limiter is the per-IP limiter of the auth endpoints, or nil when
// --rate-limits=off.
func (k *Keep) limiter() api.Limiter { return nil }
