package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keep-dev/keep/internal/audit"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
)

// Kinds of single-use tokens in _keep_tokens.
const (
	tokenVerify = "verify"
	tokenReset  = "reset"
)

// emailTokenBytes is the entropy of a mailed token: 256 bits, encoded as 43
// base64url characters.
const emailTokenBytes = 32

// mailCooldown is the least time between two mails of one kind to one
// address.
const mailCooldown = time.Minute

// ErrMailNotConfigured is returned by the mail flows when the service has no
// Mailer. It is the same for every email, so it reveals nothing.
var ErrMailNotConfigured = errors.New("accounts: mail is not configured")

// errBadLink is the one answer to a token that is malformed, unknown,
// expired, already used or of a disabled account.
func errBadLink() error {
	return &records.PublicError{Kind: records.ErrBadRequest, Msg: "the link is invalid or has expired"}
}

// RequestVerification mails a verification link if the account exists, is
// not verified yet and is not disabled. It answers the same (nil) in every
// case, so it does not tell whether an account exists.
func (s *Service) RequestVerification(ctx context.Context, email string) error {
	return s.requestLater(ctx, email, tokenVerify)
}

// RequestReset mails a password reset link if the account exists and is not
// disabled. It answers the same (nil) in every case.
func (s *Service) RequestReset(ctx context.Context, email string) error {
	return s.requestLater(ctx, email, tokenReset)
}

// requestLater answers at once and does the work after the response, so
// that the answer takes the same time whether or not the account exists:
// only a real account's transaction writes and syncs to disk, which a
// caller could otherwise time. At most maxBackground requests run at once;
// past that the work runs in the request (under a flood the timing signal
// is lost in the queueing anyway, and nothing is dropped).
func (s *Service) requestLater(ctx context.Context, email, kind string) error {
	if s.mailer == nil {
		return ErrMailNotConfigured
	}
	ctx = context.WithoutCancel(ctx)
	run := func() {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := s.requestToken(ctx, email, kind); err != nil {
			s.log.Error("email request failed", "kind", kind, "err", err)
		}
	}
	select {
	case s.background <- struct{}{}:
		s.pending.Add(1)
		go func() {
			defer func() { <-s.background; s.pending.Done() }()
			run()
		}()
	default:
		run()
	}
	return nil
}

// Wait blocks until work started after a response (email requests) is
// done. Tests and shutdown use it.
func (s *Service) Wait() { s.pending.Wait() }

// requestToken issues a token of kind for the account of email and queues
// its mail in the same transaction, so a token exists exactly when its mail
// will be sent. Older unused tokens of that kind stop working.
//
// For an unknown or ineligible account it runs the same lookup and the same
// invalidation statement (matching no row) in a write transaction. What it
// cannot make equal is the commit: only a transaction that wrote syncs to
// disk, so a request for a real account takes about one fsync longer. The
// per-IP and per-identifier limits on these endpoints bound how often that
// can be measured; see the report of issue 3.
func (s *Service) requestToken(ctx context.Context, email, kind string) error {
	if s.mailer == nil {
		return ErrMailNotConfigured
	}
	ident := NormaliseEmail(email)
	// Make the token before knowing whether it is needed: the same work in
	// both cases.
	token, hash, err := newEmailToken()
	if err != nil {
		return err
	}
	if len(ident) > 254 || strings.IndexByte(ident, 0) >= 0 {
		// No stored email looks like this (and PostgreSQL refuses NUL in a
		// comparison): look up one that cannot match instead.
		ident = ""
	}
	now := s.now()
	ttl := s.cfg.VerifyTTL
	if kind == tokenReset {
		ttl = s.cfg.ResetTTL
	}
	d := s.db.Dialect()
	return s.db.Tx(ctx, func(q store.Querier) error {
		var (
			id, addr           string
			verified, disabled any
		)
		// On PostgreSQL the user row is locked, so concurrent requests for
		// one account run one after the other and only the last token stays
		// valid (SQLite's single writer does the same).
		lock := ""
		if d == store.Postgres {
			lock = " FOR UPDATE"
		}
		err := q.QueryRow(ctx, `SELECT id, email, verified, disabled FROM c_users WHERE email = ?`+lock, ident).
			Scan(&id, &addr, &verified, &disabled)
		found := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%s request: %w", kind, err)
		}
		eligible := found && !truthy(disabled) && (kind != tokenVerify || !truthy(verified))
		// Every request writes its audit entry, so a request for a real
		// account and one for a made-up address both commit a write.
		action := actPasswordReset + "_request"
		if kind == tokenVerify {
			action = actVerifyEmail + "_request"
		}
		record := func(sent bool) error {
			return s.audit.Append(ctx, q, audit.Event{Action: action, Target: s.identTarget(id, ident),
				Details: map[string]any{"mail_sent": sent}})
		}
		// One mail per address and kind per mailCooldown: an address cannot
		// be flooded, and — unlike a lock — the owner can always get a link
		// (the newest one, still valid, is in the mailbox).
		var recent int
		if eligible {
			if err := q.QueryRow(ctx, `SELECT count(*) FROM _keep_tokens WHERE user_id = ? AND kind = ? AND created > ?`,
				id, kind, records.TimeArg(d, now.Add(-mailCooldown))).Scan(&recent); err != nil {
				return fmt.Errorf("%s request: %w", kind, err)
			}
			if recent > 0 {
				return record(false)
			}
		}
		if !eligible {
			id = "" // the invalidation below then matches nothing
		}
		if _, err := q.Exec(ctx, `UPDATE _keep_tokens SET used_at = ? WHERE user_id = ? AND kind = ? AND used_at IS NULL`,
			records.TimeArg(d, now), id, kind); err != nil {
			return fmt.Errorf("%s request: %w", kind, err)
		}
		if !eligible {
			return record(false)
		}
		if _, err := q.Exec(ctx, `INSERT INTO _keep_tokens (hash, kind, user_id, created, expires_at) VALUES (?, ?, ?, ?, ?)`,
			hash, kind, id, records.TimeArg(d, now), records.TimeArg(d, now.Add(ttl))); err != nil {
			return fmt.Errorf("%s request: %w", kind, err)
		}
		subject, body := s.emailMessage(kind, token, ttl)
		if err := s.mailer.Enqueue(ctx, q, addr, subject, body); err != nil {
			return err
		}
		return record(true)
	})
}

