package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/keep-dev/keep/internal/app"
	"github.com/keep-dev/keep/internal/config"
	"github.com/keep-dev/keep/internal/keyring"
)

// keysRotate makes a new field-encryption data key current and starts the
// re-encryption of older ciphertexts. It prints the job id on stdout (for
// scripts) and, unless --no-wait, follows the job to its end with progress
// on stderr: a running server takes it within --server-wait, or this
// command works it in the foreground. It is safe while servers run on the
// same data: they seal with the new key from their next write, and the
// job's lease lets only one process work it.
func keysRotate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var noWait bool
	var serverWait time.Duration
	cfg, err := config.Load("keys rotate", args, getenv, false, func(fs *flag.FlagSet) {
		fs.BoolVar(&noWait, "no-wait", false, "return once the job is started; running servers re-encrypt in the background")
		fs.DurationVar(&serverWait, "server-wait", app.ServerWait, "how long to give a running server to take the job before working it here (0: at once)")
	}, stderr)
	if err != nil {
		return err
	}
	printed := false
	job, err := app.RotateDataKey(ctx, cfg, app.NewLogger(stderr, cfg), !noWait, serverWait, func(j keyring.Job) {
		if !printed {
			fmt.Fprintln(stdout, j.ID)
			printed = true
		}
		fmt.Fprintf(stderr, "job %s (key %s): %s, %d of %d records visited, %d rewritten\n", j.ID, j.Key, j.State, j.Done, j.Total, j.Rewritten)
	})
	if err != nil {
		return err
	}
	if !printed {
		fmt.Fprintln(stdout, job.ID)
	}
	return nil
}

// keysRotateMaster re-wraps every data key under a new root key.
func keysRotateMaster(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var next string
	cfg, err := config.Load("keys rotate-master", args, getenv, false, func(fs *flag.FlagSet) {
		fs.StringVar(&next, "new-master-key-file", "", "file holding the new root key, base64 of 32 bytes, mode 0600 (required)")
	}, stderr)
	if err != nil {
		return err
	}
	if next == "" {
		return errors.New("--new-master-key-file is required")
	}
	n, err := app.RotateMasterKey(ctx, cfg, app.NewLogger(stderr, cfg), next)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d keys re-wrapped; restart every server with the new root key (--master-key-file %s)\n", n, next)
	return nil
}
