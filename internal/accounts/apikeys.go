package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/keep-dev/keep/internal/audit"
	"github.com/keep-dev/keep/internal/ids"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
)

// API keys are long-lived bearer credentials for server-to-server use. A key
// acts as the user it was made for, optionally narrowed to some of that
// user's roles.
//
// A key is APIKeyPrefix followed by the unpadded base64url encoding of
// apiKeyBytes random bytes from crypto/rand. It is shown once, in the answer
// to its creation; the database holds only the hex SHA-256 of the whole key.
// A fast hash is right here, unlike for passwords: the key carries 256 bits
// of entropy, so there is nothing to brute-force, and a slow hash would cost
// every request that uses a key. Lookup is by that hash (a unique index), so
// no secret is ever compared byte by byte: what an attacker could time is the
// index search for the hash of a guess, which tells nothing about any real
// key's bytes, since SHA-256 cannot be inverted.
//
// A key cannot create keys: otherwise revoking a leaked key would not end
// the access it gave. Listing and revoking keys with a key is allowed, so a
// leaked key can revoke itself; neither extends anyone's access.

// APIKeyPrefix starts every API key, so a leaked one is recognisable (and
// secret scanners can be taught to find it).
const APIKeyPrefix = "keep_"

const (
	// MaxAPIKeyLifetime is how far in the future a key may expire. Every key
	// expires: a forgotten key stops working within a year.
	MaxAPIKeyLifetime = 365 * 24 * time.Hour
	// MaxAPIKeyName is the longest key name, in characters.
	MaxAPIKeyName = 100
	// MaxAPIKeysPerUser bounds the live (unrevoked, unexpired) keys of one
	// user, which also bounds the list of keys. On PostgreSQL two concurrent
	// creations may both pass the count, so it can be exceeded by a few.
	MaxAPIKeysPerUser = 100

	// apiKeyBytes is the entropy of a key: 256 bits.
	apiKeyBytes = 32
	// apiKeyTouchInterval is how stale last_used may get: it is written at
	// most once a minute per key, so a busy key does not cost a write on
	// every request (on SQLite, writes go through one connection).
	apiKeyTouchInterval = time.Minute
)

// apiKeyLen is the length of every key Keep makes; anything else is refused
// before the database is asked.
var apiKeyLen = len(APIKeyPrefix) + base64.RawURLEncoding.EncodedLen(apiKeyBytes)

// APIKeyInput is the body of a key creation. ExpiresAt is required, in the
// future and at most MaxAPIKeyLifetime away. Roles, when not nil, narrows the
// key to those roles, each of which the user must hold (an empty list makes a
// key without any role); nil means the user's roles, whatever they are when
// the key is used. UserID names the user the key acts as; only a superuser
// may name another user than itself.
type APIKeyInput struct {
	Name      string    `json:"name"`
	ExpiresAt time.Time `json:"expires_at"`
	Roles     []string  `json:"roles,omitempty"`
	UserID    string    `json:"user_id,omitempty"`
}

// APIKeyCreated is shown once: the only time the key exists in clear.
type APIKeyCreated struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

// APIKeyInfo describes a key without its secret. Roles is null for a key
// that is not narrowed (it has the user's roles).
type APIKeyInfo struct {
	ID        string     `json:"id"`
	UserID    string     `json:"user_id"`
	Name      string     `json:"name"`
	Roles     []string   `json:"roles"`
	Created   time.Time  `json:"created"`
	ExpiresAt time.Time  `json:"expires_at"`
	LastUsed  *time.Time `json:"last_used"`
}

// errKeyCannotCreateKeys is the 403 of a key creation made with a key.
var errKeyCannotCreateKeys = &records.PublicError{Kind: records.ErrForbidden, Msg: "an API key cannot create API keys"}

// errAPIKeyNotFound answers for a key that does not exist, is revoked, or
// belongs to someone else, alike.
var errAPIKeyNotFound = &records.PublicError{Kind: records.ErrNotFound, Msg: "API key not found"}

