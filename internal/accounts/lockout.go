package accounts

// Brute-force defence, per identifier (see docs: "Lockout").
//
// Failures are counted per identifier — the normalised email, whether or not
// an account exists, so the lockout reveals nothing — in
// _keep_login_attempts. After Config.LoginMaxFailures failures within
// Config.LoginWindow the identifier is locked: every attempt answers
// *RateLimitError before the password is looked at, so a correct password
// during the lock is refused too. The first lock lasts LockBase; each further
// lock doubles it, up to Config.LockMax. A successful login deletes the row
// (failures and lock count); so does a quiet period (no failure and no lock
// for a whole window), which makes the next lock start at LockBase again.
//
// Concurrency: a failure is counted by one upsert statement (INSERT … ON
// CONFLICT DO UPDATE … RETURNING) whose update is skipped while the row is
// locked. Both engines serialise upserts of one row (SQLite has one writer;
// PostgreSQL locks the conflicting row and evaluates the update on its
// newest version), so N parallel wrong passwords are counted exactly once
// each, and exactly LoginMaxFailures of them are counted before the lock: the
// rest, arriving while locked, answer 429 and are not counted (they neither
// lengthen the lock nor count toward the next one).
//
// Trade-off: anyone who knows an email can keep it locked by sending
// LoginMaxFailures wrong passwords per lock period. That cannot lock a user
// out for longer than LockMax at a time (the lock never grows past it), the
// per-IP limits slow the attacker, and the user can still reset the
// password by email (which does not go through this lock). Lowering
// LoginMaxFailures or raising LockMax shifts the balance toward resisting
// guessing, at the cost of making denial easier. There is no in-request
// progressive delay (sleeping before answering): it would hold a goroutine
// and a connection per attacker request, and the doubling lock, the Argon2id
// cost and the per-IP limits already bound the guessing rate to about
// LoginMaxFailures guesses per LockMax per identifier.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/keep-dev/keep/internal/audit"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
)

// ErrTooManyAttempts is the 429 of a locked identifier or a rate limit.
var ErrTooManyAttempts = errors.New("too many attempts")

// RateLimitError says how long to wait; it matches ErrTooManyAttempts.
type RateLimitError struct{ RetryAfter time.Duration }

func (e *RateLimitError) Error() string { return "too many attempts" }
func (e *RateLimitError) Unwrap() error { return ErrTooManyAttempts }

// LockBase is the length of an identifier's first lock; each successive lock
// doubles it up to Config.LockMax (which it never exceeds: a LockMax below
// LockBase makes every lock LockMax long).
const LockBase = time.Minute

// maxLockLevels bounds the doubling steps spelled out in the upsert; past
// them a lock is LockMax long anyway (2^20 minutes is two years).
const maxLockLevels = 20

// pruneEvery is how many counted failures pass, on average, between sweeps
// of stale rows (chosen at random, so no state is shared).
const pruneEvery = 1024

// lockDurations lists the lock length for lock_count 0, 1, …; the last entry
// applies to every higher count.
func (c Config) lockDurations() []time.Duration {
	var ds []time.Duration
	d := min(LockBase, c.LockMax)
	for len(ds) < maxLockLevels {
		ds = append(ds, d)
		if d >= c.LockMax {
			break
		}
		d = min(2*d, c.LockMax)
	}
	return ds
}

// lockKey is the row key of an identifier. Identifiers no account can have
// (too long, or holding NUL, which PostgreSQL cannot store) are keyed by a
// digest, so that they lock like any other instead of failing differently.
func lockKey(ident string) string {
	if len(ident) > 254 || strings.IndexByte(ident, 0) >= 0 {
		sum := sha256.Sum256([]byte(ident))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	return ident
}

// loginAllowed refuses an identifier that is locked.
//
// ev is the audit entry of the attempt (zero for none): a refusal records it
// as denied.
func (s *Service) loginAllowed(ctx context.Context, ident string, ev audit.Event) error {
	var until any
	err := s.db.QueryRow(ctx, `SELECT locked_until FROM _keep_login_attempts WHERE identifier = ?`, lockKey(ident)).Scan(&until)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("login lockout: %w", err)
	}
	return s.refuseIfLocked(ctx, until, ev)
}

