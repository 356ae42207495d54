package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/keep-dev/keep/internal/audit"
	"github.com/keep-dev/keep/internal/auth"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
)

// ClientInfo describes where a request came from, for sessions, limits and
// (later) the audit log.
type ClientInfo struct {
	IP        string
	UserAgent string
}

// LoginResult is the answer to a login, a refresh or a completed MFA step:
// either tokens and the user, or an MFA challenge to complete.
type LoginResult struct {
	AccessToken  string         `json:"access_token,omitempty"`
	TokenType    string         `json:"token_type,omitempty"`
	ExpiresIn    int            `json:"expires_in,omitempty"`
	RefreshToken string         `json:"refresh_token,omitempty"`
	User         records.Record `json:"user,omitempty"`
	MFARequired  bool           `json:"mfa_required,omitempty"`
	MFAToken     string         `json:"mfa_token,omitempty"`
}

// NormaliseEmail is the identifier logins, lockouts and mail flows key on.
func NormaliseEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// Login checks email and password and starts a session, or answers with an
// MFA challenge. An unknown email costs one dummy hash so that it takes as
// long as a wrong password; the lockout is counted per identifier whether or
// not an account exists, so it reveals nothing either.
func (s *Service) Login(ctx context.Context, email, password string, client ClientInfo) (LoginResult, error) {
	ctx, cancel := context.WithTimeout(ctx, HashWait)
	defer cancel()
	if s.tokens == nil {
		return LoginResult{}, errors.New("accounts: no token issuer configured")
	}
	ident := NormaliseEmail(email)
	lockID := loginLockID(ident)
	attempt := audit.Event{Action: actLogin, Target: s.identTarget("", ident),
		Details: map[string]any{"email": s.audit.Redact(ident)}}
	if err := s.loginAllowed(ctx, lockID, attempt); err != nil {
		return LoginResult{}, err
	}
	id, hash, ok, err := s.checkPassword(ctx, ident, password)
	if err != nil {
		return LoginResult{}, err
	}
	attempt.Target = s.identTarget(id, ident)
	if !ok {
		if err := s.loginFailed(ctx, lockID, with(attempt, "reason", "invalid_credentials")); err != nil {
			return LoginResult{}, err
		}
		return LoginResult{}, ErrInvalidCredentials
	}
	if err := s.loginSucceeded(ctx, lockID, attempt); err != nil {
		return LoginResult{}, err
	}
	success := audit.Event{Action: actLogin, Actor: userTarget(id), Target: userTarget(id)}
	if token, required, err := s.mfaChallenge(ctx, id, hash); err != nil {
		return LoginResult{}, err
	} else if required {
		return LoginResult{MFARequired: true, MFAToken: token}, nil
	}
	return s.startSession(ctx, id, client, hash, success)
}

// loginLockID is the lockout identifier of password logins. The prefix keeps
// what a client types apart from the other counters ("mfa:…", "reset:…"),
// so no login can spend another flow's attempts.
func loginLockID(ident string) string { return "login:" + ident }

// errCredentialsChanged stops a login whose password was changed or reset
// between the check and the new session: the session must not outlive the
// change that was meant to end it.
var errCredentialsChanged = ErrInvalidCredentials

// stillValid checks, inside a transaction, that userID still has the
// password hash a login verified and is not disabled; on PostgreSQL it holds
// the row until commit, so a concurrent change waits for this session and
// then ends it.
func (s *Service) stillValid(ctx context.Context, q store.Querier, userID, hash string) error {
	if hash == "" {
		return nil
	}
	lock := ""
	if s.db.Dialect() == store.Postgres {
		lock = " FOR SHARE"
	}
	var current string
	var disabled any
	err := q.QueryRow(ctx, `SELECT password_hash, disabled FROM c_users WHERE id = ?`+lock, userID).Scan(&current, &disabled)
	if errors.Is(err, store.ErrNotFound) {
		return errCredentialsChanged
	}
	if err != nil {
		return err
	}
	if current != hash || truthy(disabled) {
		return errCredentialsChanged
	}
	return nil
}

// checkPassword reports whether password is the one of the enabled account
// ident, in the same time whether or not the account exists.
func (s *Service) checkPassword(ctx context.Context, ident, password string) (id, hash string, ok bool, err error) {
	// No stored email is longer or holds a NUL (which PostgreSQL refuses to
	// compare): answer as for an unknown account, in the same time.
	if len(ident) > 254 || len(password) > auth.MaxPasswordLen*4 || strings.IndexByte(ident, 0) >= 0 {
		return "", "", false, s.hasher.Equalize(ctx)
	}
	var disabled any
	err = s.db.QueryRow(ctx, `SELECT id, password_hash, disabled FROM c_users WHERE email = ?`, ident).Scan(&id, &hash, &disabled)
	if errors.Is(err, store.ErrNotFound) {
		return "", "", false, s.hasher.Equalize(ctx)
	}
	if err != nil {
		return "", "", false, fmt.Errorf("login: %w", err)
	}
	ok, rehash, err := s.hasher.Verify(ctx, hash, password)
	if err != nil {
		return "", "", false, fmt.Errorf("login: %w", err)
	}
	if ok && rehash {
		if h, upgraded := s.upgradeHash(ctx, id, hash, password); upgraded {
			hash = h
		}
	}
	// A disabled account fails like a wrong password, after the same work.
	return id, hash, ok && !truthy(disabled), nil
}

func truthy(v any) bool { return v == true || v == int64(1) }

// Authenticate turns a bearer credential into the caller: an API key
// (prefixed keep_) or an access token, whose session must still be alive.
// The caller's email, roles and fields are read from the database, never
// from the token; see callers.go for when a read is reused.
func (s *Service) Authenticate(ctx context.Context, token string, client ClientInfo) (records.Caller, error) {
	if strings.HasPrefix(token, APIKeyPrefix) {
		return s.authenticateKey(ctx, token)
	}
	if s.tokens == nil {
		return records.Caller{}, ErrUnauthenticated
	}
	claims, err := s.tokens.Verify(token)
	if err != nil {
		return records.Caller{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	if claims.SessionID == "" {
		return records.Caller{}, ErrUnauthenticated // every access token Keep issues has a session
	}
	now := s.clock()
	if c, ok := s.callers.get(s.records, claims.SessionID, claims.Subject, now); ok {
		return c, nil
	}
	// One query: the user, its roles and the session, which must be alive
	// and the user's own.
	key := s.callers.key(s.records)
	args := s.appendLiveArgs(append(make([]any, 0, 3), claims.SessionID), now)
	c, err := s.loadCaller(ctx, claims.Subject, s.sessionQuery, args...)
	if err != nil {
		return records.Caller{}, err
	}
	c.Session = claims.SessionID
	s.callers.put(claims.SessionID, key, now, c)
	return c, nil
}

// upgradeHash re-hashes a password whose stored parameters are weaker than
// the current ones. A failure is logged, never fatal to the login.
func (s *Service) upgradeHash(ctx context.Context, id, old, password string) (string, bool) {
	h, err := s.hasher.Hash(ctx, password)
	var n int64
	if err == nil {
		err = s.db.Tx(ctx, func(q store.Querier) error {
			// Only over the hash just verified: a concurrent change wins.
			n, err = q.Exec(ctx, `UPDATE c_users SET password_hash = ? WHERE id = ? AND password_hash = ?`, h, id, old)
			return err
		})
	}
	if err != nil {
		s.log.Warn("password hash upgrade failed", "user", id, "err", err)
	}
	return h, err == nil && n == 1
}
