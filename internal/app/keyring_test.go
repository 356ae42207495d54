package app

import (
	"context"
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
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	log := slog.New(slog.DiscardHandler)
	srv, err := New(ctx, cfg, log, false)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if _, err := srv.Records.CreateCollection(ctx, records.CollectionInput{Name: "people", Fields: []records.Field{
		{Name: "ssn", Type: records.TypeText, Encrypted: true},
	}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := srv.Records.Create(ctx, records.Caller{Superuser: true}, "people", records.Body{"ssn": []byte(`"123"`)}); err != nil {
			t.Fatal(err)
		}
	}

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
