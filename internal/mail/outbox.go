package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"github.com/keep-dev/keep/internal/ids"
	"github.com/keep-dev/keep/internal/store"
)

// Config selects and configures delivery. The zero Mode is "file".
type Config struct {
	Mode     string // "file" (default: one file per message under Dir) or "smtp"
	Dir      string // the file sink's directory (<data dir>/outbox)
	From     string // sender; may carry a display name ("Keep <keep@example.com>")
	Host     string
	Port     int // default 587
	Username string
	Password string // never logged nor stored in last_error
	TLS      string // "starttls" (default), "tls" or "none"
}

// Tuning of delivery. A claim's lease must outlast one delivery attempt
// (smtpTimeout); retention must outlast the longest token a mail carries
// (24 h for verification), after which an undelivered mail is useless.
const (
	pollInterval = time.Second
	batchSize    = 50
	lease        = 5 * time.Minute
	backoffBase  = 30 * time.Second
	backoffMax   = time.Hour
	retention    = 48 * time.Hour
	purgeEvery   = time.Hour
	maxErrorLen  = 200
	maxBodyLen   = 64 << 10
)

// deliverer hands one rendered message to its destination.
type deliverer interface {
	deliver(ctx context.Context, from string, m message, raw []byte) error
}

// Outbox queues messages in the database and delivers them. It is safe for
// concurrent use, and several processes may run it on one database. The
// zero value is not usable; create one with [New].
type Outbox struct {
	db       store.DB
	log      *slog.Logger
	from     *mail.Address
	sink     deliverer
	password string
	now      func() time.Time
	wake     chan struct{}
}

// New returns the outbox for cfg. It checks the configuration (and, for the
// file sink, creates the directory) but does not connect to a mail server.
func New(db store.DB, cfg Config, log *slog.Logger) (*Outbox, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.From == "" {
		cfg.From = "keep@localhost"
	}
	from, err := parseFrom(cfg.From)
	if err != nil {
		return nil, err
	}
	o := &Outbox{db: db, log: log, from: from, password: cfg.Password, now: time.Now, wake: make(chan struct{}, 1)}
	switch cfg.Mode {
	case "", "file":
		if o.sink, err = newFileSink(cfg.Dir); err != nil {
			return nil, err
		}
	case "smtp":
		if o.sink, err = newSMTPSender(cfg); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("mail: mode must be file or smtp, not %q", cfg.Mode)
	}
	return o, nil
}

// Enqueue adds a message inside transaction q, so that it is sent exactly
// when the transaction commits. to must be a plain address; to and subject
// may not hold line breaks (ErrHeader otherwise).
func (o *Outbox) Enqueue(ctx context.Context, q store.Querier, to, subject, body string) error {
	if _, err := parseRecipient(to); err != nil {
		return err
	}
	if err := checkSubject(subject); err != nil {
		return err
	}
	if len(body) > maxBodyLen {
		return fmt.Errorf("mail: body longer than %d bytes", maxBodyLen)
	}
	now := o.now()
	_, err := q.Exec(ctx, `INSERT INTO _keep_outbox (id, created, recipient, subject, body, attempts, next_attempt)
		VALUES (?, ?, ?, ?, ?, 0, ?)`, ids.New(), o.timeArg(now), to, subject, body, o.timeArg(now))
	if err != nil {
		return fmt.Errorf("mail: enqueue: %w", err)
	}
	// The transaction has not committed yet; the poll after this wake-up or
	// the next regular one finds the message.
	o.Wake()
	return nil
}

// Wake asks Run to look for due messages now instead of at its next poll.
func (o *Outbox) Wake() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Run delivers due messages until ctx ends, polling every second and when
// woken. It returns nil when ctx ends.
func (o *Outbox) Run(ctx context.Context) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	var lastPurge time.Time
	for {
		if _, err := o.DeliverDue(ctx); err != nil && ctx.Err() == nil {
			o.log.Warn("mail delivery pass failed", "err", err)
		}
		if now := o.now(); now.Sub(lastPurge) >= purgeEvery {
			if err := o.purge(ctx); err != nil && ctx.Err() == nil {
				o.log.Warn("mail outbox purge failed", "err", err)
			}
			lastPurge = now
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-o.wake:
		}
	}
}

