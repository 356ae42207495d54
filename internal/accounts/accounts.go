package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/keep-dev/keep/internal/access"
	"github.com/keep-dev/keep/internal/audit"
	"github.com/keep-dev/keep/internal/auth"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
)

// SuperuserRole is the role that bypasses every rule.
const SuperuserRole = "superuser"

// Sentinel errors.
var (
	// ErrInvalidCredentials is the one answer to a wrong email or password.
	ErrInvalidCredentials = errors.New("invalid email or password")
	// ErrUnauthenticated means a bearer token was presented but is not valid
	// or its user no longer exists.
	ErrUnauthenticated = errors.New("invalid or expired token")
	// ErrNotImplemented answers a feature this server was built without
	// (signing-key rotation in a process that issues no tokens).
	ErrNotImplemented = errors.New("not implemented by this server")
)

// Config holds the identity settings; zero values take the defaults noted.
type Config struct {
	SessionIdle      time.Duration // inactivity timeout of a session; default 7 days
	SessionLifetime  time.Duration // absolute lifetime of a session; default 30 days
	RefreshGrace     time.Duration // concurrent-refresh grace window; default 10 s, at most 10 s
	LoginMaxFailures int           // failures per identifier before a lock; default 10
	LoginWindow      time.Duration // window the failures are counted in; default 15 min
	LockMax          time.Duration // longest lock, the delay doubling up to it; default 15 min
	VerifyTTL        time.Duration // email verification token lifetime; default 24 h
	ResetTTL         time.Duration // password reset token lifetime; default 30 min, at most 30 min
	MFATTL           time.Duration // MFA challenge lifetime; default 5 min
	PublicURL        string        // base of links in mails
	MinPassword      int           // minimum password length; default auth.DefaultMinPasswordLen
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.SessionIdle, 7*24*time.Hour)
	def(&c.SessionLifetime, 30*24*time.Hour)
	def(&c.RefreshGrace, 10*time.Second)
	c.RefreshGrace = min(c.RefreshGrace, 10*time.Second)
	def(&c.LoginWindow, 15*time.Minute)
	def(&c.LockMax, 15*time.Minute)
	def(&c.VerifyTTL, 24*time.Hour)
	def(&c.ResetTTL, 30*time.Minute)
	c.ResetTTL = min(c.ResetTTL, 30*time.Minute)
	def(&c.MFATTL, 5*time.Minute)
	if c.LoginMaxFailures <= 0 {
		c.LoginMaxFailures = 10
	}
	if c.MinPassword <= 0 {
		c.MinPassword = auth.DefaultMinPasswordLen
	}
	return c
}

// Mailer queues a message for delivery; package mail's outbox implements it
// in the same transaction as the change that sends it.
type Mailer interface {
	Enqueue(ctx context.Context, q store.Querier, to, subject, body string) error
}

// SecretBox seals small secrets (TOTP seeds) at rest. The keyring of a
// later issue replaces the data-dir key behind it.
type SecretBox interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// Deps are what the service is built from. Tokens may be nil for commands
// that only manage users (such as `keep superuser create`); Mailer and Box
// may be nil where no mail or MFA is needed.
type Deps struct {
	DB      store.DB
	Records *records.Service
	Hasher  *auth.Hasher
	Tokens  *auth.Tokens
	Mailer  Mailer
	Box     SecretBox
	Audit   *audit.Log // nil records nothing
	Config  Config
	Logger  *slog.Logger
	Now     func() time.Time // the clock; nil means time.Now
}

// Service is safe for concurrent use.
type Service struct {
	db      store.DB
	records *records.Service
	hasher  *auth.Hasher
	tokens  *auth.Tokens
	mailer  Mailer
	box     SecretBox
	audit   *audit.Log
	cfg     Config
	log     *slog.Logger
	now     func() time.Time

	// userQuery and sessionQuery load callers (see loadCaller).
	userQuery, sessionQuery *records.UserQuery
	// callers keeps what Authenticate loaded, where the engine allows.
	callers *callerCache

	background chan struct{} // slots for work after the response
	pending    sync.WaitGroup
}

