package app_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keep-dev/keep/internal/app"
	"github.com/keep-dev/keep/internal/config"
	"github.com/keep-dev/keep/internal/logtest"
	"github.com/keep-dev/keep/internal/server"
)

// serveTLS builds and serves Keep with cfg on 127.0.0.1:0 (and the redirect
// listener on another free port) and returns the bound addresses and the
// log. The server stops when the test ends.
func serveTLS(t *testing.T, cfg config.Config) (addrs []net.Addr, logs *logtest.Buffer) {
	t.Helper()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.HTTPRedirect = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.RateLimits = "off"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs = &logtest.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	k, err := app.New(ctx, cfg, log, true)
	if err != nil {
		t.Fatal(err)
	}
	addrc := make(chan []net.Addr, 1)
	errc := make(chan error, 1)
	go func() { errc <- k.Serve(ctx, func(a []net.Addr) { addrc <- a }) }()
	select {
	case addrs = <-addrc:
	case err := <-errc:
		t.Fatalf("Serve: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Serve: %v", err)
		}
		k.Close()
	})
	return addrs, logs
}

// loggedFingerprint is the fingerprint_sha256 of the first log line that
// has one.
func loggedFingerprint(t *testing.T, logs string) string {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var line struct {
			Fingerprint string `json:"fingerprint_sha256"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Fingerprint != "" {
			return line.Fingerprint
		}
	}
	t.Fatalf("no certificate fingerprint logged:\n%s", logs)
	return ""
}

// pinnedClient trusts only the certificate whose fingerprint was logged, as
// a developer pinning the printed fingerprint would, and checks that it is
// valid for 127.0.0.1.
func pinnedClient(fingerprint string, maxVersion uint16) *http.Client {
	cfg := &tls.Config{
		MaxVersion:         maxVersion,
		InsecureSkipVerify: true, // replaced by VerifyConnection below
		VerifyConnection: func(cs tls.ConnectionState) error {
			leaf := cs.PeerCertificates[0]
			if server.Fingerprint(leaf.Raw) != fingerprint {
				return errors.New("certificate fingerprint differs from the logged one")
			}
			return leaf.VerifyHostname("127.0.0.1")
		},
	}
	return &http.Client{
		Transport:     &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func TestDevTLSEndToEnd(t *testing.T) {
	cfg := config.Default()
	cfg.DevTLS = true
	addrs, logs := serveTLS(t, cfg)
	base := "https://" + addrs[0].String()
	fp := loggedFingerprint(t, logs.String())
	if strings.Contains(logs.String(), "PRIVATE KEY") {
		t.Fatal("a private key reached the log")
	}

	res, err := pinnedClient(fp, 0).Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.TLS.Version != tls.VersionTLS13 || res.ProtoMajor != 2 {
		t.Fatalf("healthz: %d over %s, %s", res.StatusCode, tls.VersionName(res.TLS.Version), res.Proto)
	}
	if got := res.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
		t.Fatalf("Strict-Transport-Security = %q", got)
	}

	// Plain HTTP on the TLS port gets no API answer.
	if res, err := http.Get("http://" + addrs[0].String() + "/healthz"); err == nil {
		res.Body.Close()
		if res.StatusCode == 200 {
			t.Fatal("the TLS listener answered plain HTTP")
		}
	}

	// TLS 1.1 is refused.
	old := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11}
	if c, err := tls.Dial("tcp", addrs[0].String(), old); err == nil {
		c.Close()
		t.Fatal("TLS 1.1 accepted")
	}

	// The redirect listener sends plain HTTP to the HTTPS port.
	_, port, _ := net.SplitHostPort(addrs[0].String())
	res, err = pinnedClient(fp, 0).Post("http://"+addrs[1].String()+"/api/auth/login?x=1", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if want := "https://127.0.0.1:" + port + "/api/auth/login?x=1"; res.StatusCode != http.StatusPermanentRedirect || res.Header.Get("Location") != want {
		t.Fatalf("redirect: %d %q, want 308 %q", res.StatusCode, res.Header.Get("Location"), want)
	}
}

func TestTLSCertificateFiles(t *testing.T) {
	cert, err := server.DevCertificate(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	addrs, logs := serveTLS(t, cfg)
	fp := server.Fingerprint(cert.Certificate[0])
	if got := loggedFingerprint(t, logs.String()); got != fp {
		t.Fatalf("logged fingerprint %s, want %s", got, fp)
	}
	res, err := pinnedClient(fp, tls.VersionTLS12).Get("https://" + addrs[0].String() + "/api/auth/me")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.TLS.Version != tls.VersionTLS12 || res.Header.Get("Strict-Transport-Security") == "" || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%s, headers %v", tls.VersionName(res.TLS.Version), res.Header)
	}
}

func TestTLSCertificateMissing(t *testing.T) {
	cfg := config.Default()
	cfg.TLSCert, cfg.TLSKey = filepath.Join(t.TempDir(), "none.pem"), filepath.Join(t.TempDir(), "none.key")
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	k, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler), true)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if err := k.Serve(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "TLS certificate") {
		t.Fatalf("Serve = %v, want a certificate error", err)
	}
}
