package accounts

// Sessions and refresh tokens.
//
// A login creates a row in _keep_sessions and the first refresh token of
// that session in _keep_refresh_tokens. Every access token names its session
// ("sid"), and Authenticate checks the session on every request (a
// primary-key read within the query that loads the user, or on SQLite the
// caller kept while no session row was updated or deleted: callers.go), so ending
// a session ends its access tokens at the very next request, not only when
// they expire.
//
// Refresh tokens are 256 random bits, handed out once and stored only as the
// hex SHA-256 of the whole token. Refreshing marks the presented token used
// and issues its successor; the tokens of one session form its family.
//
// Reuse and the grace window: presenting a token that was already used
// means it was copied (or the client is broken), so the whole session is
// revoked ("refresh token reuse") and the answer is 401 — except within
// RefreshGrace (at most 10 s) of its use, when it is most likely a second
// tab or a retry of the same client racing the first refresh. Such a repeat
// answers 409 conflict and changes nothing: the session stays alive, the
// successor issued to the winner stays valid, and no second token is issued.
// Only hashes are stored, so the winner's tokens cannot be handed out again,
// and branching the family (a second live successor) would give a thief who
// races the owner a token reuse detection never sees. So of any number of
// concurrent refreshes of one token exactly one succeeds.
//
// last_used is written at login and at each refresh, never by ordinary
// requests (that would turn every read into a write, and SQLite has one
// writer). It is therefore accurate to within one access-token lifetime,
// and the inactivity timeout counts from the last refresh: SessionIdle must
// be longer than the access-token lifetime, or a client in steady use would
// time out between refreshes.

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
	"github.com/keep-dev/keep/internal/ids"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
)

// RefreshTokenPrefix starts every refresh token, so that one is
// recognisable in a secret scanner or a support ticket.
const RefreshTokenPrefix = "kr_"

// refreshTokenBytes is the entropy of a refresh token (ASVS asks for 128
// bits at least).
const refreshTokenBytes = 32

// refreshTokenLen is the length of a well-formed token: the prefix and
// unpadded base64url of refreshTokenBytes.
var refreshTokenLen = len(RefreshTokenPrefix) + base64.RawURLEncoding.EncodedLen(refreshTokenBytes)

// Reasons stored in _keep_sessions.revoke_reason.
const (
	reasonLogout       = "logout"
	reasonDeleted      = "ended by user"
	reasonOthers       = "revoked by user"
	reasonPassword     = "password changed"
	reasonRefreshReuse = "refresh token reuse"
)

// sessionTimeLayout is how SQLite stores the timestamps of sessions and
// refresh tokens (see records.TimeArg).
const sessionTimeLayout = "2006-01-02T15:04:05.000Z"

// ErrRefreshRace is the answer to a refresh token presented again within
// the grace window of its first use: the session lives on, and the client
// should use the tokens the first refresh returned.
var ErrRefreshRace = &records.PublicError{Kind: records.ErrConflict,
	Msg: "refresh token was just used by a concurrent refresh; use the tokens that refresh returned"}

// SessionInfo is one session as its owner sees it. LastUsed is the time of
// the login or the latest refresh.
type SessionInfo struct {
	ID        string    `json:"id"`
	Created   time.Time `json:"created"`
	LastUsed  time.Time `json:"last_used"`
	IP        string    `json:"ip"`
	UserAgent string    `json:"user_agent"`
	Current   bool      `json:"current"`
}

// clock returns the service's current time at the precision timestamps are
// stored with.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

func (s *Service) timeArg(t time.Time) any { return records.TimeArg(s.db.Dialect(), t) }

// newRefreshToken returns a fresh refresh token and the hash it is stored as.
func newRefreshToken() (token, hash string, err error) {
	var b [refreshTokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("refresh token: %w", err)
	}
	token = RefreshTokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, refreshTokenHash(token), nil
}

