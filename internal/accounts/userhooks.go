package accounts

import (
	"context"
	"fmt"

	"github.com/keep-dev/keep/internal/store"
)

// UserUpdated keeps identity state in step when a superuser changes a user,
// inside the same transaction (records.Service.OnUserUpdate calls it):
// disabling ends every session; a new email voids pending verification and
// reset links, which were sent to the old address, and the new address is
// unverified until proven (unless the same update sets verified).
func (s *Service) UserUpdated(ctx context.Context, q store.Querier, userID string, changed map[string]any) error {
	if changed["disabled"] == true {
		if err := s.EndUserSessions(ctx, q, userID, "user disabled"); err != nil {
			return err
		}
	}
	if _, ok := changed["email"]; ok {
		if _, err := q.Exec(ctx, `DELETE FROM _keep_tokens WHERE user_id = ? AND kind IN (?, ?) AND used_at IS NULL`,
			userID, tokenVerify, tokenReset); err != nil {
			return fmt.Errorf("void email tokens: %w", err)
		}
		if _, set := changed["verified"]; !set {
			if _, err := q.Exec(ctx, `UPDATE c_users SET verified = ? WHERE id = ?`, boolArg(s.db.Dialect(), false), userID); err != nil {
				return fmt.Errorf("unverify email: %w", err)
			}
		}
	}
	return nil
}
