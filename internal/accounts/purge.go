package accounts

import (
	"context"
	"fmt"
	"time"

	"github.com/keep-dev/keep/internal/store"
)

// purgeBatch bounds one delete, so a purge never holds SQLite's writer long.
const purgeBatch = 1000

// keepEnded is how long ended sessions, used or expired tokens and revoked
// or expired API keys stay before Purge deletes them: long enough to answer
// "why was I signed out", short enough that the tables stay small.
const keepEnded = 7 * 24 * time.Hour

// Purge deletes identity rows that no longer decide anything: sessions
// (with their refresh tokens) ended, expired or idle for keepEnded; email
// and MFA tokens past their expiry by keepEnded; API keys revoked or expired
// for keepEnded. A refresh token of a purged session is simply unknown, so
// it is still refused. It returns how many rows went.
func (s *Service) Purge(ctx context.Context) (int64, error) {
	now := s.clock()
	cut := s.timeArg(now.Add(-keepEnded))
	idle := s.timeArg(now.Add(-s.cfg.SessionIdle - keepEnded))
	var total int64
	for _, p := range []struct {
		table, where string
		args         []any
	}{
		{"_keep_sessions", `revoked_at < ? OR expires_at < ? OR last_used < ?`, []any{cut, cut, idle}},
		{"_keep_tokens", `expires_at < ?`, []any{cut}},
		{"_keep_api_keys", `revoked_at < ? OR expires_at < ?`, []any{cut, cut}},
	} {
		key := "id"
		if p.table == "_keep_tokens" {
			key = "hash"
		}
		for {
			var n int64
			err := s.db.Tx(ctx, func(q store.Querier) error {
				var err error
				n, err = q.Exec(ctx, fmt.Sprintf(`DELETE FROM %[1]s WHERE %[2]s IN (SELECT %[2]s FROM %[1]s WHERE %[3]s LIMIT %[4]d)`,
					p.table, key, p.where, purgeBatch), p.args...)
				return err
			})
			if err != nil {
				return total, fmt.Errorf("purge %s: %w", p.table, err)
			}
			total += n
			if n < purgeBatch {
				break
			}
		}
	}
	return total, nil
}

// RunPurge purges every interval until ctx ends, logging failures.
func (s *Service) RunPurge(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.Purge(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("purge failed", "err", err)
			} else if n > 0 {
				s.log.Info("purged ended sessions, tokens and keys", "rows", n)
			}
		}
	}
}