// DeliverDue makes one delivery pass: it claims each due message, delivers
// it and records the outcome. It returns how many messages were delivered.
// A failed delivery is not an error of the pass; it is retried later.
// Concurrent calls, in this process or others, never deliver a message
// twice while its claim holds.
func (o *Outbox) DeliverDue(ctx context.Context) (int, error) {
	now := o.now()
	rows, err := o.db.Query(ctx, `SELECT id FROM _keep_outbox
		WHERE sent_at IS NULL AND next_attempt <= ? ORDER BY next_attempt, id LIMIT ?`, o.timeArg(now), batchSize)
	if err != nil {
		return 0, fmt.Errorf("mail: list due: %w", err)
	}
	var due []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		due = append(due, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	sent := 0
	for _, id := range due {
		if ctx.Err() != nil {
			return sent, ctx.Err()
		}
		m, attempts, ok, err := o.claim(ctx, id)
		if err != nil {
			return sent, err
		}
		if !ok {
			continue // another worker has it, or it was sent meanwhile
		}
		switch err := o.deliverOne(ctx, m, attempts); {
		case err == nil:
			sent++
		case errors.Is(err, errDelivery): // recorded; retried after its backoff
		default:
			return sent, err
		}
	}
	return sent, nil
}

// claim takes message id for one lease, if it is still due. Only one of
// several concurrent claimers sees its update change the row.
func (o *Outbox) claim(ctx context.Context, id string) (m message, attempts int, ok bool, err error) {
	now := o.now()
	err = o.db.Tx(ctx, func(q store.Querier) error {
		ok = false
		n, err := q.Exec(ctx, `UPDATE _keep_outbox SET next_attempt = ?
			WHERE id = ? AND sent_at IS NULL AND next_attempt <= ?`, o.timeArg(now.Add(lease)), id, o.timeArg(now))
		if err != nil || n != 1 {
			return err
		}
		var created any
		err = q.QueryRow(ctx, `SELECT created, recipient, subject, body, attempts FROM _keep_outbox WHERE id = ?`, id).
			Scan(&created, &m.To, &m.Subject, &m.Body, &attempts)
		if err != nil {
			return err
		}
		if m.Created, err = scanTime(created); err != nil {
			return err
		}
		m.ID, ok = id, true
		return nil
	})
	if err != nil {
		return message{}, 0, false, fmt.Errorf("mail: claim %s: %w", id, err)
	}
	return m, attempts, ok, nil
}

// errDelivery marks a failed delivery, which DeliverDue does not count.
var errDelivery = errors.New("delivery failed")

// deliverOne sends a claimed message and records the outcome. It returns
// errDelivery when the message will be retried and an error only when the
// outcome could not be recorded.
func (o *Outbox) deliverOne(ctx context.Context, m message, attempts int) error {
	raw, err := render(m, o.from)
	if err == nil {
		err = o.sink.deliver(ctx, o.from.Address, m, raw)
	}
	if err == nil {
		// The body holds a live token: do not keep it once it is sent.
		if err := o.db.Tx(ctx, func(q store.Querier) error {
			_, err := q.Exec(ctx, `UPDATE _keep_outbox SET sent_at = ?, body = '', last_error = NULL, attempts = attempts + 1 WHERE id = ?`,
				o.timeArg(o.now()), m.ID)
			return err
		}); err != nil {
			return fmt.Errorf("mail: record delivery of %s: %w", m.ID, err)
		}
		o.log.Info("mail delivered", "message", m.ID, "attempt", attempts+1)
		return nil
	}
	if ctx.Err() != nil {
		// Shutting down: leave the claim to expire, the next run retries.
		return ctx.Err()
	}
	msg := o.shortError(err)
	wait := backoff(attempts + 1)
	o.log.Warn("mail delivery failed", "message", m.ID, "attempt", attempts+1, "retry_in", wait.String(), "err", msg)
	if err := o.db.Tx(ctx, func(q store.Querier) error {
		_, err := q.Exec(ctx, `UPDATE _keep_outbox SET attempts = attempts + 1, next_attempt = ?, last_error = ? WHERE id = ? AND sent_at IS NULL`,
			o.timeArg(o.now().Add(wait)), msg, m.ID)
		return err
	}); err != nil {
		return fmt.Errorf("mail: record failure of %s: %w", m.ID, err)
	}
	return errDelivery
}

// backoff is the wait after the n-th failed attempt: 30 s, 1 min, 2 min, …
// up to an hour.
func backoff(n int) time.Duration {
	d := backoffBase
	for i := 1; i < n && d < backoffMax; i++ {
		d *= 2
	}
	return min(d, backoffMax)
}

// shortError is err as stored in last_error: one line, at most maxErrorLen
// bytes, and never the SMTP password.
func (o *Outbox) shortError(err error) string {
	s := err.Error()
	if o.password != "" {
		s = strings.ReplaceAll(s, o.password, "REDACTED")
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxErrorLen {
		s = strings.ToValidUTF8(s[:maxErrorLen], "") // drops a rune cut in half
	}
	return s
}

// purge deletes messages older than the retention: sent ones, and unsent
// ones whose tokens have expired anyway.
func (o *Outbox) purge(ctx context.Context) error {
	return o.db.Tx(ctx, func(q store.Querier) error {
		_, err := q.Exec(ctx, `DELETE FROM _keep_outbox WHERE created < ?`, o.timeArg(o.now().Add(-retention)))
		return err
	})
}

// sqliteTime is the fixed-width text form of timestamps on SQLite; text
// order is time order.
const sqliteTime = "2006-01-02T15:04:05.000Z"

func (o *Outbox) timeArg(t time.Time) any {
	t = t.UTC().Truncate(time.Millisecond)
	if o.db.Dialect() == store.Postgres {
		return t
	}
	return t.Format(sqliteTime)
}

func scanTime(v any) (time.Time, error) {
	switch t := v.(type) {
	case time.Time:
		return t.UTC(), nil
	case string:
		return time.Parse(time.RFC3339Nano, t)
	case []byte:
		return time.Parse(time.RFC3339Nano, string(t))
	}
	return time.Time{}, fmt.Errorf("unexpected time %T", v)
}