// refreshTokenHash is the stored form of a refresh token. A plain SHA-256
// suffices: the token has 256 bits of entropy, so there is nothing to guess.
func refreshTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// sessionTime reads a timestamp column as the engine returns it: text from
// SQLite, time.Time from PostgreSQL. NULL reads as the zero time.
func sessionTime(v any) (time.Time, error) {
	switch v := v.(type) {
	case nil:
		return time.Time{}, nil
	case time.Time:
		return v.UTC(), nil
	case string:
		return time.Parse(sessionTimeLayout, v)
	case []byte:
		return time.Parse(sessionTimeLayout, string(v))
	}
	return time.Time{}, fmt.Errorf("unexpected time %T", v)
}

// sessionRow is what liveness depends on.
type sessionRow struct {
	userID    string
	lastUsed  time.Time
	expiresAt time.Time
	revoked   bool
}

func scanSessionRow(row store.Row, extra ...any) (sessionRow, error) {
	var (
		r                        sessionRow
		lastUsed, expires, revAt any
	)
	if err := row.Scan(append([]any{&r.userID, &lastUsed, &expires, &revAt}, extra...)...); err != nil {
		return r, err
	}
	var err error
	if r.lastUsed, err = sessionTime(lastUsed); err != nil {
		return r, fmt.Errorf("session last_used: %w", err)
	}
	if r.expiresAt, err = sessionTime(expires); err != nil {
		return r, fmt.Errorf("session expires_at: %w", err)
	}
	r.revoked = revAt != nil
	return r, nil
}

// alive reports whether the session may still be used at now.
// liveSessionSQL is the same test in SQL; the two must agree.
func (s *Service) alive(r sessionRow, now time.Time) bool {
	return !r.revoked && now.Before(r.expiresAt) && now.Before(r.lastUsed.Add(s.cfg.SessionIdle))
}

// liveSessionSQL selects the sessions that are alive, given the arguments
// of liveArgs.
const liveSessionSQL = `revoked_at IS NULL AND expires_at > ? AND last_used > ?`

func (s *Service) liveArgs(now time.Time) []any { return s.appendLiveArgs(nil, now) }

// appendLiveArgs appends the arguments of liveSessionSQL to args.
func (s *Service) appendLiveArgs(args []any, now time.Time) []any {
	return append(args, s.timeArg(now), s.timeArg(now.Add(-s.cfg.SessionIdle)))
}

// startSession creates a session for userID and returns its first tokens.
// wantHash, when not empty, is the password hash the login verified: the
// session is refused if it changed since (see stillValid).
// ev is the audit entry of the login, appended with the session.
func (s *Service) startSession(ctx context.Context, userID string, client ClientInfo, wantHash string, ev audit.Event) (LoginResult, error) {
	if s.tokens == nil {
		return LoginResult{}, errors.New("accounts: no token issuer configured")
	}
	token, hash, err := newRefreshToken()
	if err != nil {
		return LoginResult{}, err
	}
	sid, now := ids.New(), s.clock()
	err = s.db.Tx(ctx, func(q store.Querier) error {
		if err := s.stillValid(ctx, q, userID, wantHash); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `INSERT INTO _keep_sessions (id, user_id, created, last_used, expires_at, ip, user_agent)
VALUES (?, ?, ?, ?, ?, ?, ?)`, sid, userID, s.timeArg(now), s.timeArg(now), s.timeArg(now.Add(s.cfg.SessionLifetime)),
			client.IP, client.UserAgent); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `INSERT INTO _keep_refresh_tokens (hash, session_id, created) VALUES (?, ?, ?)`,
			hash, sid, s.timeArg(now)); err != nil {
			return err
		}
		return s.audit.Append(ctx, q, with(ev, "session", sid))
	})
	if errors.Is(err, errCredentialsChanged) {
		return LoginResult{}, err
	}
	if err != nil {
		return LoginResult{}, fmt.Errorf("start session: %w", err)
	}
	return s.sessionResult(ctx, userID, sid, token)
}

// sessionResult answers a login or refresh of session sid.
func (s *Service) sessionResult(ctx context.Context, userID, sid, refreshToken string) (LoginResult, error) {
	access, exp, err := s.tokens.IssueSession(userID, sid)
	if err != nil {
		return LoginResult{}, err
	}
	user, err := s.records.User(ctx, userID)
	if err != nil {
		return LoginResult{}, err
	}
	return LoginResult{AccessToken: access, TokenType: "Bearer", ExpiresIn: max(1, int(exp.Sub(s.now())/time.Second)),
		RefreshToken: refreshToken, User: user}, nil
}

