package keyring

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/keep-dev/keep/internal/store"
)

// Job states.
const (
	JobRunning    = "running"
	JobDone       = "done"
	JobSuperseded = "superseded"
)

// ErrLeaseLost means another worker took over a job (this one was too slow
// to renew its lease); the worker must stop.
var ErrLeaseLost = errors.New("keyring: the job's lease was lost")

// Rotate makes a new data key current through q, the caller's transaction
// (so that, say, an audit entry commits with it), supersedes running
// re-encryption jobs and starts one for the new key. New writes in every
// process use the new key from the commit on (see Sealer); older keys keep
// opening.
//
// Rotate refuses (ErrWrongRootKey) when root does not open the current data
// key: a process still running on the root key that rotate-master replaced
// must not add a key wrapped under the old root, which would leave the table
// with keys no single root key opens.
func Rotate(ctx context.Context, q store.Querier, root RootKey) (key KeyID, jobID string, err error) {
	now := time.Now().UnixMilli()
	// Lock the current key's row first (a no-op update): on PostgreSQL this
	// orders the rotation after rotate-master and after every write that
	// sealed under the current key (Sealer reads it FOR SHARE), so no
	// in-flight write can commit a value under the old key after the job
	// has passed it.
	if _, err := q.Exec(ctx, `UPDATE _keep_keys SET state = state WHERE purpose = ? AND state = ?`, PurposeData, StateCurrent); err != nil {
		return KeyID{}, "", err
	}
	var curID, wrapped string
	switch err := q.QueryRow(ctx, `SELECT id, wrapped FROM _keep_keys WHERE purpose = ? AND state = ?`, PurposeData, StateCurrent).Scan(&curID, &wrapped); {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return KeyID{}, "", err
	default:
		kid, err := ParseKeyID(curID)
		if err != nil {
			return KeyID{}, "", err
		}
		k, err := unwrap(root, kid, PurposeData, wrapped)
		if err != nil {
			return KeyID{}, "", fmt.Errorf("%w: the keys were re-wrapped (keep keys rotate-master?); restart this process with the new root key", ErrWrongRootKey)
		}
		clear(k)
	}
	if _, err := q.Exec(ctx, `UPDATE _keep_keys SET state = ?, rotated = ? WHERE purpose = ? AND state = ?`,
		StateActive, now, PurposeData, StateCurrent); err != nil {
		return KeyID{}, "", err
	}
	if key, err = insertKey(ctx, q, root, PurposeData); err != nil {
		return KeyID{}, "", err
	}
	if _, err := q.Exec(ctx, `UPDATE _keep_key_jobs SET state = ?, finished = ? WHERE state = ?`, JobSuperseded, now, JobRunning); err != nil {
		return KeyID{}, "", err
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	jobID = "j" + hex.EncodeToString(b[:])
	if _, err := q.Exec(ctx, `INSERT INTO _keep_key_jobs (id, key_id, state, created) VALUES (?, ?, ?, ?)`,
		jobID, key.String(), JobRunning, now); err != nil {
		return KeyID{}, "", err
	}
	return key, jobID, nil
}

// Rotate is Rotate with this ring's root key.
func (r *Ring) Rotate(ctx context.Context, q store.Querier) (KeyID, string, error) {
	return Rotate(ctx, q, r.root)
}

// RotateMaster re-wraps every stored key under next through q, the
// caller's transaction; records are not touched. It fails, changing
// nothing, when a key does not open under old. It returns how many keys it
// re-wrapped. Processes running with old keep working with the keys they
// have unwrapped, but cannot load keys made after this: restart them with
// the new root key.
func RotateMaster(ctx context.Context, q store.Querier, old, next RootKey) (int, error) {
	if !old.valid() || !next.valid() {
		return 0, errors.New("keyring: no root key")
	}
	type row struct{ id, purpose, wrapped string }
	// Lock every key row first (a no-op update), so a rotation running
	// meanwhile in another process either commits before (and its key is
	// re-wrapped here) or waits and then finds the new root (see Rotate).
	if _, err := q.Exec(ctx, `UPDATE _keep_keys SET wrapped = wrapped`); err != nil {
		return 0, err
	}
	rows, err := q.Query(ctx, `SELECT id, purpose, wrapped FROM _keep_keys ORDER BY id`)
	if err != nil {
		return 0, err
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.purpose, &r.wrapped); err != nil {
			rows.Close()
			return 0, err
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, r := range all {
		kid, err := ParseKeyID(r.id)
		if err != nil {
			return 0, err
		}
		key, err := unwrap(old, kid, r.purpose, r.wrapped)
		if err != nil {
			return 0, err
		}
		w, err := wrap(next, kid, r.purpose, key)
		clear(key)
		if err != nil {
			return 0, err
		}
		if _, err := q.Exec(ctx, `UPDATE _keep_keys SET wrapped = ? WHERE id = ?`, w, r.id); err != nil {
			return 0, err
		}
	}
	return len(all), nil
}

// KeyInfo describes a stored key; it holds nothing secret.
type KeyInfo struct {
	ID      string     `json:"id"`
	Purpose string     `json:"purpose"`
	State   string     `json:"state"`
	Created time.Time  `json:"created"`
	Rotated *time.Time `json:"rotated"`
}

// Job is a re-encryption job and its progress.
type Job struct {
	ID        string     `json:"id"`
	Key       string     `json:"key_id"`
	State     string     `json:"state"`
	Total     int64      `json:"total"`
	Done      int64      `json:"done"`
	Rewritten int64      `json:"rewritten"`
	Created   time.Time  `json:"created"`
	Finished  *time.Time `json:"finished"`
	Cursor    string     `json:"-"`
	Owner     string     `json:"-"`
}

func millis(v int64) time.Time { return time.UnixMilli(v).UTC() }

func millisPtr(v *int64) *time.Time {
	if v == nil {
		return nil
	}
	t := millis(*v)
	return &t
}

// Keys lists the stored keys, newest first.
func Keys(ctx context.Context, q store.Querier) ([]KeyInfo, error) {
	rows, err := q.Query(ctx, `SELECT id, purpose, state, created, rotated FROM _keep_keys ORDER BY created DESC, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []KeyInfo{}
	for rows.Next() {
		var k KeyInfo
		var created int64
		var rotated *int64
		if err := rows.Scan(&k.ID, &k.Purpose, &k.State, &created, &rotated); err != nil {
			return nil, err
		}
		k.Created, k.Rotated = millis(created), millisPtr(rotated)
		out = append(out, k)
	}
	return out, rows.Err()
}

const jobColumns = `id, key_id, state, total, done, rewritten, cursor, lease_owner, created, finished`

func scanJob(row interface{ Scan(...any) error }) (Job, error) {
	var j Job
	var created int64
	var finished *int64
	err := row.Scan(&j.ID, &j.Key, &j.State, &j.Total, &j.Done, &j.Rewritten, &j.Cursor, &j.Owner, &created, &finished)
	j.Created, j.Finished = millis(created), millisPtr(finished)
	return j, err
}

// Jobs lists the latest re-encryption jobs, newest first.
func Jobs(ctx context.Context, q store.Querier, limit int) ([]Job, error) {
	rows, err := q.Query(ctx, `SELECT `+jobColumns+` FROM _keep_key_jobs ORDER BY created DESC, id LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Job{}
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// GetJob reads one job; a missing one is store.ErrNotFound.
func GetJob(ctx context.Context, q store.Querier, id string) (Job, error) {
	return scanJob(q.QueryRow(ctx, `SELECT `+jobColumns+` FROM _keep_key_jobs WHERE id = ?`, id))
}

// Claim takes the oldest running job whose lease has expired (or that
// owner already holds) for lease, and returns it; ok is false when there is
// none. Only one worker holds a job at a time: the conditional update
// decides.
func Claim(ctx context.Context, db store.DB, owner string, lease time.Duration) (job Job, ok bool, err error) {
	err = db.Tx(ctx, func(q store.Querier) error {
		now := time.Now().UnixMilli()
		var id string
		err := q.QueryRow(ctx, `SELECT id FROM _keep_key_jobs WHERE state = ? AND (lease_until < ? OR lease_owner = ?) ORDER BY created LIMIT 1`,
			JobRunning, now, owner).Scan(&id)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		n, err := q.Exec(ctx, `UPDATE _keep_key_jobs SET lease_owner = ?, lease_until = ? WHERE id = ? AND state = ? AND (lease_until < ? OR lease_owner = ?)`,
			owner, now+lease.Milliseconds(), id, JobRunning, now, owner)
		if err != nil || n == 0 {
			return err
		}
		job, err = GetJob(ctx, q, id)
		ok = err == nil
		return err
	})
	if err != nil {
		return Job{}, false, fmt.Errorf("keyring: claiming a job: %w", err)
	}
	return job, ok, nil
}

// Progress records a batch of job through q (the batch's transaction) and
// renews the lease: ErrLeaseLost when owner no longer holds it, or the job
// was superseded, so the batch rolls back. A negative total leaves it.
func Progress(ctx context.Context, q store.Querier, job *Job, owner string, lease time.Duration) error {
	now := time.Now().UnixMilli()
	n, err := q.Exec(ctx, `UPDATE _keep_key_jobs SET total = ?, done = ?, rewritten = ?, cursor = ?, lease_until = ?
		WHERE id = ? AND state = ? AND lease_owner = ?`,
		job.Total, job.Done, job.Rewritten, job.Cursor, now+lease.Milliseconds(), job.ID, JobRunning, owner)
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrLeaseLost
	}
	return nil
}

// Release gives up owner's lease on the running job id at once, so that
// another worker (or the `keep keys rotate` following it) may claim it
// instead of waiting for the lease to run out. A worker whose batch failed
// releases the job: otherwise it would claim its own job again and again
// and nobody else would see the error.
func Release(ctx context.Context, db store.DB, id, owner string) error {
	return db.Tx(ctx, func(q store.Querier) error {
		_, err := q.Exec(ctx, `UPDATE _keep_key_jobs SET lease_until = 0 WHERE id = ? AND state = ? AND lease_owner = ?`,
			id, JobRunning, owner)
		return err
	})
}

// Finish marks job done through q and releases its lease.
func Finish(ctx context.Context, q store.Querier, job *Job, owner string) error {
	n, err := q.Exec(ctx, `UPDATE _keep_key_jobs SET state = ?, done = ?, rewritten = ?, total = ?, cursor = ?, finished = ?, lease_until = 0
		WHERE id = ? AND state = ? AND lease_owner = ?`,
		JobDone, job.Done, job.Rewritten, job.Total, job.Cursor, time.Now().UnixMilli(), job.ID, JobRunning, owner)
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrLeaseLost
	}
	job.State = JobDone
	return nil
}

// Status is what GET /api/admin/keys shows: the keys and the latest jobs.
type Status struct {
	Keys []KeyInfo `json:"keys"`
	Jobs []Job     `json:"jobs"`
}

// ReadStatus reads the keys and the ten latest jobs.
func ReadStatus(ctx context.Context, q store.Querier) (Status, error) {
	keys, err := Keys(ctx, q)
	if err != nil {
		return Status{}, err
	}
	jobs, err := Jobs(ctx, q, 10)
	if err != nil {
		return Status{}, err
	}
	return Status{Keys: keys, Jobs: jobs}, nil
}
