package accounts

// STUB — owned by the brute-force defence work (issue 3). Replace wholesale.

import (
	"context"
	"errors"
	"time"
)

// ErrTooManyAttempts is the 429 of a locked identifier or a rate limit.
var ErrTooManyAttempts = errors.New("too many attempts")

// RateLimitError says how long to wait; it matches ErrTooManyAttempts.
type RateLimitError struct{ RetryAfter time.Duration }

func (e *RateLimitError) Error() string { return "too many attempts" }
func (e *RateLimitError) Unwrap() error { return ErrTooManyAttempts }

// loginAllowed refuses an identifier that is locked.
func (s *Service) loginAllowed(ctx context.Context, ident string) error { return nil }

// loginFailed counts a failure for ident.
func (s *Service) loginFailed(ctx context.Context, ident string) error { return nil }

// loginSucceeded clears the failures of ident.
func (s *Service) loginSucceeded(ctx context.Context, ident string) error { return nil }
