package app

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/keep-dev/keep/internal/audit"
	"github.com/keep-dev/keep/internal/config"
	"github.com/keep-dev/keep/internal/secretbox"
	"github.com/keep-dev/keep/internal/store"
)

// DefaultCheckpointFile is the checkpoint file's name in the data directory.
const DefaultCheckpointFile = "audit-checkpoints.jsonl"

// openAudit opens the audit log of db. Its keys are derived from the data
// directory's secret key, so every process writing to one database needs
// the same secret.key (see docs/audit.md). Checkpoints go to
// <data>/audit-checkpoints.jsonl unless --audit-checkpoint-file names
// another file: a copy outside the database is what catches a log cut
// short, so there is always one.
func openAudit(ctx context.Context, cfg config.Config, db store.DB, log *slog.Logger) (*audit.Log, error) {
	box, err := secretbox.Open(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	file := cfg.AuditCheckpointFile
	if file == "" {
		file = filepath.Join(cfg.DataDir, DefaultCheckpointFile)
	}
	l, err := audit.Open(ctx, db, audit.Options{Keys: box, CheckpointFile: file,
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