// refuseIfLocked is lockedError that records ev as denied when it refuses.
func (s *Service) refuseIfLocked(ctx context.Context, until any, ev audit.Event) error {
	lerr := s.lockedError(until)
	var rl *RateLimitError
	if errors.As(lerr, &rl) {
		if err := s.deny(ctx, ev, "locked"); err != nil {
			return err
		}
	}
	return lerr
}

// lockedError is a *RateLimitError while until (a scanned locked_until) lies
// in the future, else nil.
func (s *Service) lockedError(until any) error {
	if until == nil {
		return nil
	}
	t, err := scanTimestamp(until)
	if err != nil {
		return fmt.Errorf("login lockout: %w", err)
	}
	if wait := t.Sub(s.now()); wait > 0 {
		return &RateLimitError{RetryAfter: wait}
	}
	return nil
}

// loginFailed counts a failure for ident. It answers *RateLimitError when the
// identifier was locked meanwhile (by parallel attempts): such a failure is
// not counted. The failure that reaches the limit is counted, sets the lock
// and answers nil, so its caller still says "invalid credentials".
//
// ev (zero for none) is the audit entry of the failure, appended in the same
// transaction as the count: as a failure, as an auth.lockout when this
// failure set the lock, or as denied when the identifier was locked already.
func (s *Service) loginFailed(ctx context.Context, ident string, ev audit.Event) error {
	now := s.now().UTC().Truncate(time.Millisecond)
	d := s.db.Dialect()
	ts := func(t time.Time) any { return records.TimeArg(d, t) }
	// PostgreSQL would type a CASE whose branches are all parameters as
	// text; SQLite must not cast (its CAST to an unknown type is numeric).
	tp := "?"
	if d == store.Postgres {
		tp = "CAST(? AS TIMESTAMPTZ)"
	}
	limit := s.cfg.LoginMaxFailures
	durs := s.cfg.lockDurations()

	// The statement refers to the stored row as a; every SET expression sees
	// its values before the update.
	var (
		sql  strings.Builder
		args []any
	)
	put := func(frag string, a ...any) {
		sql.WriteString(frag)
		args = append(args, a...)
	}
	// Conditions on the stored row (each a fresh copy, with its own args).
	expired := func() { put(`a.window_start <= `+tp, ts(now.Add(-s.cfg.LoginWindow))) }
	stale := func() {
		put(`(`)
		expired()
		put(` AND (a.locked_until IS NULL OR a.locked_until <= `+tp+`))`, ts(now.Add(-s.cfg.LoginWindow)))
	}
	newFailures := func() { put(`(CASE WHEN `); expired(); put(` THEN 1 ELSE a.failures + 1 END)`) }
	newLockCount := func() { put(`(CASE WHEN `); stale(); put(` THEN 0 ELSE a.lock_count END)`) }
	lockNow := func() { put(`(`); newFailures(); put(` >= ?)`, limit) }
	lockUntil := func() {
		if len(durs) == 1 {
			put(tp, ts(now.Add(durs[0])))
			return
		}
		put(`(CASE `)
		newLockCount()
		for i, dur := range durs[:len(durs)-1] {
			put(` WHEN ? THEN `+tp, i, ts(now.Add(dur)))
		}
		put(` ELSE `+tp+` END)`, ts(now.Add(durs[len(durs)-1])))
	}

	// A first failure inserts the row; a limit of 1 locks at once.
	first := struct {
		failures, lockCount int
		lockedUntil         any
	}{failures: 1}
	if limit <= 1 {
		first.failures, first.lockCount, first.lockedUntil = 0, 1, ts(now.Add(durs[0]))
	}
	put(`INSERT INTO _keep_login_attempts AS a (identifier, failures, window_start, locked_until, lock_count) VALUES (?, ?, ?, ?, ?)`,
		lockKey(ident), first.failures, ts(now), first.lockedUntil, first.lockCount)
	put(` ON CONFLICT (identifier) DO UPDATE SET failures = CASE WHEN `)
	lockNow()
	put(` THEN 0 ELSE `)
	newFailures()
	put(` END, window_start = CASE WHEN `)
	lockNow()
	put(` OR `)
	expired()
	put(` THEN `+tp+` ELSE a.window_start END, locked_until = CASE WHEN `, ts(now))
	lockNow()
	put(` THEN `)
	lockUntil()
	put(` ELSE a.locked_until END, lock_count = CASE WHEN `)
	lockNow()
	put(` THEN `)
	newLockCount()
	put(` + 1 ELSE `)
	newLockCount()
	// Skip the update while locked: PostgreSQL still locks the row, and
	// RETURNING then yields nothing on both engines.
	put(` END WHERE a.locked_until IS NULL OR a.locked_until <= `+tp, ts(now))
	put(` RETURNING failures`)

	var locked any
	err := s.db.Tx(ctx, func(q store.Querier) error {
		locked = nil
		var failures int
		err := q.QueryRow(ctx, sql.String(), args...).Scan(&failures)
		entry := ev
		entry.Outcome = audit.Failure
		if err == nil && failures == 0 {
			// The counter restarts when the lock is set: this failure set it.
			entry = with(entry, "attempted", entry.Action)
			entry.Action = actLockout
		}
		if errors.Is(err, store.ErrNotFound) {
			// Locked already: read how long for, under the row lock.
			err = q.QueryRow(ctx, `SELECT locked_until FROM _keep_login_attempts WHERE identifier = ?`, lockKey(ident)).Scan(&locked)
			if err == nil && locked == nil {
				return errors.New("login lockout: skipped update on an unlocked row")
			}
			entry.Outcome = audit.Denied
			entry = with(entry, "reason", "locked")
		}
		if err != nil || ev.Action == "" {
			return err
		}
		return s.audit.Append(ctx, q, entry)
	})
	if err != nil {
		return fmt.Errorf("login lockout: %w", err)
	}
	if locked != nil {
		if err := s.lockedError(locked); err != nil {
			return err
		}
		// The lock ended between the statement and now: count as refused
		// anyway, with the shortest wait.
		return &RateLimitError{RetryAfter: time.Second}
	}
	if rand.N(pruneEvery) == 0 {
		s.pruneLoginAttempts(ctx)
	}
	return nil
}

