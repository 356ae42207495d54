package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/keep-dev/keep/internal/app"
	"github.com/keep-dev/keep/internal/audit"
	"github.com/keep-dev/keep/internal/config"
)

// errAuditBroken makes `keep audit verify` exit non-zero; the report on
// stdout names the entry.
var errAuditBroken = errors.New("the audit log failed verification")

// auditCommand runs `keep audit verify|export|checkpoint`. Each run is
// itself an audit entry, with the actor "cli".
func auditCommand(ctx context.Context, sub string, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var since string
	extra := func(*flag.FlagSet) {}
	switch sub {
	case "verify", "checkpoint":
	case "export":
		extra = func(fs *flag.FlagSet) {
			fs.StringVar(&since, "since", "", "export entries from this RFC 3339 time on (default: all)")
		}
	default:
		return fmt.Errorf("unknown command \"audit %s\": want verify, export or checkpoint", sub)
	}
	cfg, err := config.Load("audit "+sub, args, getenv, false, extra, stderr)
	if err != nil {
		return err
	}
	var from time.Time
	if since != "" {
		if from, err = time.Parse(time.RFC3339Nano, since); err != nil {
			return fmt.Errorf("--since: %q is not an RFC 3339 time", since)
		}
	}
	k, err := app.New(ctx, cfg, app.NewLogger(stderr, cfg), false)
	if err != nil {
		return err
	}
	defer k.Close()
	ctx = audit.WithRequest(ctx, &audit.Request{Actor: "cli"})
	log := k.Audit
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	switch sub {
	case "verify":
		rep, err := log.Verify(ctx)
		if err != nil {
			return err
		}
		if err := log.Record(ctx, rep.Event()); err != nil {
			return err
		}
		if _, err := log.Seal(ctx); err != nil {
			return err
		}
		if err := enc.Encode(rep); err != nil {
			return err
		}
		if !rep.OK {
			return fmt.Errorf("%w at seq %d: %s", errAuditBroken, rep.FirstBadSeq, rep.Problem)
		}
		return nil
	case "checkpoint":
		c, err := log.Checkpoint(ctx)
		if err != nil {
			return err
		}
		if err := log.Record(ctx, c.Event()); err != nil {
			return err
		}
		if _, err := log.Seal(ctx); err != nil {
			return err
		}
		return enc.Encode(c)
	default: // export
		if err := log.Record(ctx, audit.Event{Action: "audit.export", Target: "audit",
			Details: map[string]any{"since": since}}); err != nil {
			return err
		}
		_, err := log.Export(ctx, from, stdout)
		return err
	}
}
