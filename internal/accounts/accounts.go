package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/keep-dev/keep/internal/access"
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
)

// Service is safe for concurrent use.
type Service struct {
	db      store.DB
	records *records.Service
	hasher  *auth.Hasher
	tokens  *auth.Tokens
	log     *slog.Logger
}

// New returns the accounts service. tokens may be nil for commands that only
// manage users (such as `keep superuser create`).
func New(db store.DB, rec *records.Service, hasher *auth.Hasher, tokens *auth.Tokens, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{db: db, records: rec, hasher: hasher, tokens: tokens, log: log}
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

// Token is the answer to a successful login.
type Token struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
}

// Login checks email and password and issues an access token. An unknown
// email costs one dummy hash so that it takes as long as a wrong password.
func (s *Service) Login(ctx context.Context, email, password string) (Token, error) {
	ctx, cancel := context.WithTimeout(ctx, HashWait)
	defer cancel()
	if s.tokens == nil {
		return Token{}, errors.New("accounts: no token issuer configured")
	}
	// No stored email is longer or holds a NUL (which PostgreSQL refuses to
	// compare): answer as for an unknown account, in the same time.
	if len(email) > 254 || len(password) > auth.MaxPasswordLen*4 || strings.IndexByte(email, 0) >= 0 {
		_ = s.hasher.Equalize(ctx)
		return Token{}, ErrInvalidCredentials
	}
	var id, hash string
	err := s.db.QueryRow(ctx, `SELECT id, password_hash FROM c_users WHERE email = ?`, strings.ToLower(email)).Scan(&id, &hash)
	if errors.Is(err, store.ErrNotFound) {
		if err := s.hasher.Equalize(ctx); err != nil {
			return Token{}, err
		}
		return Token{}, ErrInvalidCredentials
	}
	if err != nil {
		return Token{}, fmt.Errorf("login: %w", err)
	}
	ok, rehash, err := s.hasher.Verify(ctx, hash, password)
	if err != nil {
		return Token{}, fmt.Errorf("login: %w", err)
	}
	if !ok {
		return Token{}, ErrInvalidCredentials
	}
	if rehash {
		s.upgradeHash(ctx, id, password)
	}
	tok, exp, err := s.tokens.Issue(id)
	if err != nil {
		return Token{}, fmt.Errorf("login: %w", err)
	}
	return Token{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int(time.Until(exp).Round(time.Second) / time.Second)}, nil
}

// upgradeHash re-hashes a password whose stored parameters are weaker than
// the current ones. A failure is logged, never fatal to the login.
func (s *Service) upgradeHash(ctx context.Context, id, password string) {
	h, err := s.hasher.Hash(ctx, password)
	if err == nil {
		err = s.db.Tx(ctx, func(q store.Querier) error {
			_, err := q.Exec(ctx, `UPDATE c_users SET password_hash = ? WHERE id = ?`, h, id)
			return err
		})
	}
	if err != nil {
		s.log.Warn("password hash upgrade failed", "user", id, "err", err)
	}
}

// Authenticate verifies a bearer token and loads the caller's current email,
// roles and custom user fields.
func (s *Service) Authenticate(ctx context.Context, token string) (records.Caller, error) {
	if s.tokens == nil {
		return records.Caller{}, ErrUnauthenticated
	}
	claims, err := s.tokens.Verify(token)
	if err != nil {
		return records.Caller{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	return s.caller(ctx, claims.Subject)
}

func (s *Service) caller(ctx context.Context, userID string) (records.Caller, error) {
	user, err := s.records.User(ctx, userID)
	if errors.Is(err, records.ErrNotFound) {
		return records.Caller{}, ErrUnauthenticated
	}
	if err != nil {
		return records.Caller{}, err
	}
	roles, err := s.roles(ctx, userID)
	if err != nil {
		return records.Caller{}, err
	}
	c := records.Caller{Auth: access.Auth{ID: userID, Roles: roles, Fields: map[string]any{}}}
	c.Auth.Email, _ = user["email"].(string)
	for k, v := range user {
		c.Auth.Fields[k] = v
	}
	for _, r := range roles {
		if r == SuperuserRole {
			c.Superuser = true
		}
	}
	return c, nil
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
	return s.records.User(ctx, c.Auth.ID)
}

// CreateSuperuser creates a new user holding the superuser role. An email
// that is taken answers records.ErrConflict.
func (s *Service) CreateSuperuser(ctx context.Context, email, password string) (records.Record, error) {
	body := records.Body{"email": jsonString(email), "password": jsonString(password)}
	rec, err := s.records.Signup(ctx, body)
	if err != nil {
		return nil, err
	}
	err = s.db.Tx(ctx, func(q store.Querier) error {
		_, err := q.Exec(ctx, `INSERT INTO _keep_user_roles (user_id, role, created) VALUES (?, ?, ?)`,
			rec.ID(), SuperuserRole, records.TimeArg(s.db.Dialect(), time.Now()))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("grant superuser: %w", err)
	}
	return rec, nil
}
