package accounts

import (
	"context"
	"encoding/json"

	"github.com/keep-dev/keep/internal/audit"
	"github.com/keep-dev/keep/internal/records"
)

// Signup creates a user through the users collection, limited per
// identifier: at most LoginMaxFailures signups per email in the lockout
// window, whether or not the address is taken (per-IP limits apply in the
// API as well).
func (s *Service) Signup(ctx context.Context, body records.Body) (records.Record, error) {
	var email string
	if raw, ok := body["email"]; ok {
		_ = json.Unmarshal(raw, &email) // a wrong type is reported by validation below
	}
	lockID := "signup:" + NormaliseEmail(email)
	if err := s.loginAllowed(ctx, lockID, audit.Event{Action: actSignup,
		Target: "email:" + s.audit.Redact(NormaliseEmail(email))}); err != nil {
		return nil, err
	}
	// Every signup counts, so no entry of its own: the new user's record
	// write is the audit entry of a signup that succeeds.
	if err := s.loginFailed(ctx, lockID, audit.Event{}); err != nil {
		return nil, err
	}
	return s.records.Signup(ctx, body)
}
