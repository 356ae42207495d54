package accounts

import (
	"context"

	"github.com/keep-dev/keep/internal/audit"
	"github.com/keep-dev/keep/internal/records"
)

// The audit actions of the accounts service. Each request that changes
// identity state, or is refused while trying, makes exactly one entry.
const (
	actLogin          = "auth.login"
	actLockout        = "auth.lockout"
	actMFAChallenge   = "auth.mfa.challenge"
	actLogout         = "auth.logout"
	actRefreshReuse   = "auth.refresh.reuse"
	actSessionRevoke  = "auth.session.revoke"
	actPasswordChange = "auth.password.change"
	actPasswordReset  = "auth.password.reset"
	actVerifyEmail    = "auth.email.verify"
	actMFAEnroll      = "auth.mfa.enroll"
	actMFAConfirm     = "auth.mfa.confirm"
	actMFADisable     = "auth.mfa.disable"
	actMFAVerify      = "auth.mfa.verify"
	actAPIKeyCreate   = "auth.apikey.create"
	actAPIKeyRevoke   = "auth.apikey.revoke"
	actSignup         = "auth.signup"
	actGrantSuperuser = "role.assign"
)

func userTarget(id string) string { return audit.User(id) }

// actorOf names a caller in the log; the API key, when one was used, is in
// the request (audit.Request.Via).
func actorOf(c records.Caller) string {
	if c.Anonymous() {
		return "anonymous"
	}
	return userTarget(c.Auth.ID)
}

// identTarget names the account a login or reset was attempted for: the
// user when the email belongs to one, else a keyed digest of what was
// typed, which may be a mistyped password and is never stored in clear.
func (s *Service) identTarget(userID, ident string) string {
	if userID != "" {
		return userTarget(userID)
	}
	return "email:" + s.audit.Redact(ident)
}

// with returns a copy of ev with one more detail.
func with(ev audit.Event, key string, v any) audit.Event {
	d := make(map[string]any, len(ev.Details)+1)
	for k, x := range ev.Details {
		d[k] = x
	}
	d[key] = v
	ev.Details = d
	return ev
}

// deny records that ev was refused before anything was attempted (a locked
// identifier).
func (s *Service) deny(ctx context.Context, ev audit.Event, reason string) error {
	if ev.Action == "" {
		return nil
	}
	ev.Outcome = audit.Denied
	return s.audit.Record(ctx, with(ev, "reason", reason))
}
