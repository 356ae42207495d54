package accounts

// STUB — owned by the sessions work (issue 3). Replace wholesale.

import (
	"context"
	"errors"
	"time"

	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
)

// ErrNotImplemented marks identity features still being built.
var ErrNotImplemented = errors.New("not implemented yet")

// SessionInfo is one session as its owner sees it.
type SessionInfo struct {
	ID        string    `json:"id"`
	Created   time.Time `json:"created"`
	LastUsed  time.Time `json:"last_used"`
	IP        string    `json:"ip"`
	UserAgent string    `json:"user_agent"`
	Current   bool      `json:"current"`
}

// startSession creates a session for userID and returns its first tokens.
func (s *Service) startSession(ctx context.Context, userID string, client ClientInfo) (LoginResult, error) {
	tok, exp, err := s.tokens.Issue(userID)
	if err != nil {
		return LoginResult{}, err
	}
	user, err := s.records.User(ctx, userID)
	if err != nil {
		return LoginResult{}, err
	}
	return LoginResult{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int(time.Until(exp) / time.Second), User: user}, nil
}

// checkSession fails unless session sid of userID is alive.
func (s *Service) checkSession(ctx context.Context, sid, userID string) error { return nil }

// Refresh rotates a refresh token.
func (s *Service) Refresh(ctx context.Context, refreshToken string, client ClientInfo) (LoginResult, error) {
	return LoginResult{}, ErrNotImplemented
}

// Logout ends the caller's current session.
func (s *Service) Logout(ctx context.Context, c records.Caller) error { return ErrNotImplemented }

// Sessions lists the caller's live sessions.
func (s *Service) Sessions(ctx context.Context, c records.Caller) ([]SessionInfo, error) {
	return nil, ErrNotImplemented
}

// DeleteSession ends one of the caller's sessions.
func (s *Service) DeleteSession(ctx context.Context, c records.Caller, id string) error {
	return ErrNotImplemented
}

// RevokeOtherSessions ends every session of the caller but the current one.
func (s *Service) RevokeOtherSessions(ctx context.Context, c records.Caller) error {
	return ErrNotImplemented
}

// ChangePassword checks the current password, sets the new one and ends the
// caller's other sessions.
func (s *Service) ChangePassword(ctx context.Context, c records.Caller, current, next string) error {
	return ErrNotImplemented
}

// EndUserSessions ends every session of userID inside transaction q.
func (s *Service) EndUserSessions(ctx context.Context, q store.Querier, userID, reason string) error {
	return nil
}
