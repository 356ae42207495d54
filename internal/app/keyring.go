package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/keep-dev/keep/internal/audit"
	"github.com/keep-dev/keep/internal/config"
	"github.com/keep-dev/keep/internal/keyring"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
)

// The keyring across processes: the database is the truth. A rotation (by
// the API or by `keep keys rotate` in another process) makes a new data key
// current in one transaction, and every write reads the current key inside
// its own transaction, so all processes seal with the new key from the next
// write. Re-encryption is a job row worked by whoever holds its lease:
// servers poll for unleased jobs every keyJobPoll; the CLI works the job it
// started in the foreground.

const (
	// keyJobLease is how long a worker holds a job without renewing; each
	// batch renews it, so a crashed worker's job is resumed after this.
	keyJobLease = 30 * time.Second
	// keyJobPoll is how often a server looks for a job to work.
	keyJobPoll = 2 * time.Second
)

// rootKey finds the keyring's root key as the configuration says.
func rootKey(cfg config.Config, log *slog.Logger) (keyring.RootKey, error) {
	k, _, err := keyring.LoadRootKey(string(cfg.MasterKey), cfg.MasterKeyFile, cfg.DataDir, log.With("component", "keyring"))
	return k, err
}

// openKeyring loads the root key and the keyring of k's database.
func (k *Keep) openKeyring(ctx context.Context) (*keyring.Ring, error) {
	root, err := rootKey(k.cfg, k.log)
	if err != nil {
		return nil, err
	}
	ring, err := keyring.Open(ctx, k.db, root)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return ring, nil
}

