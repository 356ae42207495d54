package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildKeep builds the binary once per test run.
func buildKeep(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "keep")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitHealthy(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("keep serve did not answer /healthz")
}

// TestServeOnSQLite is the README's first command: keep serve on embedded
// SQLite answers /healthz, a superuser can be created beside the running
// server, and SIGTERM shuts it down cleanly.
func TestServeOnSQLite(t *testing.T) {
	bin := buildKeep(t)
	data := filepath.Join(t.TempDir(), "keep_data")
	addr, metricsAddr := freeAddr(t), freeAddr(t)
	var logs bytes.Buffer
	srv := exec.Command(bin, "serve", "--data", data, "--http", addr, "--metrics-http", metricsAddr)
	srv.Stderr = &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Process.Kill()
	base := "http://" + addr
	waitHealthy(t, base)

	// superuser create works while the server runs on the same data.
	create := exec.Command(bin, "superuser", "create", "--data", data, "--email", "root@example.com", "--password-stdin")
	create.Stdin = strings.NewReader("a fine password\n")
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("superuser create: %v: %s", err, out)
	} else if strings.Contains(string(out), "a fine password") {
		t.Fatal("superuser create echoed the password")
	}
	res, err := http.Post(base+"/api/auth/login", "application/json",
		strings.NewReader(`{"email":"root@example.com","password":"a fine password"}`))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(res.Body).Decode(&tok)
	res.Body.Close()
	if res.StatusCode != 200 || tok.AccessToken == "" {
		t.Fatalf("login as the new superuser: %d", res.StatusCode)
	}
	req, _ := http.NewRequest("GET", base+"/api/collections", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("superuser route: %d", res.StatusCode)
	}

	// The separate metrics listener answers scrapers without a token; the
	// main listener does not.
	res, err = http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "keep_http_requests_total") {
		t.Fatalf("metrics listener: %d", res.StatusCode)
	}
	if res, err = http.Get(base + "/metrics"); err != nil || res.StatusCode != 401 {
		t.Fatalf("main listener /metrics without a token: %v %v", res.StatusCode, err)
	}
	res.Body.Close()

	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("keep serve exited with %v: %s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("keep serve did not stop on SIGTERM")
	}
	if strings.Contains(logs.String(), "a fine password") || strings.Contains(logs.String(), tok.AccessToken) {
		t.Fatal("a secret reached the server log")
	}
}

func TestCommands(t *testing.T) {
	ctx := context.Background()
	env := func(string) string { return "" }
	tests := []struct {
		name    string
		args    []string
		stdin   string
		wantErr string
		wantOut string
	}{
		{"version", []string{"version"}, "", "", "keep "},
		{"help", []string{"help"}, "", "", "keep serve"},
		{"no command", nil, "", "no command", ""},
		{"unknown", []string{"frobnicate"}, "", "unknown command", ""},
		{"password in argv is not a flag", []string{"superuser", "create", "--email", "a@b.co", "--password", "x"}, "", "flag provided but not defined", ""},
		{"stdin required", []string{"superuser", "create", "--email", "a@b.co"}, "", "--password-stdin", ""},
		{"bad db url", []string{"serve", "--db", "mysql://x"}, "", "postgres://", ""},
		{"bad listen address", []string{"serve", "--http", "nonsense"}, "", "host:port", ""},
		{"weak password", []string{"superuser", "create", "--data", t.TempDir(), "--email", "a@b.co", "--password-stdin"}, "short\n", "password", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(ctx, tt.args, strings.NewReader(tt.stdin), &out, &errb, env)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error()+errb.String(), tt.wantErr)) {
				t.Fatalf("error %v (stderr %q), want %q", err, errb.String(), tt.wantErr)
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Fatalf("stdout %q, want %q", out.String(), tt.wantOut)
			}
		})
	}
}

func TestEnvironmentConfiguresServe(t *testing.T) {
	// KEEP_* variables are read; a flag overrides them.
	var errb bytes.Buffer
	err := run(context.Background(), []string{"serve", "--log-level", "loud"}, nil, io.Discard, &errb,
		func(k string) string { return map[string]string{"KEEP_HTTP": "bad"}[k] })
	if err == nil || !strings.Contains(err.Error(), "--http") || !strings.Contains(err.Error(), "--log-level") {
		t.Fatalf("want both problems reported at once, got %v", err)
	}
}