// maxBackground bounds the email requests finishing after their response.
const maxBackground = 16

// New returns the accounts service.
func New(d Deps) *Service {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Service{db: d.DB, records: d.Records, hasher: d.Hasher, tokens: d.Tokens, mailer: d.Mailer,
		box: d.Box, audit: d.Audit, cfg: d.Config.withDefaults(), log: d.Logger, now: d.Now,
		background: make(chan struct{}, maxBackground)}
	if d.DB != nil {
		s.userQuery, s.sessionQuery = callerQueries(d.DB.Dialect())
		s.callers = newCallerCache(d.DB)
	}
	return s
}

// Policy adapts a Hasher and a minimum length to records.PasswordHasher.
type Policy struct {
	Hasher    *auth.Hasher
	MinLength int
}

// Hash hashes a password with Argon2id.
func (p Policy) Hash(ctx context.Context, pw string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, HashWait)
	defer cancel()
	return p.Hasher.Hash(ctx, pw)
}

// HashWait bounds how long a request waits for a free password hashing slot
// (plus the hash itself). Past it the request fails with
// context.DeadlineExceeded, which the API answers with 503: a login flood
// then sheds load instead of queueing without end.
const HashWait = 10 * time.Second

// Validate applies the password policy.
func (p Policy) Validate(pw string) error { return auth.ValidatePassword(pw, p.MinLength) }

// caller loads userID as a caller: its record and roles, fresh.
func (s *Service) caller(ctx context.Context, userID string) (records.Caller, error) {
	return s.loadCaller(ctx, userID, s.userQuery)
}

// loadCaller is caller in one query, q, whose row may have to meet a
// condition too (args are the arguments of that condition). A user that is
// missing, disabled or fails the condition is ErrUnauthenticated.
func (s *Service) loadCaller(ctx context.Context, userID string, q *records.UserQuery, args ...any) (records.Caller, error) {
	var roles any
	user, err := s.records.UserWith(ctx, userID, q, []any{&roles}, args...)
	if errors.Is(err, records.ErrNotFound) {
		return records.Caller{}, ErrUnauthenticated
	}
	if err != nil {
		return records.Caller{}, err
	}
	if user["disabled"] == true {
		return records.Caller{}, ErrUnauthenticated
	}
	list, err := decodeRoles(roles)
	if err != nil {
		return records.Caller{}, err
	}
	c := records.Caller{Auth: access.Auth{ID: userID, Roles: list, Fields: make(map[string]any, len(user))}}
	c.Auth.Email, _ = user["email"].(string)
	for k, v := range user {
		c.Auth.Fields[k] = v
	}
	for _, r := range list {
		if r == SuperuserRole {
			c.Superuser = true
		}
	}
	return c, nil
}

// callerQueries are the queries of loadCaller: a user, and a user with a
// live session of its own (liveSessionOfUser).
func callerQueries(d store.Dialect) (user, session *records.UserQuery) {
	roles := rolesSQL(d)
	return &records.UserQuery{Select: []string{roles}},
		&records.UserQuery{Select: []string{roles}, Where: liveSessionOfUser}
}

// rolesSQL selects the roles of user u as a JSON array (or NULL for none on
// PostgreSQL), in the order of s.roles: the aggregate's ORDER BY uses the
// column's collation, as that query's does. JSON, not a separator, because
// nothing in the table stops a role name from holding one.
func rolesSQL(d store.Dialect) string {
	if d == store.Postgres {
		return `(SELECT json_agg(role ORDER BY role)::text FROM _keep_user_roles WHERE user_id = u.id)`
	}
	return `(SELECT json_group_array(role ORDER BY role) FROM _keep_user_roles WHERE user_id = u.id)`
}

// decodeRoles reads the column of rolesSQL.
func decodeRoles(v any) ([]string, error) {
	var raw string
	switch v := v.(type) {
	case nil:
		return []string{}, nil
	case string:
		raw = v
	case []byte:
		raw = string(v)
	default:
		return nil, fmt.Errorf("load roles: unexpected %T", v)
	}
	if roles, ok := plainRoles(raw); ok {
		return roles, nil
	}
	roles := []string{}
	if err := json.Unmarshal([]byte(raw), &roles); err != nil {
		return nil, fmt.Errorf("load roles: %w", err)
	}
	return roles, nil
}

