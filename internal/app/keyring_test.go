package app

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/keep-dev/keep/internal/config"
	"github.com/keep-dev/keep/internal/keyring"
	"github.com/keep-dev/keep/internal/records"
)

// TestRotateDataKeyLeavesTheJobToAServer: `keep keys rotate` works the job
// it started itself when no server takes it, and leaves it to a server's
// worker that does (whose writer then queues the job's batches with its
// own writes), following it to the end.
func TestRotateDataKeyLeavesTheJobToAServer(t *testing.T) {
	ctx := context.Background()
	srv, cfg, log := keepWithPeople(t, 3)

	// Nothing takes it: the command works it at once.
	var shown []keyring.Job
	progress := func(j keyring.Job) { shown = append(shown, j) }
	job, err := RotateDataKey(ctx, cfg, log, true, 0, progress)
	if err != nil {
		t.Fatal(err)
	}
	if job.State != keyring.JobDone || job.Done != 3 || !strings.HasPrefix(job.Owner, "cli-") {
		t.Fatalf("without a server: job %+v, want done by the command (owner cli-…)", job)
	}
	checkShown(t, shown, job)

	// Nothing takes it within the wait: the command works it after the wait.
	start := time.Now()
	job, err = RotateDataKey(ctx, cfg, log, true, 200*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); job.State != keyring.JobDone || !strings.HasPrefix(job.Owner, "cli-") || waited < 200*time.Millisecond {
		t.Fatalf("after a wait with no server: job %+v after %v, want done by the command after the wait", job, waited)
	}
	// Ending the command during the wait ends the wait.
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := RotateDataKey(cctx, cfg, log, true, time.Minute, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled during the wait: %v, want context.DeadlineExceeded", err)
	}
	if err := srv.ReencryptNow(ctx); err != nil { // the job that command left
		t.Fatal(err)
	}

	// A server's worker (here polling more often than a server's) takes it.
	wctx, stop := context.WithCancel(ctx)
	worked := make(chan error, 1)
	go func() {
		for wctx.Err() == nil {
			if err := srv.ReencryptNow(wctx); err != nil && wctx.Err() == nil {
				worked <- err
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		worked <- nil
	}()
	shown = nil
	job, err = RotateDataKey(ctx, cfg, log, true, time.Minute, progress)
	stop()
	if werr := <-worked; werr != nil {
		t.Fatalf("server worker: %v", werr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if job.State != keyring.JobDone || job.Done != 3 || !strings.HasPrefix(job.Owner, "now-") {
		t.Fatalf("beside a server: job %+v, want done by the server's worker (owner now-…)", job)
	}
	checkShown(t, shown, job)
}

// keepWithPeople opens a Keep on a fresh data dir holding n records of a
// collection with one encrypted field, and returns it with its
// configuration and logger; the Keep is closed when the test ends.
func keepWithPeople(t *testing.T, n int) (*Keep, config.Config, *slog.Logger) {
	t.Helper()
	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	log := slog.New(slog.DiscardHandler)
	k, err := New(ctx, cfg, log, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	if _, err := k.Records.CreateCollection(ctx, records.CollectionInput{Name: "people", Fields: []records.Field{
		{Name: "ssn", Type: records.TypeText, Encrypted: true},
	}}); err != nil {
		t.Fatal(err)
	}
	for range n {
		if _, err := k.Records.Create(ctx, records.Caller{Superuser: true}, "people", records.Body{"ssn": []byte(`"123"`)}); err != nil {
			t.Fatal(err)
		}
	}
	return k, cfg, log
}

// checkShown: the progress shown ends with the job done, shown once.
func checkShown(t *testing.T, shown []keyring.Job, job keyring.Job) {
	t.Helper()
	done := 0
	for _, j := range shown {
		if j.ID == job.ID && j.State == keyring.JobDone {
			done++
		}
	}
	if n := len(shown); n == 0 || shown[n-1].ID != job.ID || shown[n-1].State != keyring.JobDone || done != 1 {
		t.Fatalf("progress shown %+v, want it to end with job %s done, once", shown, job.ID)
	}
}

// TestWorkKeyJobsReleasesOnError: a worker whose batch fails gives up the
// job's lease at once, so that another worker, or `keep keys rotate`
// following it, takes the job and meets the error itself instead of
// waiting on a lease the failing worker keeps renewing.
func TestWorkKeyJobsReleasesOnError(t *testing.T) {
	ctx := context.Background()
	k, _, log := keepWithPeople(t, records.ReencryptBatch+1)
	if _, err := (keyAdmin{k}).RotateDataKey(cliRequest(ctx)); err != nil {
		t.Fatal(err)
	}
	// The worker's context ends after its first batch: its next fails.
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	err := workKeyJobs(wctx, k.db, k.Records, "w1", log, func(keyring.Job) { stop() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("workKeyJobs = %v, want context.Canceled", err)
	}
	job, ok, err := keyring.Claim(ctx, k.db, "w2", time.Hour)
	if err != nil || !ok || job.Done != records.ReencryptBatch {
		t.Fatalf("claim after the failed batch: %+v %v %v, want the job, one batch done", job, ok, err)
	}
}