// workerID names this process as a job lease holder.
func workerID(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// keyAdmin backs GET /api/admin/keys and POST /api/admin/keys/rotate.
type keyAdmin struct{ k *Keep }

// KeyStatus lists the keys and the latest re-encryption jobs.
func (a keyAdmin) KeyStatus(ctx context.Context) (keyring.Status, error) {
	return keyring.ReadStatus(ctx, a.k.db)
}

// RotateDataKey makes a new data key current and starts its re-encryption
// job, which this server's worker picks up within keyJobPoll.
func (a keyAdmin) RotateDataKey(ctx context.Context) (keyring.Job, error) {
	ring := a.k.Records.Keyring()
	var key keyring.KeyID
	var jobID string
	err := a.k.db.Tx(ctx, func(q store.Querier) error {
		var err error
		if key, jobID, err = ring.Rotate(ctx, q); err != nil {
			return err
		}
		return a.k.Audit.Append(ctx, q, audit.Event{Action: "keys.rotate", Target: "data-key:" + key.String(),
			Details: map[string]any{"job": jobID}})
	})
	if err != nil {
		return keyring.Job{}, fmt.Errorf("rotate data key: %w", err)
	}
	a.k.log.Info("data key rotated", "component", "keyring", "key", key.String(), "job", jobID)
	return keyring.GetJob(ctx, a.k.db, jobID)
}

// runKeyJobs works re-encryption jobs until ctx ends.
func (k *Keep) runKeyJobs(ctx context.Context) {
	log := k.log.With("component", "keyring")
	owner := workerID("server")
	t := time.NewTicker(keyJobPoll)
	defer t.Stop()
	for {
		if err := workKeyJobs(ctx, k.db, k.Records, owner, log, nil); err != nil && ctx.Err() == nil {
			log.Error("re-encryption", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ReencryptNow works every pending re-encryption job to the end in this
// goroutine; tests use it to finish a rotation without a server loop.
func (k *Keep) ReencryptNow(ctx context.Context) error {
	return workKeyJobs(ctx, k.db, k.Records, workerID("now"), k.log.With("component", "keyring"), nil)
}

// workKeyJobs claims and works jobs until none is left to claim.
func workKeyJobs(ctx context.Context, db store.DB, rec *records.Service, owner string, log *slog.Logger, progress func(keyring.Job)) error {
	for {
		job, ok, err := keyring.Claim(ctx, db, owner, keyJobLease)
		if err != nil || !ok {
			return err
		}
		log.Info("re-encryption started", "job", job.ID, "key", job.Key, "owner", owner)
		err = rec.Reencrypt(ctx, &job, owner, keyJobLease, progress)
		switch {
		case errors.Is(err, keyring.ErrLeaseLost):
			log.Info("re-encryption handed over (superseded or taken over)", "job", job.ID)
		case err != nil:
			// Let another worker, or the command following this one,
			// take the job and meet the error itself, rather than claiming
			// it back here for ever while it waits.
			if rerr := keyring.Release(context.WithoutCancel(ctx), db, job.ID, owner); rerr != nil {
				log.Warn("re-encryption: releasing the job", "job", job.ID, "err", rerr)
			}
			return fmt.Errorf("job %s: %w", job.ID, err)
		default:
			log.Info("re-encryption finished", "job", job.ID, "records", job.Done, "rewritten", job.Rewritten)
		}
	}
}

// ServerWait is how long `keep keys rotate` gives a running server to take
// the job it started by default: one poll of the server's worker, and a
// second to spare.
const ServerWait = keyJobPoll + time.Second

// RotateDataKey is `keep keys rotate`: it makes a new data key current in
// the database cfg names (servers on it seal with it from their next write)
// and starts the re-encryption job. With wait, it follows the job to its
// end, calling progress after each batch: a server that takes the job
// within serverWait works it and this follows; otherwise this works it in
// the foreground. A server's worker is preferred because the job's batches
// then go through the server's own writer, queued with its requests' writes:
// on SQLite a second process's batches make the server's writes wait on the
// file lock (beside creates, p99 0.3–1.1 s against 20 ms; docs/perf.md).
func RotateDataKey(ctx context.Context, cfg config.Config, log *slog.Logger, wait bool, serverWait time.Duration, progress func(keyring.Job)) (job keyring.Job, err error) {
	k, err := New(ctx, cfg, log, false)
	if err != nil {
		return keyring.Job{}, err
	}
	defer func() {
		if cerr := k.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close store: %w", cerr)
		}
	}()
	ctx = cliRequest(ctx)
	job, err = keyAdmin{k}.RotateDataKey(ctx)
	if err == nil {
		_, err = k.Audit.Seal(ctx)
	}
	if err != nil || !wait {
		return job, err
	}
	// report remembers what it last showed, so that the job's end is shown
	// once also when another process worked it.
	var last keyring.Job
	report := func(j keyring.Job) {
		last = j
		if progress != nil {
			progress(j)
		}
	}
	report(job)
	if job, err = awaitClaim(ctx, k.db, job, serverWait); err != nil {
		return job, err
	}
	owner := workerID("cli")
	for {
		if err := workKeyJobs(ctx, k.db, k.Records, owner, k.log.With("component", "keyring"), report); err != nil {
			return job, err
		}
		job, err = keyring.GetJob(ctx, k.db, job.ID)
		if err != nil {
			return job, err
		}
		if job.State != keyring.JobRunning {
			if job.ID != last.ID || job.State != last.State || job.Done != last.Done {
				report(job)
			}
			return job, nil
		}
		// Another process holds the lease: follow its progress.
		report(job)
		select {
		case <-ctx.Done():
			return job, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// awaitClaim waits up to d for another process to take job, and returns
// the job as it last read it: taken, no longer running, or as it was.
func awaitClaim(ctx context.Context, db store.DB, job keyring.Job, d time.Duration) (keyring.Job, error) {
	const every = 100 * time.Millisecond
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return job, ctx.Err()
		case <-time.After(min(every, time.Until(deadline))):
		}
		next, err := keyring.GetJob(ctx, db, job.ID)
		if err != nil {
			return job, err
		}
		if job = next; job.Owner != "" || job.State != keyring.JobRunning {
			return job, nil
		}
	}
	return job, nil
}

// RotateMasterKey is `keep keys rotate-master`: it re-wraps every stored
// key under the root key in newKeyFile, in one transaction, without
// touching records. Servers keep running on the keys they have unwrapped;
// restart them with the new root key before rotating data keys again.
func RotateMasterKey(ctx context.Context, cfg config.Config, log *slog.Logger, newKeyFile string) (n int, err error) {
	next, err := keyring.ReadRootKeyFile(newKeyFile)
	if err != nil {
		return 0, err
	}
	old, err := rootKey(cfg, log)
	if err != nil {
		return 0, err
	}
	db, err := OpenStore(ctx, cfg, log)
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close store: %w", cerr)
		}
	}()
	// Opening first makes the keys exist and proves the old root opens them.
	if _, err := keyring.Open(ctx, db, old); err != nil {
		return 0, err
	}
	alog, err := openAudit(ctx, cfg, db, log)
	if err != nil {
		return 0, err
	}
	ctx = cliRequest(ctx)
	err = db.Tx(ctx, func(q store.Querier) error {
		if n, err = keyring.RotateMaster(ctx, q, old, next); err != nil {
			return err
		}
		return alog.Append(ctx, q, audit.Event{Action: "keys.rotate_master", Target: "root-key",
			Details: map[string]any{"keys_rewrapped": n}})
	})
	if err != nil {
		return 0, fmt.Errorf("rotate master key: %w", err)
	}
	if _, err := alog.Seal(ctx); err != nil {
		return n, err
	}
	log.Info("root key rotated: every stored key is re-wrapped", "component", "keyring", "keys", n)
	return n, nil
}
