package accounts

// STUB — owned by the API keys work (issue 3). Replace wholesale.

import (
	"context"
	"time"

	"github.com/keep-dev/keep/internal/records"
)

// APIKeyPrefix starts every API key, so a leaked one is recognisable.
const APIKeyPrefix = "keep_"

// APIKeyInput is the body of a key creation.
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

// APIKeyInfo describes a key without its secret.
type APIKeyInfo struct {
	ID        string     `json:"id"`
	UserID    string     `json:"user_id"`
	Name      string     `json:"name"`
	Roles     []string   `json:"roles"`
	Created   time.Time  `json:"created"`
	ExpiresAt time.Time  `json:"expires_at"`
	LastUsed  *time.Time `json:"last_used"`
}

// CreateAPIKey makes a key acting as the caller (or, for a superuser, as
// in.UserID).
func (s *Service) CreateAPIKey(ctx context.Context, c records.Caller, in APIKeyInput) (APIKeyCreated, error) {
	return APIKeyCreated{}, ErrNotImplemented
}

// APIKeys lists the caller's keys (every key for a superuser).
func (s *Service) APIKeys(ctx context.Context, c records.Caller) ([]APIKeyInfo, error) {
	return nil, ErrNotImplemented
}

// RevokeAPIKey revokes a key of the caller's (any key for a superuser).
func (s *Service) RevokeAPIKey(ctx context.Context, c records.Caller, id string) error {
	return ErrNotImplemented
}

// authenticateKey turns an API key into its caller.
func (s *Service) authenticateKey(ctx context.Context, key string) (records.Caller, error) {
	return records.Caller{}, ErrUnauthenticated
}
