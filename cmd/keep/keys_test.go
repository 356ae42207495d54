package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keep-dev/keep/internal/app"
	"github.com/keep-dev/keep/internal/config"
	"github.com/keep-dev/keep/internal/keyring"
	"github.com/keep-dev/keep/internal/records"
)

// TestKeysRotateCommands runs `keep keys rotate` and `keep keys
// rotate-master` against a data directory with encrypted records: the job
// id is printed and the job finishes in the foreground, and after
// rotate-master the records open with the new root key only.
func TestKeysRotateCommands(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	cfg := config.Default()
	cfg.DataDir = data
	log := slog.New(slog.DiscardHandler)
	k, err := app.New(ctx, cfg, log, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Records.CreateCollection(ctx, records.CollectionInput{Name: "people", Fields: []records.Field{
		{Name: "ssn", Type: records.TypeText, Encrypted: true, Searchable: true},
	}}); err != nil {
		t.Fatal(err)
	}
	rec, err := k.Records.Create(ctx, records.Caller{Superuser: true}, "people", records.Body{"ssn": []byte(`"123"`)})
	if err != nil {
		t.Fatal(err)
	}
	k.Close()

	var stdout, stderr bytes.Buffer
	env := func(string) string { return "" }
	if err := run(ctx, []string{"keys", "rotate", "--data", data, "--server-wait", "0"}, nil, &stdout, &stderr, env); err != nil {
		t.Fatalf("keys rotate: %v\n%s", err, stderr.String())
	}
	if !regexp.MustCompile(`^j[0-9a-f]{16}\n$`).MatchString(stdout.String()) || !strings.Contains(stderr.String(), "done, 1 of 1 records visited, 1 rewritten") {
		t.Fatalf("keys rotate printed %q, progress %q", stdout.String(), stderr.String())
	}

	_, text := keyring.NewRootKey()
	newFile := filepath.Join(t.TempDir(), "new.key")
	if err := os.WriteFile(newFile, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, []string{"keys", "rotate-master", "--data", data}, nil, &stdout, &stderr, env); err == nil {
		t.Fatal("rotate-master without --new-master-key-file succeeded")
	}
	stdout.Reset()
	if err := run(ctx, []string{"keys", "rotate-master", "--data", data, "--new-master-key-file", newFile}, nil, &stdout, &stderr, env); err != nil {
		t.Fatalf("keys rotate-master: %v\n%s", err, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "3 keys re-wrapped") {
		t.Fatalf("rotate-master printed %q", stdout.String())
	}
	if _, err := app.New(ctx, cfg, log, false); err == nil {
		t.Fatal("the old root key (the dev file) still opens the keyring")
	}
	cfg.MasterKeyFile = newFile
	k, err = app.New(ctx, cfg, log, false)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	got, err := k.Records.Get(ctx, records.Caller{Superuser: true}, "people", rec.ID(), records.ViewOptions{})
	if err != nil || got["ssn"] != "123" {
		t.Fatalf("after rotate-master: %v, %v", got, err)
	}
}