// CreateAPIKey makes a key acting as the caller (or, for a superuser, as
// in.UserID). Problems with the input are a *records.ValidationError keyed
// "name", "expires_at", "roles" or "user_id".
func (s *Service) CreateAPIKey(ctx context.Context, c records.Caller, in APIKeyInput) (APIKeyCreated, error) {
	switch {
	case c.APIKey != "":
		return APIKeyCreated{}, errKeyCannotCreateKeys
	case c.Anonymous():
		return APIKeyCreated{}, records.ErrUnauthorized
	}
	target := in.UserID
	if target == "" {
		target = c.Auth.ID
	}
	if target != c.Auth.ID && !c.Superuser {
		return APIKeyCreated{}, &records.PublicError{Kind: records.ErrForbidden, Msg: "only a superuser may create a key for another user"}
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	verr := map[string]string{}

	name := strings.TrimSpace(in.Name)
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		verr["name"] = "is required"
	case n > MaxAPIKeyName:
		verr["name"] = fmt.Sprintf("must be at most %d characters", MaxAPIKeyName)
	case strings.ContainsFunc(name, unicode.IsControl):
		verr["name"] = "must not contain control characters"
	}

	expires := in.ExpiresAt.UTC().Truncate(time.Millisecond)
	switch {
	case in.ExpiresAt.IsZero():
		verr["expires_at"] = "is required"
	case !expires.After(now):
		verr["expires_at"] = "must be in the future"
	case expires.Sub(now) > MaxAPIKeyLifetime:
		verr["expires_at"] = "must be at most 365 days away"
	}

	var userRoles []string
	if !apiKeyPlausibleID(target) {
		verr["user_id"] = "no such user"
	} else if user, err := s.records.User(ctx, target); errors.Is(err, records.ErrNotFound) {
		verr["user_id"] = "no such user"
	} else if err != nil {
		return APIKeyCreated{}, err
	} else if user["disabled"] == true {
		verr["user_id"] = "the user is disabled"
	} else if userRoles, err = s.roles(ctx, target); err != nil {
		return APIKeyCreated{}, err
	}

	var rolesArg any // NULL: not narrowed
	if in.Roles != nil {
		roles := slices.Clone(in.Roles)
		slices.Sort(roles)
		roles = slices.Compact(roles)
		if _, bad := verr["user_id"]; !bad {
			for _, r := range roles {
				if !slices.Contains(userRoles, r) {
					verr["roles"] = fmt.Sprintf("the user does not hold the role %q", apiKeyTruncate(r, 64))
					break
				}
			}
		}
		b, err := json.Marshal(roles)
		if err != nil {
			return APIKeyCreated{}, err
		}
		rolesArg = string(b)
	}
	if len(verr) > 0 {
		return APIKeyCreated{}, &records.ValidationError{Fields: verr}
	}

	key, hash, err := newAPIKey()
	if err != nil {
		return APIKeyCreated{}, err
	}
	id := ids.New()
	d := s.db.Dialect()
	err = s.db.Tx(ctx, func(q store.Querier) error {
		var live int64
		err := q.QueryRow(ctx, `SELECT COUNT(*) FROM _keep_api_keys WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?`,
			target, records.TimeArg(d, now)).Scan(&live)
		if err != nil {
			return err
		}
		if live >= MaxAPIKeysPerUser {
			return &records.PublicError{Kind: records.ErrConflict,
				Msg: fmt.Sprintf("the user already has %d live API keys; revoke one first", MaxAPIKeysPerUser)}
		}
		_, err = q.Exec(ctx, `INSERT INTO _keep_api_keys (id, user_id, name, hash, roles, created, created_by, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			id, target, name, hash, rolesArg, records.TimeArg(d, now), c.Auth.ID, records.TimeArg(d, expires))
		if err != nil {
			return err
		}
		return s.audit.Append(ctx, q, audit.Event{Action: actAPIKeyCreate, Actor: actorOf(c), Target: "apikey:" + id,
			Details: map[string]any{"user": target, "name": name, "roles": in.Roles, "expires_at": expires.UTC().Format(time.RFC3339)}})
	})
	if err != nil {
		var pe *records.PublicError
		if errors.As(err, &pe) {
			return APIKeyCreated{}, err
		}
		return APIKeyCreated{}, fmt.Errorf("create api key: %w", err)
	}
	s.log.InfoContext(ctx, "api key created", "key_id", id, "user", target, "created_by", c.Auth.ID)
	return APIKeyCreated{ID: id, Key: key}, nil
}

// APIKeys lists the caller's live keys (every user's for a superuser),
// oldest first. Revoked and expired keys are left out.
func (s *Service) APIKeys(ctx context.Context, c records.Caller) ([]APIKeyInfo, error) {
	if c.Anonymous() {
		return nil, records.ErrUnauthorized
	}
	query := `SELECT id, user_id, name, roles, created, expires_at, last_used FROM _keep_api_keys
		WHERE revoked_at IS NULL AND expires_at > ?`
	args := []any{records.TimeArg(s.db.Dialect(), s.now())}
	if !c.Superuser {
		query += ` AND user_id = ?`
		args = append(args, c.Auth.ID)
	}
	rows, err := s.db.Query(ctx, query+` ORDER BY created, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	defer rows.Close()
	keys := []APIKeyInfo{}
	for rows.Next() {
		var (
			k                             APIKeyInfo
			roles, created, exp, lastUsed any
		)
		if err := rows.Scan(&k.ID, &k.UserID, &k.Name, &roles, &created, &exp, &lastUsed); err != nil {
			return nil, fmt.Errorf("list api keys: %w", err)
		}
		if k.Roles, err = apiKeyRoles(roles); err != nil {
			return nil, err
		}
		if k.Created, err = apiKeyTime(created); err != nil {
			return nil, err
		}
		if k.ExpiresAt, err = apiKeyTime(exp); err != nil {
			return nil, err
		}
		if lastUsed != nil {
			t, err := apiKeyTime(lastUsed)
			if err != nil {
				return nil, err
			}
			k.LastUsed = &t
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return keys, nil
}

// RevokeAPIKey revokes a key of the caller's (any key for a superuser). A
// key that does not exist, is already revoked or is someone else's answers
// records.ErrNotFound, so ids of others' keys cannot be probed. The key stops
// working at once: every use looks it up.
func (s *Service) RevokeAPIKey(ctx context.Context, c records.Caller, id string) error {
	if c.Anonymous() {
		return records.ErrUnauthorized
	}
	if !apiKeyPlausibleID(id) {
		return errAPIKeyNotFound
	}
	query := `UPDATE _keep_api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`
	args := []any{records.TimeArg(s.db.Dialect(), s.now()), id}
	if !c.Superuser {
		query += ` AND user_id = ?`
		args = append(args, c.Auth.ID)
	}
	var n int64
	err := s.db.Tx(ctx, func(q store.Querier) error {
		var err error
		if n, err = q.Exec(ctx, query, args...); err != nil || n == 0 {
			return err
		}
		return s.audit.Append(ctx, q, audit.Event{Action: actAPIKeyRevoke, Actor: actorOf(c), Target: "apikey:" + id})
	})
	if err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	if n == 0 {
		return errAPIKeyNotFound
	}
	s.log.InfoContext(ctx, "api key revoked", "key_id", id, "by", c.Auth.ID)
	return nil
}

// authenticateKey turns an API key into its caller: the key's user with
// fresh roles, narrowed to the key's roles when it has some (a role the user
// has lost since is not given back by the key). Superuser holds only if the
// superuser role survives the narrowing. Every failure is ErrUnauthenticated,
// and no error or log line carries the key.
func (s *Service) authenticateKey(ctx context.Context, key string) (records.Caller, error) {
	if len(key) != apiKeyLen || !strings.HasPrefix(key, APIKeyPrefix) {
		return records.Caller{}, fmt.Errorf("%w: malformed api key", ErrUnauthenticated)
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(key[len(APIKeyPrefix):]); err != nil {
		return records.Caller{}, fmt.Errorf("%w: malformed api key", ErrUnauthenticated)
	}
	var (
		id, userID                string
		roles, exp, used, revoked any
	)
	err := s.db.QueryRow(ctx, `SELECT id, user_id, roles, expires_at, last_used, revoked_at FROM _keep_api_keys WHERE hash = ?`,
		hashAPIKey(key)).Scan(&id, &userID, &roles, &exp, &used, &revoked)
	if errors.Is(err, store.ErrNotFound) {
		return records.Caller{}, fmt.Errorf("%w: unknown api key", ErrUnauthenticated)
	}
	if err != nil {
		return records.Caller{}, fmt.Errorf("api key: %w", err)
	}
	now := s.now().UTC()
	expires, err := apiKeyTime(exp)
	if err != nil {
		return records.Caller{}, err
	}
	switch {
	case revoked != nil:
		return records.Caller{}, fmt.Errorf("%w: api key %s is revoked", ErrUnauthenticated, id)
	case !now.Before(expires):
		return records.Caller{}, fmt.Errorf("%w: api key %s has expired", ErrUnauthenticated, id)
	}
	narrow, err := apiKeyRoles(roles)
	if err != nil {
		return records.Caller{}, err
	}
	c, err := s.caller(ctx, userID) // ErrUnauthenticated for a missing or disabled user
	if err != nil {
		return records.Caller{}, err
	}
	if narrow != nil {
		kept := []string{}
		for _, r := range c.Auth.Roles {
			if slices.Contains(narrow, r) {
				kept = append(kept, r)
			}
		}
		c.Auth.Roles = kept
		c.Superuser = slices.Contains(kept, SuperuserRole)
	}
	c.APIKey = id
	c.Session = ""
	s.touchAPIKey(ctx, id, used, now)
	return c, nil
}

// touchAPIKey records that key id was used at now, unless it was recorded
// less than apiKeyTouchInterval ago. A failure is logged, never fatal: the
// key is valid whether or not its use was recorded.
func (s *Service) touchAPIKey(ctx context.Context, id string, lastUsed any, now time.Time) {
	if lastUsed != nil {
		if t, err := apiKeyTime(lastUsed); err == nil && now.Sub(t) < apiKeyTouchInterval {
			return
		}
	}
	d := s.db.Dialect()
	// The condition repeats the check so that concurrent requests with the
	// same key write once.
	err := s.db.Tx(ctx, func(q store.Querier) error {
		_, err := q.Exec(ctx, `UPDATE _keep_api_keys SET last_used = ? WHERE id = ? AND (last_used IS NULL OR last_used <= ?)`,
			records.TimeArg(d, now), id, records.TimeArg(d, now.Add(-apiKeyTouchInterval)))
		return err
	})
	if err != nil {
		s.log.WarnContext(ctx, "recording api key use failed", "key_id", id, "err", err)
	}
}

// newAPIKey returns a fresh key and its stored hash.
func newAPIKey() (key, hash string, err error) {
	b := make([]byte, apiKeyBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("api key: %w", err)
	}
	key = APIKeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return key, hashAPIKey(key), nil
}

// hashAPIKey is what the database stores of a key: hex SHA-256 of all of it.
func hashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// apiKeyRoles decodes the roles column: nil for NULL (not narrowed).
func apiKeyRoles(v any) ([]string, error) {
	var raw []byte
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		raw = []byte(v)
	case []byte:
		raw = v
	default:
		return nil, fmt.Errorf("api key roles: unexpected %T", v)
	}
	roles := []string{}
	if err := json.Unmarshal(raw, &roles); err != nil {
		return nil, fmt.Errorf("api key roles: %w", err)
	}
	return roles, nil
}

// apiKeyTime reads a timestamp column: time.Time on PostgreSQL, text in the
// fixed format on SQLite.
func apiKeyTime(v any) (time.Time, error) {
	switch t := v.(type) {
	case time.Time:
		return t.UTC(), nil
	case string:
		return time.Parse(time.RFC3339Nano, t)
	case []byte:
		return time.Parse(time.RFC3339Nano, string(t))
	}
	return time.Time{}, fmt.Errorf("api key: unexpected time %T", v)
}

// apiKeyPlausibleID reports whether id could be a stored id at all, so that a
// value PostgreSQL refuses to compare (a NUL) or a huge one never reaches
// the database.
func apiKeyPlausibleID(id string) bool {
	return id != "" && len(id) <= 64 && strings.IndexByte(id, 0) < 0 && utf8.ValidString(id)
}

// apiKeyTruncate shortens s to at most n characters for an error message.
func apiKeyTruncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