// plainRoles decodes a JSON array of strings without escapes, the common
// case, cheaper than encoding/json on every request. Without a backslash
// every quote delimits a string, so the strings are what lies between the
// 1st and 2nd quote, the 3rd and 4th, and so on. Anything else (escapes,
// or not an array of strings alone) is left to encoding/json.
func plainRoles(raw string) ([]string, bool) {
	if len(raw) < 2 || raw[0] != '[' || raw[len(raw)-1] != ']' || strings.IndexByte(raw, '\\') >= 0 {
		return nil, false
	}
	roles := make([]string, 0, strings.Count(raw, `"`)/2)
	rest := raw[1 : len(raw)-1]
	for {
		rest = strings.TrimLeft(rest, " ")
		if rest == "" {
			return roles, true
		}
		if len(roles) > 0 {
			if rest[0] != ',' {
				return nil, false
			}
			rest = strings.TrimLeft(rest[1:], " ")
		}
		if rest == "" || rest[0] != '"' {
			return nil, false
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return nil, false
		}
		role := rest[1 : 1+end]
		if strings.ContainsFunc(role, func(r rune) bool { return r < 0x20 }) {
			return nil, false // encoding/json refuses raw control characters
		}
		roles = append(roles, role)
		rest = rest[2+end:]
	}
}

func (s *Service) roles(ctx context.Context, userID string) ([]string, error) {
	rows, err := s.db.Query(ctx, `SELECT role FROM _keep_user_roles WHERE user_id = ? ORDER BY role`, userID)
	if err != nil {
		return nil, fmt.Errorf("load roles: %w", err)
	}
	defer rows.Close()
	roles := []string{}
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		roles = append(roles, r)
	}
	return roles, rows.Err()
}

// Me returns the caller's own user record.
func (s *Service) Me(ctx context.Context, c records.Caller) (records.Record, error) {
	return s.records.Profile(ctx, c)
}

// CreateSuperuser creates a new user holding the superuser role. An email
// that is taken answers records.ErrConflict.
func (s *Service) CreateSuperuser(ctx context.Context, email, password string) (records.Record, error) {
	body := records.Body{"email": jsonString(email), "password": jsonString(password)}
	// One transaction: the user, the grant and both audit entries.
	return s.records.SignupThen(ctx, body, func(q store.Querier, id string) error {
		if _, err := q.Exec(ctx, `INSERT INTO _keep_user_roles (user_id, role, created) VALUES (?, ?, ?)`,
			id, SuperuserRole, records.TimeArg(s.db.Dialect(), time.Now())); err != nil {
			return fmt.Errorf("grant superuser: %w", err)
		}
		return s.audit.Append(ctx, q, audit.Event{Action: actGrantSuperuser, Target: userTarget(id),
			Details: map[string]any{"role": SuperuserRole, "changed": true}})
	})
}

// validateNewPassword applies the password policy to a new password of the
// account with email; problems come back keyed by field.
func (s *Service) validateNewPassword(field, pw, email string) error {
	msg := ""
	if err := auth.ValidatePassword(pw, s.cfg.MinPassword); err != nil {
		msg = err.Error()
	} else if email != "" && strings.EqualFold(pw, email) {
		msg = "must not be the email address"
	}
	if msg == "" {
		return nil
	}
	return &records.ValidationError{Fields: map[string]string{field: msg}}
}

// CallerFor is the caller a user's requests would have: fresh email, roles
// and fields, as with a token. Access explanations use it.
func (s *Service) CallerFor(ctx context.Context, userID string) (records.Caller, error) {
	c, err := s.caller(ctx, userID)
	if errors.Is(err, ErrUnauthenticated) {
		return records.Caller{}, &records.PublicError{Kind: records.ErrNotFound, Msg: "user not found or disabled"}
	}
	return c, err
}