// loginSucceeded clears the failures and the lock count of ident. A lock set
// by parallel attempts after loginAllowed let this one in still holds: the
// login is refused with *RateLimitError.
//
// ev (zero for none) is recorded as denied when the lock refuses the login.
func (s *Service) loginSucceeded(ctx context.Context, ident string, ev audit.Event) error {
	now := records.TimeArg(s.db.Dialect(), s.now())
	var locked any
	err := s.db.Tx(ctx, func(q store.Querier) error {
		locked = nil
		n, err := q.Exec(ctx, `DELETE FROM _keep_login_attempts WHERE identifier = ? AND (locked_until IS NULL OR locked_until <= ?)`,
			lockKey(ident), now)
		if err != nil || n > 0 {
			return err
		}
		err = q.QueryRow(ctx, `SELECT locked_until FROM _keep_login_attempts WHERE identifier = ?`, lockKey(ident)).Scan(&locked)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("login lockout: %w", err)
	}
	return s.refuseIfLocked(ctx, locked, ev)
}

// pruneLoginAttempts deletes rows that no longer affect anything: no failure
// in the current window and no lock within one. Such a row behaves exactly
// like a missing one, so deleting it only bounds the table (an attacker
// spraying made-up emails adds a row each). A failure is logged.
func (s *Service) pruneLoginAttempts(ctx context.Context) {
	cut := records.TimeArg(s.db.Dialect(), s.now().Add(-s.cfg.LoginWindow))
	err := s.db.Tx(ctx, func(q store.Querier) error {
		_, err := q.Exec(ctx, `DELETE FROM _keep_login_attempts WHERE window_start <= ? AND (locked_until IS NULL OR locked_until <= ?)`, cut, cut)
		return err
	})
	if err != nil {
		s.log.Warn("pruning login attempts failed", "err", err)
	}
}

// scanTimestamp reads a timestamp column of either engine.
func scanTimestamp(v any) (time.Time, error) {
	switch t := v.(type) {
	case time.Time:
		return t.UTC(), nil
	case string:
		return time.Parse(time.RFC3339Nano, t)
	case []byte:
		return time.Parse(time.RFC3339Nano, string(t))
	}
	return time.Time{}, fmt.Errorf("unexpected timestamp %T", v)
}