// emailMessage writes the mail for a token. Links carry the token in the
// fragment, which browsers send neither to servers nor in Referer headers;
// the page there posts it to the confirm endpoint.
func (s *Service) emailMessage(kind, token string, ttl time.Duration) (subject, body string) {
	base := strings.TrimRight(s.cfg.PublicURL, "/")
	var what, path, endpoint string
	if kind == tokenVerify {
		subject, what, path, endpoint = "Verify your email address", "verify the email address of your account", "/auth/verify", "POST /api/auth/verify/confirm"
	} else {
		subject, what, path, endpoint = "Reset your password", "choose a new password for your account", "/auth/reset", "POST /api/auth/reset/confirm"
	}
	var b strings.Builder
	b.WriteString("Hello,\n\n")
	if base != "" {
		fmt.Fprintf(&b, "To %s, open this link:\n\n%s%s#token=%s\n\n", what, base, path, token)
	} else {
		fmt.Fprintf(&b, "To %s, use this code:\n\n%s\n\nwith %s (or the page %s#token=%s of your application).\n\n",
			what, token, endpoint, path, token)
	}
	fmt.Fprintf(&b, "It works once and expires in %s.\n", humanDuration(ttl))
	b.WriteString("If you did not ask for this, you can ignore this email.\n")
	return subject, b.String()
}

