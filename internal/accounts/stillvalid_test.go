package accounts

import (
	"context"
	"errors"
	"testing"

	"github.com/keep-dev/keep/internal/audit"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// TestSessionRefusedAfterPasswordChange: a login that verified the old hash
// but reaches startSession after a change gets no session.
func TestSessionRefusedAfterPasswordChange(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		e := newLockoutEnv(t, open(t), Config{})
		ctx := context.Background()
		var id, old string
		if err := e.db.QueryRow(ctx, `SELECT id, password_hash FROM c_users WHERE email = ?`, testEmail).Scan(&id, &old); err != nil {
			t.Fatal(err)
		}
		if err := e.db.Tx(ctx, func(q store.Querier) error {
			_, err := q.Exec(ctx, `UPDATE c_users SET password_hash = ? WHERE id = ?`, old+"x", id)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.startSession(ctx, id, ClientInfo{}, old, audit.Event{Action: actLogin}); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("session after the change: %v", err)
		}
		if _, _, err := e.s.mfaChallenge(ctx, id, old); err != nil {
			t.Fatalf("no TOTP: no challenge and no error, got %v", err)
		}
	})
}