// liveSessionOfUser is the condition Authenticate puts on the user row u:
// session ? is alive (the arguments of liveSessionSQL follow the id) and
// belongs to u. Its unqualified names resolve to _keep_sessions, the
// innermost table, so a users field of the same name cannot capture them.
const liveSessionOfUser = `EXISTS (SELECT 1 FROM _keep_sessions WHERE id = ? AND user_id = u.id AND ` + liveSessionSQL + `)`

// Refresh rotates a refresh token: the presented one stops working and the
// answer carries its successor and a new access token. See the comment at
// the top of this file for reuse detection and the grace window.
func (s *Service) Refresh(ctx context.Context, refreshToken string, client ClientInfo) (LoginResult, error) {
	if s.tokens == nil {
		return LoginResult{}, errors.New("accounts: no token issuer configured")
	}
	if len(refreshToken) != refreshTokenLen || !strings.HasPrefix(refreshToken, RefreshTokenPrefix) {
		return LoginResult{}, ErrUnauthenticated
	}
	hash := refreshTokenHash(refreshToken)
	next, nextHash, err := newRefreshToken()
	if err != nil {
		return LoginResult{}, err
	}
	lock := ""
	if s.db.Dialect() == store.Postgres {
		// Refreshes of one session queue on its row, so the liveness check
		// below still holds when the rotation commits. (SQLite has one
		// writer: its transactions are serialised anyway.)
		lock = " FOR UPDATE OF s"
	}
	type outcome int
	const (
		rotated outcome = iota
		raced
		reused
	)
	var (
		result outcome
		sid    string
		userID string
	)
	now := s.clock()
	err = s.db.Tx(ctx, func(q store.Querier) error {
		if err := q.QueryRow(ctx, `SELECT session_id FROM _keep_refresh_tokens WHERE hash = ?`, hash).Scan(&sid); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return ErrUnauthenticated
			}
			return err
		}
		var disabled any
		r, err := scanSessionRow(q.QueryRow(ctx, `SELECT s.user_id, s.last_used, s.expires_at, s.revoked_at, u.disabled
FROM _keep_sessions s JOIN c_users u ON u.id = s.user_id WHERE s.id = ?`+lock, sid), &disabled)
		if errors.Is(err, store.ErrNotFound) {
			return ErrUnauthenticated
		}
		if err != nil {
			return err
		}
		if !s.alive(r, now) || truthy(disabled) {
			return ErrUnauthenticated
		}
		userID = r.userID
		// Only one refresh can move used_at from NULL: this is what makes
		// concurrent refreshes of one token safe on both engines.
		n, err := q.Exec(ctx, `UPDATE _keep_refresh_tokens SET used_at = ?, replaced_by = ? WHERE hash = ? AND used_at IS NULL`,
			s.timeArg(now), nextHash, hash)
		if err != nil {
			return err
		}
		if n == 0 {
			var usedCol any
			if err := q.QueryRow(ctx, `SELECT used_at FROM _keep_refresh_tokens WHERE hash = ?`, hash).Scan(&usedCol); err != nil {
				return err
			}
			used, err := sessionTime(usedCol)
			if err != nil {
				return fmt.Errorf("refresh token used_at: %w", err)
			}
			if now.Sub(used) < s.cfg.RefreshGrace {
				result = raced
				return nil
			}
			result = reused
			if _, err = q.Exec(ctx, `UPDATE _keep_sessions SET revoked_at = ?, revoke_reason = ? WHERE id = ? AND revoked_at IS NULL`,
				s.timeArg(now), reasonRefreshReuse, sid); err != nil {
				return err
			}
			// Someone holds a refresh token that was already used: a
			// stolen copy, or the client after it. The session ends.
			return s.audit.Append(ctx, q, audit.Event{Action: actRefreshReuse, Outcome: audit.Denied,
				Target: "session:" + sid, Details: map[string]any{"user": userID, "session_revoked": true}})
		}
		result = rotated
		if _, err := q.Exec(ctx, `INSERT INTO _keep_refresh_tokens (hash, session_id, created) VALUES (?, ?, ?)`,
			nextHash, sid, s.timeArg(now)); err != nil {
			return err
		}
		_, err = q.Exec(ctx, `UPDATE _keep_sessions SET last_used = ?, ip = ?, user_agent = ? WHERE id = ?`,
			s.timeArg(now), client.IP, client.UserAgent, sid)
		return err
	})
	switch {
	case errors.Is(err, ErrUnauthenticated):
		return LoginResult{}, ErrUnauthenticated
	case err != nil:
		return LoginResult{}, fmt.Errorf("refresh: %w", err)
	case result == raced:
		return LoginResult{}, ErrRefreshRace
	case result == reused:
		s.log.WarnContext(ctx, "refresh token reuse: session revoked", "session", sid, "user", userID, "ip", client.IP)
		return LoginResult{}, ErrUnauthenticated
	}
	return s.sessionResult(ctx, userID, sid, next)
}

