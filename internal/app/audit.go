package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/keep-dev/keep/internal/audit"
	"github.com/keep-dev/keep/internal/config"
	"github.com/keep-dev/keep/internal/secretbox"
	"github.com/keep-dev/keep/internal/store"
)

// openAudit opens the audit log of db. Its keys are sealed with the data
// directory's secret box, like TOTP seeds, so every process writing to one
// database needs the same secret.key (see docs/audit.md).
func openAudit(ctx context.Context, cfg config.Config, db store.DB, log *slog.Logger) (*audit.Log, error) {
	box, err := secretbox.Open(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	l, err := audit.Open(ctx, db, audit.Options{Sealer: box, CheckpointFile: cfg.AuditCheckpointFile,
		Logger: log.With("component", "audit")})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// cliRequest marks ctx as a command-line action for the audit log, unless
// it already carries a request.
func cliRequest(ctx context.Context) context.Context {
	if audit.RequestFrom(ctx) != nil {
		return ctx
	}
	return audit.WithRequest(ctx, &audit.Request{Actor: "cli"})
}
