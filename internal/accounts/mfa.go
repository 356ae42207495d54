package accounts

// TOTP multi-factor authentication (issue 3).
//
// Enrolment: EnrollTOTP stores a new secret, sealed with the secret box under
// the additional data "totp:<user id>" (a sealed secret copied to another
// user's row does not open), unconfirmed; ConfirmTOTP checks a first code,
// marks it confirmed and hands out ten recovery codes, stored only as
// hashes. Only a confirmed secret makes login ask for a second factor.
//
// Login: after a correct password, mfaChallenge stores a single-use challenge
// (256 random bits, kept as its hex SHA-256 in _keep_tokens, kind 'mfa',
// expiring after Config.MFATTL) and Login answers it instead of tokens.
// VerifyMFA completes it with a TOTP code or a recovery code:
//
//   - The challenge row is locked for the whole check (FOR UPDATE on
//     PostgreSQL, the single writer on SQLite), so attempts on one challenge
//     are serialised and cannot race each other.
//   - A TOTP code is accepted only for a step after the last accepted one,
//     and last_step moves forward with a conditional UPDATE (… WHERE
//     last_step < ?), so a code — even one still inside its window — works
//     once, across challenges and under concurrency.
//   - A recovery code is marked used with a conditional UPDATE (… WHERE
//     used_at IS NULL): it works once.
//   - A wrong code does not burn the challenge at once: a user who mistypes
//     may try again. The challenge allows mfaMaxAttempts wrong answers and is
//     burned by the last; after that only a new password login helps. Each
//     failure is a row of kind 'mfa_fail' whose hash is derived from the
//     challenge's (the token table has no counter column); they expire with
//     the challenge. A malformed input (not six digits, no or both factors)
//     is a 422 and costs no attempt.
//   - The challenge is consumed (used_at set, checked by rows affected) in
//     the same transaction that accepts the factor; the session starts after
//     commit.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keep-dev/keep/internal/audit"
	"github.com/keep-dev/keep/internal/auth"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
)

// TOTPEnrollment is what a user scans into an authenticator app.
type TOTPEnrollment struct {
	Secret     string `json:"secret"`
	OTPAuthURI string `json:"otpauth_uri"`
}

const (
	// mfaIssuer names Keep in authenticator apps.
	mfaIssuer = "Keep"
	// mfaTokenBytes is the challenge token's entropy: 256 bits.
	mfaTokenBytes = 32
	// mfaMaxAttempts is how many wrong answers one challenge allows; the
	// last of them burns it.
	mfaMaxAttempts = 5
	// recoveryCodeCount recovery codes are issued at confirmation.
	recoveryCodeCount = 10
	// recoveryCodeChars is the length of a recovery code without its
	// dashes: 16 base32 characters, 80 bits, so that an unsalted fast hash
	// cannot be reversed by search even if the table leaks.
	recoveryCodeChars = 16
)

// Public errors of the MFA flows.
var (
	errTOTPEnabled     = &records.PublicError{Kind: records.ErrConflict, Msg: "TOTP is already enabled"}
	errTOTPNotEnrolled = &records.PublicError{Kind: records.ErrConflict, Msg: "no TOTP enrolment to confirm; start one first"}
	errTOTPNotEnabled  = &records.PublicError{Kind: records.ErrNotFound, Msg: "TOTP is not enabled"}
	errMFAWrongCode    = &records.PublicError{Kind: ErrInvalidCredentials, Msg: "the code is wrong, expired or already used"}
	errMFAKey          = &records.PublicError{Kind: records.ErrForbidden, Msg: "an API key cannot manage MFA"}
	errMFAPassword     = &records.PublicError{Kind: records.ErrForbidden, Msg: "password is wrong"}
	errNoBox           = errors.New("accounts: no secret box configured for MFA")
)

// recoveryB32 is the recovery code alphabet: lower-case base32, no padding.
var recoveryB32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func totpAAD(userID string) []byte { return []byte("totp:" + userID) }

