// Package mail delivers Keep's email through a durable outbox.
//
// STUB — owned by the email flows work (issue 3). Replace wholesale.
package mail

import (
	"context"
	"log/slog"

	"github.com/keep-dev/keep/internal/store"
)

// Config selects and configures delivery.
type Config struct {
	Mode     string // "file" (default: one file per message under Dir) or "smtp"
	Dir      string // the file sink's directory (<data dir>/outbox)
	From     string
	Host     string
	Port     int
	Username string
	Password string
	TLS      string // "starttls" (default), "tls" or "none"
}

// Outbox queues messages in the database and delivers them.
type Outbox struct{}

// New returns the outbox.
func New(db store.DB, cfg Config, log *slog.Logger) (*Outbox, error) { return &Outbox{}, nil }

// Enqueue adds a message inside transaction q.
func (o *Outbox) Enqueue(ctx context.Context, q store.Querier, to, subject, body string) error {
	return nil
}

// Run delivers queued messages until ctx ends.
func (o *Outbox) Run(ctx context.Context) error { <-ctx.Done(); return nil }
