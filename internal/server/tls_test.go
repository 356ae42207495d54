package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// startTLS runs a TLS listener and a redirect listener to it and returns
// their addresses and the certificate served.
func startTLS(t *testing.T) (tlsAddr, redirectAddr string, cert tls.Certificate) {
	t.Helper()
	cert, err := DevCertificate(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan []net.Addr, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- Run(ctx, slog.New(slog.DiscardHandler), func(a []net.Addr) { addrc <- a },
			Listener{Name: "https", Addr: "127.0.0.1:0", Handler: ok, TLS: TLSConfig(cert)},
			Listener{Name: "redirect", Addr: "127.0.0.1:0", RedirectTo: "https"})
	}()
	var addrs []net.Addr
	select {
	case addrs = <-addrc:
	case err := <-errc:
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return addrs[0].String(), addrs[1].String(), cert
}

// clientConfig trusts exactly cert.
func clientConfig(cert tls.Certificate) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	return &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

func TestTLSVersionsAndSuites(t *testing.T) {
	addr, _, cert := startTLS(t)
	tests := []struct {
		name    string
		adjust  func(*tls.Config)
		wantErr bool
		version uint16
	}{
		{"default negotiates 1.3", func(*tls.Config) {}, false, tls.VersionTLS13},
		{"TLS 1.0 refused", func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS10 }, true, 0},
		{"TLS 1.1 refused", func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS11, tls.VersionTLS11 }, true, 0},
		{"TLS 1.2 CBC suite refused", func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}
		}, true, 0},
		{"TLS 1.2 AES-GCM accepted", func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
		}, false, tls.VersionTLS12},
		{"TLS 1.2 ChaCha20 accepted", func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}
		}, false, tls.VersionTLS12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := clientConfig(cert)
			tt.adjust(cfg)
			conn, err := tls.Dial("tcp", addr, cfg)
			if tt.wantErr {
				if err == nil {
					conn.Close()
					t.Fatalf("handshake succeeded with %s", tls.VersionName(conn.ConnectionState().Version))
				}
				if !strings.Contains(err.Error(), "remote error") {
					t.Fatalf("want the server to refuse, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			defer conn.Close()
			if v := conn.ConnectionState().Version; v != tt.version {
				t.Fatalf("negotiated %s, want %s", tls.VersionName(v), tls.VersionName(tt.version))
			}
		})
	}
}

func TestTLSServesHTTP2AndHTTP1(t *testing.T) {
	addr, _, cert := startTLS(t)
	for _, h2 := range []bool{true, false} {
		tr := &http.Transport{TLSClientConfig: clientConfig(cert), ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		res, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		tr.CloseIdleConnections()
		if string(b) != "ok" || (res.ProtoMajor == 2) != h2 {
			t.Fatalf("h2=%v: %s %q", h2, res.Proto, b)
		}
	}
}

func TestRedirectListener(t *testing.T) {
	addr, redirect, _ := startTLS(t)
	_, port, _ := net.SplitHostPort(addr)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct {
		name, host, path string
		status           int
		location         string
	}{
		{"own address", "", "/api/collections?x=1&y=%2F", 308, "https://127.0.0.1:" + port + "/api/collections?x=1&y=%2F"},
		{"hostname kept, port replaced", "keep.example.com:8443", "/healthz", 308, "https://keep.example.com:" + port + "/healthz"},
		{"hostname without port", "Keep.Example.com", "/", 308, "https://keep.example.com:" + port + "/"},
		{"IPv6", "[::1]:80", "/a", 308, "https://[::1]:" + port + "/a"},
		{"not a hostname", "evil.example.com@x", "/", 400, ""},
		{"userinfo-like", "a/b", "/", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("POST", "http://"+redirect+tt.path, strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			if tt.host != "" {
				req.Host = tt.host
			}
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tt.status || res.Header.Get("Location") != tt.location {
				t.Fatalf("got %d %q, want %d %q", res.StatusCode, res.Header.Get("Location"), tt.status, tt.location)
			}
		})
	}
}

func TestRedirectHandlerDefaultPort(t *testing.T) {
	for host, want := range map[string]string{
		"keep.example.com:80": "https://keep.example.com/x",
		"[2001:db8::1]:80":    "https://[2001:db8::1]/x",
	} {
		req := httptest.NewRequest("GET", "http://"+host+"/x", nil)
		rec := httptest.NewRecorder()
		RedirectHandler("443").ServeHTTP(rec, req)
		if rec.Code != 308 || rec.Header().Get("Location") != want {
			t.Errorf("%s: %d %q, want %q", host, rec.Code, rec.Header().Get("Location"), want)
		}
	}
}

func TestRedirectNeedsTLSTarget(t *testing.T) {
	err := Run(context.Background(), slog.New(slog.DiscardHandler), nil,
		Listener{Name: "http", Addr: "127.0.0.1:0", Handler: http.NotFoundHandler()},
		Listener{Name: "redirect", Addr: "127.0.0.1:0", RedirectTo: "http"})
	if err == nil || !strings.Contains(err.Error(), "does not serve TLS") {
		t.Fatalf("want a refusal, got %v", err)
	}
}

func TestDevCertificate(t *testing.T) {
	now := time.Now()
	cert, err := DevCertificate(now)
	if err != nil {
		t.Fatal(err)
	}
	leaf := cert.Leaf
	key, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || key.Curve != elliptic.P256() {
		t.Fatalf("key is %T, want ECDSA P-256", leaf.PublicKey)
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life > 8*24*time.Hour {
		t.Fatalf("valid for %v: not short", life)
	}
	if leaf.IsCA {
		t.Fatal("the development certificate must not be a CA")
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool, CurrentTime: now}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: pool, CurrentTime: now}); err == nil {
		t.Error("valid for example.com")
	}
	other, _ := DevCertificate(now)
	if Fingerprint(cert.Certificate[0]) == Fingerprint(other.Certificate[0]) {
		t.Error("two development certificates share a fingerprint")
	}
}

func TestFingerprint(t *testing.T) {
	got := Fingerprint([]byte("abc"))
	want := "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
	if got != want {
		t.Fatalf("Fingerprint = %s", got)
	}
}
