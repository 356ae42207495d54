package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/keep-dev/keep/internal/app"
	"github.com/keep-dev/keep/internal/auth"
	"github.com/keep-dev/keep/internal/config"
	"github.com/keep-dev/keep/internal/secretbox"
	"github.com/keep-dev/keep/internal/store/enginetest"
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

// TestHashWorker: with --hash-priority idle (or KEEP_HASH_PRIORITY) keep
// serve hashes passwords in one worker process, the same binary with no
// environment, every thread of it at SCHED_IDLE; logins work through it; it
// ends with the server, also when the server is killed (its stdin closes).
// By default, and with normal, there is no worker.
func TestHashWorker(t *testing.T) {
	bin := buildKeep(t)
	for _, tt := range []struct {
		name       string
		args, env  []string
		wantWorker bool
		kill       bool // SIGKILL instead of SIGTERM
	}{
		{"default", nil, nil, false, false},
		{"flag idle", []string{"--hash-priority", "idle"}, nil, true, false},
		{"env idle, server killed", nil, []string{"KEEP_HASH_PRIORITY=idle"}, true, true},
		{"flag normal", []string{"--hash-priority", "normal"}, nil, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "keep_data")
			create := exec.Command(bin, "superuser", "create", "--data", data, "--email", "root@example.com", "--password-stdin")
			create.Stdin = strings.NewReader("a fine password\n")
			if out, err := create.CombinedOutput(); err != nil {
				t.Fatalf("superuser create: %v: %s", err, out)
			}
			addr := freeAddr(t)
			var logs bytes.Buffer
			srv := exec.Command(bin, append([]string{"serve", "--data", data, "--http", addr}, tt.args...)...)
			srv.Env = append(os.Environ(), append(tt.env, "KEEP_DB_SECRET_PROBE=hunter2")...)
			srv.Stderr = &logs
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			defer srv.Process.Kill()
			waitHealthy(t, "http://"+addr)
			for range 3 {
				res, err := http.Post("http://"+addr+"/api/auth/login", "application/json",
					strings.NewReader(`{"email":"root@example.com","password":"a fine password"}`))
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != 200 {
					t.Fatalf("login: %d", res.StatusCode)
				}
			}
			kids := childPIDs(t, srv.Process.Pid)
			if !tt.wantWorker {
				if len(kids) != 0 {
					t.Fatalf("children %v without --hash-priority idle", kids)
				}
				return
			}
			if len(kids) != 1 {
				t.Fatalf("keep serve has children %v, want one hash worker", kids)
			}
			worker := kids[0]
			proc := filepath.Join("/proc", strconv.Itoa(worker))
			if cmdline, _ := os.ReadFile(filepath.Join(proc, "cmdline")); string(cmdline) != "/proc/self/exe\x00__keep-hash-worker\x00" {
				t.Errorf("worker command line %q", cmdline)
			}
			if env, _ := os.ReadFile(filepath.Join(proc, "environ")); strings.Contains(string(env), "hunter2") || strings.Contains(string(env), "KEEP_") {
				t.Errorf("the server's environment reached the worker: %q", env)
			}
			tasks, err := os.ReadDir(filepath.Join(proc, "task"))
			if err != nil {
				t.Fatal(err)
			}
			for _, task := range tasks {
				tid, _ := strconv.Atoi(task.Name())
				if attr, err := unix.SchedGetAttr(tid, 0); err != nil || attr.Policy != unix.SCHED_IDLE {
					t.Errorf("worker thread %d: policy %v, %v; want SCHED_IDLE", tid, attr, err)
				}
			}
			if strings.Contains(logs.String(), "hash worker") {
				t.Errorf("the worker failed: %s", logs.String())
			}
			if tt.kill {
				_ = srv.Process.Kill()
				_ = srv.Wait()
			} else {
				if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
				if err := srv.Wait(); err != nil {
					t.Fatalf("keep serve: %v: %s", err, logs.String())
				}
			}
			// Gone, or a zombie waiting for whoever inherited it.
			deadline := time.Now().Add(10 * time.Second)
			for {
				stat, err := os.ReadFile(filepath.Join(proc, "stat"))
				if errors.Is(err, os.ErrNotExist) || strings.Contains(string(stat), ") Z ") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the worker outlived the server: %s", stat)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// childPIDs lists the processes pid started (Linux /proc).
func childPIDs(t *testing.T, pid int) []int {
	t.Helper()
	tasks, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
	if err != nil {
		t.Fatal(err)
	}
	var kids []int
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "task", task.Name(), "children"))
		if err != nil {
			continue // the thread ended
		}
		for _, f := range strings.Fields(string(b)) {
			n, _ := strconv.Atoi(f)
			kids = append(kids, n)
		}
	}
	return kids
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
		{"help", []string{"help"}, "", "", "keep keys rotate-signing"},
		{"no command", nil, "", "no command", ""},
		{"unknown", []string{"frobnicate"}, "", "unknown command", ""},
		{"password in argv is not a flag", []string{"superuser", "create", "--email", "a@b.co", "--password", "x"}, "", "flag provided but not defined", ""},
		{"stdin required", []string{"superuser", "create", "--email", "a@b.co"}, "", "--password-stdin", ""},
		{"bad db url", []string{"serve", "--db", "mysql://x"}, "", "postgres://", ""},
		{"bad listen address", []string{"serve", "--http", "nonsense"}, "", "host:port", ""},
		{"bad hash priority", []string{"serve", "--hash-priority", "high"}, "", "--hash-priority must be idle or normal", ""},
		{"keys without a subcommand", []string{"keys"}, "", "keys rotate-signing", ""},
		{"keys unknown subcommand", []string{"keys", "list"}, "", "keys rotate-signing", ""},
		{"rotate-signing bad db url", []string{"keys", "rotate-signing", "--db", "mysql://x"}, "", "postgres://", ""},
		{"rotate-signing extra argument", []string{"keys", "rotate-signing", "now"}, "", "unexpected arguments", ""},
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

// TestKeysRotateSigning runs `keep keys rotate-signing` against a data dir
// and against --db on PostgreSQL: it prints only the new kid, and that key is
// what a server loading the database signs with.
func TestKeysRotateSigning(t *testing.T) {
	ctx := context.Background()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			args := []string{"--data", t.TempDir()}
			if engine == "postgres" {
				args = append(args, "--db", enginetest.PostgresURL(t))
			}
			rotate := func() string {
				t.Helper()
				var out, errb bytes.Buffer
				if err := run(ctx, append([]string{"keys", "rotate-signing"}, args...), nil, &out, &errb, func(string) string { return "" }); err != nil {
					t.Fatalf("rotate-signing: %v: %s", err, errb.String())
				}
				kid := strings.TrimSuffix(out.String(), "\n")
				if !regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`).MatchString(kid) {
					t.Fatalf("stdout %q, want just a kid", out.String())
				}
				return kid
			}
			first, second := rotate(), rotate()
			if first == second {
				t.Fatalf("two rotations printed the same kid %s", first)
			}

			cfg, err := config.Load("test", args, func(string) string { return "" }, false, nil, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			db, err := app.OpenStore(ctx, cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			box, err := secretbox.Open(cfg.DataDir) // the CLI sealed the keys with it
			if err != nil {
				t.Fatal(err)
			}
			ks, err := auth.LoadKeySet(ctx, db, box)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{second, first}, ks.KeyIDs()); diff != "" {
				t.Fatalf("key ids (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRotateSigningWhileServing rotates the signing key with the CLI while
// `keep serve` runs on the same data dir: the CLI gets the database despite
// the server, the old token keeps working, and the server takes the CLI's key
// from the database when it next refreshes (forced here by the API rotation,
// which refreshes at once, so the test need not wait for the periodic one).
func TestRotateSigningWhileServing(t *testing.T) {
	bin := buildKeep(t)
	data := filepath.Join(t.TempDir(), "keep_data")
	addr := freeAddr(t)
	var logs bytes.Buffer
	srv := exec.Command(bin, "serve", "--data", data, "--http", addr)
	srv.Stderr = &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Process.Kill()
	base := "http://" + addr
	waitHealthy(t, base)

	create := exec.Command(bin, "superuser", "create", "--data", data, "--email", "root@example.com", "--password-stdin")
	create.Stdin = strings.NewReader("a fine password\n")
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("superuser create: %v: %s", err, out)
	}
	login := func() string {
		t.Helper()
		res, err := http.Post(base+"/api/auth/login", "application/json",
			strings.NewReader(`{"email":"root@example.com","password":"a fine password"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || res.StatusCode != 200 {
			t.Fatalf("login: %d %v", res.StatusCode, err)
		}
		return tok.AccessToken
	}
	call := func(method, path, token string) int {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	jwks := func() []string {
		t.Helper()
		res, err := http.Get(base + "/.well-known/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var set struct {
			Keys []struct {
				Kid string `json:"kid"`
				D   string `json:"d"`
			} `json:"keys"`
		}
		if err := json.NewDecoder(res.Body).Decode(&set); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, k := range set.Keys {
			if k.D != "" {
				t.Fatal("JWKS carries a private key")
			}
			ids = append(ids, k.Kid)
		}
		return ids
	}

	oldToken := login()
	oldKid := headerKid(t, oldToken)

	out, err := exec.Command(bin, "keys", "rotate-signing", "--data", data).Output()
	if err != nil {
		t.Fatalf("keys rotate-signing while serving: %v", err)
	}
	cliKid := strings.TrimSpace(string(out))
	if cliKid == "" || cliKid == oldKid || strings.Contains(cliKid, " ") {
		t.Fatalf("rotate-signing printed %q", out)
	}
	if got := call("GET", "/api/auth/me", oldToken); got != 200 {
		t.Fatalf("old token after the CLI rotation: %d", got)
	}

	// The API rotation re-reads the table, so the server now knows the
	// CLI's key too: three keys, the API's new one signing.
	if got := call("POST", "/api/admin/signing-keys/rotate", oldToken); got != 204 {
		t.Fatalf("API rotation: %d: %s", got, logs.String())
	}
	ids := jwks()
	if len(ids) != 3 || ids[1] != cliKid || ids[2] != oldKid {
		t.Fatalf("JWKS kids %v, want [new %s %s]", ids, cliKid, oldKid)
	}
	newToken := login()
	if kid := headerKid(t, newToken); kid != ids[0] {
		t.Fatalf("new token signed by %s, want %s", kid, ids[0])
	}
	for name, tok := range map[string]string{"old": oldToken, "new": newToken} {
		if got := call("GET", "/api/auth/me", tok); got != 200 {
			t.Fatalf("%s token: %d", name, got)
		}
	}

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
}

// headerKid returns the kid of a JWS compact token's header.
func headerKid(t *testing.T, token string) string {
	t.Helper()
	h, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.Kid
}