// mfaCaller refuses anonymous callers and API keys: a key acts as its user
// but must not change how that user signs in.
func mfaCaller(c records.Caller) error {
	if c.Anonymous() {
		return records.ErrUnauthorized
	}
	if c.APIKey != "" {
		return errMFAKey
	}
	return nil
}

// mfaForUpdate locks the selected rows until commit on PostgreSQL. SQLite's
// single writer transaction already serialises every writer.
func (s *Service) mfaForUpdate() string {
	if s.db.Dialect() == store.Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// EnrollTOTP starts a TOTP enrolment for the caller: a new secret replaces
// any unconfirmed one. A caller whose TOTP is already confirmed gets a 409;
// they must disable it first.
func (s *Service) EnrollTOTP(ctx context.Context, c records.Caller) (TOTPEnrollment, error) {
	if err := mfaCaller(c); err != nil {
		return TOTPEnrollment{}, err
	}
	if s.box == nil {
		return TOTPEnrollment{}, errNoBox
	}
	secret, err := auth.GenerateTOTPSecret()
	if err != nil {
		return TOTPEnrollment{}, err
	}
	sealed, err := s.box.Seal(secret, totpAAD(c.Auth.ID))
	if err != nil {
		return TOTPEnrollment{}, fmt.Errorf("seal TOTP secret: %w", err)
	}
	now := records.TimeArg(s.db.Dialect(), s.now())
	err = s.db.Tx(ctx, func(q store.Querier) error {
		// One statement: insert, or replace an unconfirmed enrolment; a
		// confirmed one is left alone and affects no row.
		n, err := q.Exec(ctx, `INSERT INTO _keep_mfa_totp (user_id, secret, created, confirmed_at, last_step)
			VALUES (?, ?, ?, NULL, 0)
			ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created = excluded.created, last_step = 0
			WHERE _keep_mfa_totp.confirmed_at IS NULL`, c.Auth.ID, sealed, now)
		if err != nil {
			return fmt.Errorf("enrol TOTP: %w", err)
		}
		if n == 0 {
			return errTOTPEnabled
		}
		return s.audit.Append(ctx, q, audit.Event{Action: actMFAEnroll, Actor: actorOf(c), Target: userTarget(c.Auth.ID)})
	})
	if err != nil {
		return TOTPEnrollment{}, err
	}
	account := c.Auth.Email
	if account == "" {
		account = c.Auth.ID
	}
	return TOTPEnrollment{Secret: auth.EncodeTOTPSecret(secret), OTPAuthURI: auth.OTPAuthURI(mfaIssuer, account, secret)}, nil
}

// ConfirmTOTP completes enrolment with a first code and returns the
// recovery codes, the only time they are shown. A wrong code is a 422 on
// "code" and leaves the enrolment as it was.
func (s *Service) ConfirmTOTP(ctx context.Context, c records.Caller, code string) ([]string, error) {
	if err := mfaCaller(c); err != nil {
		return nil, err
	}
	if s.box == nil {
		return nil, errNoBox
	}
	if _, err := auth.ParseTOTPCode(code); err != nil {
		return nil, &records.ValidationError{Fields: map[string]string{"code": "must be 6 digits"}}
	}
	codes, hashes, err := newRecoveryCodes(c.Auth.ID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	err = s.db.Tx(ctx, func(q store.Querier) error {
		var sealed []byte
		var confirmed any
		var last int64
		err := q.QueryRow(ctx, `SELECT secret, confirmed_at, last_step FROM _keep_mfa_totp WHERE user_id = ?`+s.mfaForUpdate(),
			c.Auth.ID).Scan(&sealed, &confirmed, &last)
		if errors.Is(err, store.ErrNotFound) {
			return errTOTPNotEnrolled
		}
		if err != nil {
			return fmt.Errorf("load TOTP: %w", err)
		}
		if confirmed != nil {
			return errTOTPEnabled
		}
		secret, err := s.box.Open(sealed, totpAAD(c.Auth.ID))
		if err != nil {
			return fmt.Errorf("open TOTP secret: %w", err)
		}
		step, ok := auth.VerifyTOTP(secret, code, now, last)
		if !ok {
			return &records.ValidationError{Fields: map[string]string{"code": "is wrong or expired"}}
		}
		n, err := q.Exec(ctx, `UPDATE _keep_mfa_totp SET confirmed_at = ?, last_step = ? WHERE user_id = ? AND confirmed_at IS NULL`,
			records.TimeArg(s.db.Dialect(), now), step, c.Auth.ID)
		if err != nil {
			return fmt.Errorf("confirm TOTP: %w", err)
		}
		if n != 1 {
			return errTOTPEnabled
		}
		if _, err := q.Exec(ctx, `DELETE FROM _keep_recovery_codes WHERE user_id = ?`, c.Auth.ID); err != nil {
			return fmt.Errorf("replace recovery codes: %w", err)
		}
		for _, h := range hashes {
			if _, err := q.Exec(ctx, `INSERT INTO _keep_recovery_codes (user_id, hash) VALUES (?, ?)`, c.Auth.ID, h); err != nil {
				return fmt.Errorf("store recovery code: %w", err)
			}
		}
		return s.audit.Append(ctx, q, audit.Event{Action: actMFAConfirm, Actor: actorOf(c), Target: userTarget(c.Auth.ID)})
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// DisableTOTP turns TOTP off after re-authentication with the password: it
// deletes the secret (confirmed or not), the recovery codes and any pending
// login challenge. A wrong password is a 403; no TOTP is a 404.
func (s *Service) DisableTOTP(ctx context.Context, c records.Caller, password string) error {
	if err := mfaCaller(c); err != nil {
		return err
	}
	var hash, email string
	err := s.db.QueryRow(ctx, `SELECT password_hash, email FROM c_users WHERE id = ?`, c.Auth.ID).Scan(&hash, &email)
	if errors.Is(err, store.ErrNotFound) {
		return ErrUnauthenticated
	}
	if err != nil {
		return fmt.Errorf("disable TOTP: %w", err)
	}
	// Wrong passwords here count like wrong logins: a stolen token must not
	// become a free password oracle.
	lockID := loginLockID(NormaliseEmail(email))
	ev := audit.Event{Action: actMFADisable, Actor: actorOf(c), Target: userTarget(c.Auth.ID)}
	if err := s.loginAllowed(ctx, lockID, ev); err != nil {
		return err
	}
	hctx, cancel := context.WithTimeout(ctx, HashWait)
	defer cancel()
	ok, _, err := s.hasher.Verify(hctx, hash, password)
	if err != nil {
		return fmt.Errorf("disable TOTP: %w", err)
	}
	if !ok {
		if err := s.loginFailed(ctx, lockID, with(ev, "reason", "wrong_password")); err != nil {
			return err
		}
		return errMFAPassword
	}
	if err := s.loginSucceeded(ctx, lockID, ev); err != nil {
		return err
	}
	return s.db.Tx(ctx, func(q store.Querier) error {
		n, err := q.Exec(ctx, `DELETE FROM _keep_mfa_totp WHERE user_id = ?`, c.Auth.ID)
		if err != nil {
			return fmt.Errorf("disable TOTP: %w", err)
		}
		if n == 0 {
			return errTOTPNotEnabled
		}
		if _, err := q.Exec(ctx, `DELETE FROM _keep_recovery_codes WHERE user_id = ?`, c.Auth.ID); err != nil {
			return fmt.Errorf("disable TOTP: %w", err)
		}
		if _, err := q.Exec(ctx, `DELETE FROM _keep_tokens WHERE user_id = ? AND kind IN ('mfa', 'mfa_fail')`, c.Auth.ID); err != nil {
			return fmt.Errorf("disable TOTP: %w", err)
		}
		return s.audit.Append(ctx, q, ev)
	})
}

// mfaChallenge answers whether userID must pass a second factor, and the
// challenge token for it.
// wantHash is the password hash the login verified; the challenge is refused
// if it changed since (see stillValid).
func (s *Service) mfaChallenge(ctx context.Context, userID, wantHash string) (token string, required bool, err error) {
	var confirmed any
	err = s.db.QueryRow(ctx, `SELECT confirmed_at FROM _keep_mfa_totp WHERE user_id = ?`, userID).Scan(&confirmed)
	if errors.Is(err, store.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("mfa: %w", err)
	}
	if confirmed == nil {
		return "", false, nil // an enrolment never confirmed does not count
	}
	var raw [mfaTokenBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", false, fmt.Errorf("mfa: reading random token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(raw[:])
	now := s.now()
	d := s.db.Dialect()
	err = s.db.Tx(ctx, func(q store.Querier) error {
		if err := s.stillValid(ctx, q, userID, wantHash); err != nil {
			return err
		}
		// Expired challenges of this user go as new ones come, so the
		// table does not grow with abandoned logins.
		if _, err := q.Exec(ctx, `DELETE FROM _keep_tokens WHERE user_id = ? AND kind IN ('mfa', 'mfa_fail') AND expires_at <= ?`,
			userID, records.TimeArg(d, now)); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `INSERT INTO _keep_tokens (hash, kind, user_id, created, expires_at) VALUES (?, 'mfa', ?, ?, ?)`,
			mfaTokenHash(token), userID, records.TimeArg(d, now), records.TimeArg(d, now.Add(s.cfg.MFATTL))); err != nil {
			return err
		}
		// The password was right; the login completes at auth.mfa.verify.
		err := s.audit.Append(ctx, q, audit.Event{Action: actMFAChallenge, Actor: userTarget(userID), Target: userTarget(userID)})
		return err
	})
	if errors.Is(err, errCredentialsChanged) {
		return "", false, err
	}
	if err != nil {
		return "", false, fmt.Errorf("mfa: store challenge: %w", err)
	}
	return token, true, nil
}

// VerifyMFA completes a login with a TOTP code or a recovery code (exactly
// one of them). An unknown, expired, used or burned challenge answers
// ErrUnauthenticated; a wrong factor answers an ErrInvalidCredentials public
// error and counts against the challenge (see the top of this file).
func (s *Service) VerifyMFA(ctx context.Context, mfaToken, code, recoveryCode string, client ClientInfo) (LoginResult, error) {
	switch {
	case code == "" && recoveryCode == "":
		return LoginResult{}, &records.ValidationError{Fields: map[string]string{"code": "give a code or a recovery_code"}}
	case code != "" && recoveryCode != "":
		return LoginResult{}, &records.ValidationError{Fields: map[string]string{"recovery_code": "give either a code or a recovery_code, not both"}}
	case code != "":
		if _, err := auth.ParseTOTPCode(code); err != nil {
			return LoginResult{}, &records.ValidationError{Fields: map[string]string{"code": "must be 6 digits"}}
		}
	}
	if s.box == nil {
		return LoginResult{}, errNoBox
	}
	if mfaToken == "" || len(mfaToken) > 128 {
		return LoginResult{}, ErrUnauthenticated
	}
	th := mfaTokenHash(mfaToken)
	now := s.now()
	d := s.db.Dialect()
	var (
		userID string
		failed bool
	)
	// Besides the attempts per challenge, wrong codes count per user:
	// someone who knows the password cannot log in again and again for
	// fresh guesses. Checked before the transaction: inside it, a second
	// connection per request could exhaust the pool.
	if err := s.db.QueryRow(ctx, `SELECT user_id FROM _keep_tokens WHERE hash = ? AND kind = 'mfa'`, th).Scan(&userID); err == nil {
		if err := s.loginAllowed(ctx, mfaLockID(userID), mfaEvent(userID)); err != nil {
			return LoginResult{}, err
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return LoginResult{}, fmt.Errorf("mfa: %w", err)
	}
	err := s.db.Tx(ctx, func(q store.Querier) error {
		failed = false
		err := q.QueryRow(ctx, `SELECT user_id FROM _keep_tokens WHERE hash = ? AND kind = 'mfa' AND used_at IS NULL AND expires_at > ?`+s.mfaForUpdate(),
			th, records.TimeArg(d, now)).Scan(&userID)
		if errors.Is(err, store.ErrNotFound) {
			return ErrUnauthenticated
		}
		if err != nil {
			return err
		}
		// A user disabled between password and second factor stops here.
		var disabled any
		if err := q.QueryRow(ctx, `SELECT disabled FROM c_users WHERE id = ?`, userID).Scan(&disabled); err != nil {
			return err
		}
		if truthy(disabled) {
			return ErrUnauthenticated
		}
		var ok bool
		if code != "" {
			ok, err = s.acceptTOTP(ctx, q, userID, code)
		} else {
			ok, err = acceptRecoveryCode(ctx, q, d, userID, recoveryCode, now)
		}
		if err != nil {
			return err
		}
		if !ok {
			failed = true
			return s.countMFAFailure(ctx, q, th, userID, now)
		}
		n, err := q.Exec(ctx, `UPDATE _keep_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL`, records.TimeArg(d, now), th)
		if err != nil {
			return err
		}
		if n != 1 {
			return ErrUnauthenticated
		}
		_, err = q.Exec(ctx, `DELETE FROM _keep_tokens WHERE kind = 'mfa_fail' AND hash IN (`+mfaPlaceholders(mfaMaxAttempts-1)+`)`,
			mfaFailureHashes(th)...)
		return err
	})
	if errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrTooManyAttempts) {
		return LoginResult{}, err
	}
	if err != nil {
		return LoginResult{}, fmt.Errorf("mfa: %w", err)
	}
	if failed {
		if err := s.loginFailed(ctx, mfaLockID(userID), with(mfaEvent(userID), "reason", "wrong_code")); err != nil {
			return LoginResult{}, err
		}
		return LoginResult{}, errMFAWrongCode
	}
	if err := s.loginSucceeded(ctx, mfaLockID(userID), mfaEvent(userID)); err != nil {
		return LoginResult{}, err
	}
	method := "totp"
	if recoveryCode != "" {
		method = "recovery_code"
	}
	return s.startSession(ctx, userID, client, "", audit.Event{Action: actLogin, Actor: userTarget(userID),
		Target: userTarget(userID), Details: map[string]any{"mfa": method}})
}

// acceptTOTP checks code against userID's confirmed secret and, when it
// matches a step after the last accepted one, moves last_step to it. The
// conditional UPDATE makes the step move forward only, once.
func (s *Service) acceptTOTP(ctx context.Context, q store.Querier, userID, code string) (bool, error) {
	var sealed []byte
	var confirmed any
	var last int64
	err := q.QueryRow(ctx, `SELECT secret, confirmed_at, last_step FROM _keep_mfa_totp WHERE user_id = ?`, userID).Scan(&sealed, &confirmed, &last)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil // disabled since the challenge was made
	}
	if err != nil {
		return false, err
	}
	if confirmed == nil {
		return false, nil
	}
	secret, err := s.box.Open(sealed, totpAAD(userID))
	if err != nil {
		return false, fmt.Errorf("open TOTP secret: %w", err)
	}
	step, ok := auth.VerifyTOTP(secret, code, s.now(), last)
	if !ok {
		return false, nil
	}
	n, err := q.Exec(ctx, `UPDATE _keep_mfa_totp SET last_step = ? WHERE user_id = ? AND last_step < ?`, step, userID, step)
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// acceptRecoveryCode marks an unused recovery code of userID used. Only one
// caller can flip used_at, so a code works once.
func acceptRecoveryCode(ctx context.Context, q store.Querier, d store.Dialect, userID, code string, now time.Time) (bool, error) {
	norm, ok := normaliseRecoveryCode(code)
	if !ok {
		return false, nil
	}
	n, err := q.Exec(ctx, `UPDATE _keep_recovery_codes SET used_at = ? WHERE user_id = ? AND hash = ? AND used_at IS NULL`,
		records.TimeArg(d, now), userID, recoveryCodeHash(userID, norm))
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// countMFAFailure records one wrong answer to challenge th and burns the
// challenge at the mfaMaxAttempts-th. The challenge row is locked by the
// caller, so the count cannot race.
func (s *Service) countMFAFailure(ctx context.Context, q store.Querier, th, userID string, now time.Time) error {
	d := s.db.Dialect()
	hashes := mfaFailureHashes(th)
	var n int64
	if err := q.QueryRow(ctx, `SELECT COUNT(*) FROM _keep_tokens WHERE kind = 'mfa_fail' AND hash IN (`+mfaPlaceholders(len(hashes))+`)`,
		hashes...).Scan(&n); err != nil {
		return err
	}
	if n+1 >= mfaMaxAttempts {
		_, err := q.Exec(ctx, `UPDATE _keep_tokens SET used_at = ? WHERE hash = ?`, records.TimeArg(d, now), th)
		return err
	}
	var expires any
	if err := q.QueryRow(ctx, `SELECT expires_at FROM _keep_tokens WHERE hash = ?`, th).Scan(&expires); err != nil {
		return err
	}
	_, err := q.Exec(ctx, `INSERT INTO _keep_tokens (hash, kind, user_id, created, expires_at) VALUES (?, 'mfa_fail', ?, ?, ?)`,
		hashes[n], userID, records.TimeArg(d, now), expires)
	return err
}

// mfaTokenHash is how a challenge token is stored: hex SHA-256.
func mfaTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// mfaFailureHashes are the keys of the failure rows of challenge th, one per
// attempt: they are derived from the stored hash, so they reveal nothing
// more than it and cannot collide with a real token's hash.
func mfaFailureHashes(th string) []any {
	out := make([]any, mfaMaxAttempts-1)
	for i := range out {
		sum := sha256.Sum256([]byte("mfa_fail:" + th + ":" + strconv.Itoa(i)))
		out[i] = hex.EncodeToString(sum[:])
	}
	return out
}

func mfaPlaceholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// newRecoveryCodes returns recoveryCodeCount fresh codes, formatted
// "xxxx-xxxx-xxxx-xxxx", and their hashes for userID.
func newRecoveryCodes(userID string) (codes []string, hashes []string, err error) {
	raw := make([]byte, recoveryCodeChars*5/8)
	for range recoveryCodeCount {
		if _, err := rand.Read(raw); err != nil {
			return nil, nil, fmt.Errorf("recovery codes: %w", err)
		}
		norm := recoveryB32.EncodeToString(raw)
		var b strings.Builder
		for i := 0; i < len(norm); i += 4 {
			if i > 0 {
				b.WriteByte('-')
			}
			b.WriteString(norm[i : i+4])
		}
		codes = append(codes, b.String())
		hashes = append(hashes, recoveryCodeHash(userID, norm))
	}
	return codes, hashes, nil
}

// normaliseRecoveryCode accepts a code as shown or typed: any case, with or
// without dashes and spaces. Anything else is not a code.
func normaliseRecoveryCode(code string) (string, bool) {
	if len(code) > 64 {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(code); i++ {
		c := code[i]
		switch {
		case c == '-' || c == ' ':
		case 'A' <= c && c <= 'Z':
			b.WriteByte(c + ('a' - 'A'))
		case 'a' <= c && c <= 'z', '2' <= c && c <= '7':
			b.WriteByte(c)
		default:
			return "", false
		}
	}
	if b.Len() != recoveryCodeChars {
		return "", false
	}
	return b.String(), true
}

// recoveryCodeHash is how a recovery code is stored. The codes carry 80
// random bits, so a fast hash suffices; the user id in the input keeps equal
// codes of two users apart and makes a leaked table one search per user.
func recoveryCodeHash(userID, norm string) string {
	sum := sha256.Sum256([]byte("keep-recovery:" + userID + ":" + norm))
	return hex.EncodeToString(sum[:])
}

// mfaEvent is the audit entry of a failed or refused second factor.
func mfaEvent(userID string) audit.Event {
	return audit.Event{Action: actMFAVerify, Target: userTarget(userID)}
}

// mfaLockID is the lockout identifier of a user's second factor; "mfa:"
// cannot collide with an email, which the login lockout keys on.
func mfaLockID(userID string) string { return "mfa:" + userID }