// endSessions revokes the live sessions matching where (a condition on
// _keep_sessions with args) and reports how many it ended.
func (s *Service) endSessions(ctx context.Context, q store.Querier, reason, where string, args ...any) (int64, error) {
	now := s.clock()
	all := append([]any{s.timeArg(now), reason}, args...)
	all = append(all, s.liveArgs(now)...)
	return q.Exec(ctx, `UPDATE _keep_sessions SET revoked_at = ?, revoke_reason = ? WHERE `+where+` AND `+liveSessionSQL, all...)
}

// sessionOnly refuses callers that are not signed in with a session (API
// keys): they have no current session to end.
func sessionOnly(c records.Caller, what string) error {
	if c.Anonymous() {
		return records.ErrUnauthorized
	}
	if c.Session == "" {
		return &records.PublicError{Kind: records.ErrBadRequest,
			Msg: what + " needs a session; this credential is an API key (revoke it with DELETE /api/keys/{id})"}
	}
	return nil
}

// Logout ends the caller's current session. Ending a session that has
// already ended is not an error.
func (s *Service) Logout(ctx context.Context, c records.Caller) error {
	if err := sessionOnly(c, "logout"); err != nil {
		return err
	}
	return s.db.Tx(ctx, func(q store.Querier) error {
		if _, err := s.endSessions(ctx, q, reasonLogout, `id = ? AND user_id = ?`, c.Session, c.Auth.ID); err != nil {
			return err
		}
		return s.audit.Append(ctx, q, audit.Event{Action: actLogout, Actor: actorOf(c), Target: "session:" + c.Session})
	})
}