func humanDuration(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		if d == time.Hour {
			return "1 hour"
		}
		return fmt.Sprintf("%d hours", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		if d == time.Minute {
			return "1 minute"
		}
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return d.String()
}

// ConfirmVerification marks the account of a verification token verified.
// The token is used up atomically: of two concurrent confirmations only one
// succeeds. A bad, expired or used token, or one of a disabled account,
// answers 400 "the link is invalid or has expired".
func (s *Service) ConfirmVerification(ctx context.Context, token string) error {
	hash, ok := emailTokenHash(token)
	if !ok {
		return errBadLink()
	}
	now := s.now()
	d := s.db.Dialect()
	return s.db.Tx(ctx, func(q store.Querier) error {
		userID, err := s.useToken(ctx, q, hash, tokenVerify, now)
		if err != nil {
			return err
		}
		n, err := q.Exec(ctx, `UPDATE c_users SET verified = ?, updated = ? WHERE id = ? AND disabled = ?`,
			boolArg(d, true), records.TimeArg(d, now), userID, boolArg(d, false))
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		if n != 1 {
			return errBadLink() // disabled meanwhile: roll the use back
		}
		return s.audit.Append(ctx, q, audit.Event{Action: actVerifyEmail, Target: userTarget(userID)})
	})
}

// ConfirmReset sets a new password with a reset token, marks the email
// verified (the mail reached its owner) and ends every session of the user,
// all in one transaction. A password the policy refuses answers a
// validation error on "new_password" and leaves the token usable.
func (s *Service) ConfirmReset(ctx context.Context, token, newPassword string) error {
	hash, ok := emailTokenHash(token)
	if !ok {
		return errBadLink()
	}
	if err := s.validateNewPassword("new_password", newPassword, ""); err != nil {
		return err
	}
	d := s.db.Dialect()
	// Look the token up first, on the read side, so that the policy can be
	// checked against the email and the slow hash runs outside the write
	// transaction (on SQLite it would hold up every other writer).
	var email string
	err := s.db.QueryRow(ctx, `SELECT u.email FROM _keep_tokens t JOIN c_users u ON u.id = t.user_id
		WHERE t.hash = ? AND t.kind = ? AND t.used_at IS NULL AND t.expires_at > ? AND u.disabled = ?`,
		hash, tokenReset, records.TimeArg(d, s.now()), boolArg(d, false)).Scan(&email)
	if errors.Is(err, store.ErrNotFound) {
		return errBadLink()
	}
	if err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	if err := s.validateNewPassword("new_password", newPassword, email); err != nil {
		return err
	}
	hctx, cancel := context.WithTimeout(ctx, HashWait)
	defer cancel()
	pwHash, err := s.hasher.Hash(hctx, newPassword)
	if err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	now := s.now()
	return s.db.Tx(ctx, func(q store.Querier) error {
		// The token is checked again here: it may have been used or have
		// expired since the lookup.
		userID, err := s.useToken(ctx, q, hash, tokenReset, now)
		if err != nil {
			return err
		}
		n, err := q.Exec(ctx, `UPDATE c_users SET password_hash = ?, verified = ?, updated = ? WHERE id = ? AND disabled = ?`,
			pwHash, boolArg(d, true), records.TimeArg(d, now), userID, boolArg(d, false))
		if err != nil {
			return fmt.Errorf("reset: %w", err)
		}
		if n != 1 {
			return errBadLink()
		}
		// Other reset links sent before this one stop working too.
		if _, err := q.Exec(ctx, `UPDATE _keep_tokens SET used_at = ? WHERE user_id = ? AND kind = ? AND used_at IS NULL`,
			records.TimeArg(d, now), userID, tokenReset); err != nil {
			return fmt.Errorf("reset: %w", err)
		}
		// The owner has proved the mailbox: a lock an attacker keeps on the
		// email must not keep them out, so the reset lifts it.
		if _, err := q.Exec(ctx, `DELETE FROM _keep_login_attempts WHERE identifier = ?`, lockKey(loginLockID(NormaliseEmail(email)))); err != nil {
			return fmt.Errorf("reset: %w", err)
		}
		// Account recovery: whoever held the old credentials loses every way
		// in — sessions, pending second-factor challenges and API keys.
		if err := dropChallenges(ctx, q, userID); err != nil {
			return fmt.Errorf("reset: %w", err)
		}
		if _, err := q.Exec(ctx, `UPDATE _keep_api_keys SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`,
			records.TimeArg(d, now), userID); err != nil {
			return fmt.Errorf("reset: %w", err)
		}
		if err := s.EndUserSessions(ctx, q, userID, "password reset"); err != nil {
			return err
		}
		return s.audit.Append(ctx, q, audit.Event{Action: actPasswordReset, Target: userTarget(userID),
			Details: map[string]any{"sessions_ended": true, "api_keys_revoked": true}})
	})
}

// useToken marks the unused, unexpired token hash of kind used and returns
// its user. The conditional update makes the use atomic.
func (s *Service) useToken(ctx context.Context, q store.Querier, hash, kind string, now time.Time) (string, error) {
	d := s.db.Dialect()
	n, err := q.Exec(ctx, `UPDATE _keep_tokens SET used_at = ?
		WHERE hash = ? AND kind = ? AND used_at IS NULL AND expires_at > ?`,
		records.TimeArg(d, now), hash, kind, records.TimeArg(d, now))
	if err != nil {
		return "", fmt.Errorf("%s token: %w", kind, err)
	}
	if n != 1 {
		return "", errBadLink()
	}
	var userID string
	if err := q.QueryRow(ctx, `SELECT user_id FROM _keep_tokens WHERE hash = ?`, hash).Scan(&userID); err != nil {
		return "", fmt.Errorf("%s token: %w", kind, err)
	}
	return userID, nil
}

// newEmailToken returns a fresh token and the hash it is stored under.
func newEmailToken() (token, hash string, err error) {
	b := make([]byte, emailTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(token))
	return token, hex.EncodeToString(sum[:]), nil
}

// emailTokenHash checks the shape of a presented token and returns the hash
// to look it up by. Only well-formed tokens reach the database.
func emailTokenHash(token string) (string, bool) {
	if len(token) != base64.RawURLEncoding.EncodedLen(emailTokenBytes) {
		return "", false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(b) != emailTokenBytes {
		return "", false
	}
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:]), true
}

// boolArg is b as a query argument for a boolean column: INTEGER 0/1 on
// SQLite, BOOLEAN on PostgreSQL.
func boolArg(d store.Dialect, b bool) any {
	if d == store.SQLite {
		if b {
			return int64(1)
		}
		return int64(0)
	}
	return b
}