// Sessions lists the caller's live sessions, newest first.
func (s *Service) Sessions(ctx context.Context, c records.Caller) ([]SessionInfo, error) {
	if c.Anonymous() {
		return nil, records.ErrUnauthorized
	}
	args := append([]any{c.Auth.ID}, s.liveArgs(s.clock())...)
	rows, err := s.db.Query(ctx, `SELECT id, created, last_used, ip, user_agent FROM _keep_sessions
WHERE user_id = ? AND `+liveSessionSQL+` ORDER BY id DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	list := []SessionInfo{}
	for rows.Next() {
		var (
			si                SessionInfo
			created, lastUsed any
		)
		if err := rows.Scan(&si.ID, &created, &lastUsed, &si.IP, &si.UserAgent); err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		if si.Created, err = sessionTime(created); err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		if si.LastUsed, err = sessionTime(lastUsed); err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		si.Current = si.ID == c.Session
		list = append(list, si)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return list, nil
}

// DeleteSession ends one of the caller's live sessions; any other id,
// another user's session included, is records.ErrNotFound.
func (s *Service) DeleteSession(ctx context.Context, c records.Caller, id string) error {
	if c.Anonymous() {
		return records.ErrUnauthorized
	}
	if !ids.Valid(id) { // garbage (NUL, invalid UTF-8) never reaches the engine
		return records.ErrNotFound
	}
	return s.db.Tx(ctx, func(q store.Querier) error {
		n, err := s.endSessions(ctx, q, reasonDeleted, `id = ? AND user_id = ?`, id, c.Auth.ID)
		if err == nil && n == 0 {
			err = records.ErrNotFound
		}
		if err != nil {
			return err
		}
		return s.audit.Append(ctx, q, audit.Event{Action: actSessionRevoke, Actor: actorOf(c), Target: "session:" + id})
	})
}

// RevokeOtherSessions ends every session of the caller but the current one.
func (s *Service) RevokeOtherSessions(ctx context.Context, c records.Caller) error {
	if err := sessionOnly(c, "revoking the other sessions"); err != nil {
		return err
	}
	return s.db.Tx(ctx, func(q store.Querier) error {
		n, err := s.endSessions(ctx, q, reasonOthers, `user_id = ? AND id <> ?`, c.Auth.ID, c.Session)
		if err != nil {
			return err
		}
		return s.audit.Append(ctx, q, audit.Event{Action: actSessionRevoke, Actor: actorOf(c), Target: userTarget(c.Auth.ID),
			Details: map[string]any{"scope": "others", "sessions_ended": n}})
	})
}

// ErrWrongPassword answers a password change whose current password is
// wrong. It is a 403, not a 401: the access token is fine.
var ErrWrongPassword = &records.PublicError{Kind: records.ErrForbidden, Msg: "current password is wrong"}

// ChangePassword checks the current password, sets the new one and ends the
// caller's other sessions (all of them for an API-key caller) in the same
// transaction. Wrong current passwords count towards the login lockout of
// the account's email, so a stolen access token cannot be used to guess the
// password at leisure.
func (s *Service) ChangePassword(ctx context.Context, c records.Caller, current, next string) error {
	if c.Anonymous() {
		return records.ErrUnauthorized
	}
	ctx, cancel := context.WithTimeout(ctx, HashWait)
	defer cancel()
	var oldHash, email string
	err := s.db.QueryRow(ctx, `SELECT password_hash, email FROM c_users WHERE id = ?`, c.Auth.ID).Scan(&oldHash, &email)
	if errors.Is(err, store.ErrNotFound) {
		return ErrUnauthenticated
	}
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	ident := loginLockID(NormaliseEmail(email))
	ev := audit.Event{Action: actPasswordChange, Actor: actorOf(c), Target: userTarget(c.Auth.ID)}
	if err := s.loginAllowed(ctx, ident, ev); err != nil {
		return err
	}
	ok, _, err := s.hasher.Verify(ctx, oldHash, current)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if !ok {
		if err := s.loginFailed(ctx, ident, with(ev, "reason", "wrong_password")); err != nil {
			return err
		}
		return ErrWrongPassword
	}
	if err := s.loginSucceeded(ctx, ident, ev); err != nil {
		return err
	}
	if err := s.validateNewPassword("new_password", next, email); err != nil {
		return err
	}
	newHash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	return s.db.Tx(ctx, func(q store.Querier) error {
		// Compare and swap: of two concurrent changes checked against the
		// same old password, only the first lands.
		n, err := q.Exec(ctx, `UPDATE c_users SET password_hash = ? WHERE id = ? AND password_hash = ?`, newHash, c.Auth.ID, oldHash)
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrWrongPassword
		}
		ended, err := s.endSessions(ctx, q, reasonPassword, `user_id = ? AND id <> ?`, c.Auth.ID, c.Session)
		if err != nil {
			return err
		}
		if err := dropChallenges(ctx, q, c.Auth.ID); err != nil {
			return err
		}
		return s.audit.Append(ctx, q, with(ev, "sessions_ended", ended))
	})
}

// dropChallenges voids pending MFA challenges of userID: a login that passed
// the old password must not finish after the password changed.
func dropChallenges(ctx context.Context, q store.Querier, userID string) error {
	_, err := q.Exec(ctx, `DELETE FROM _keep_tokens WHERE user_id = ? AND kind IN ('mfa', 'mfa_fail')`, userID)
	return err
}

// EndUserSessions ends every live session of userID inside transaction q;
// the access tokens of those sessions stop working at their next request.
// A superuser disabling a user and a password reset use it.
func (s *Service) EndUserSessions(ctx context.Context, q store.Querier, userID, reason string) error {
	_, err := s.endSessions(ctx, q, reason, `user_id = ?`, userID)
	return err
}
