package app_test

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/keep-dev/keep/internal/app"
	"github.com/keep-dev/keep/internal/config"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// TestPostgresSSLModePassedThrough shows that the TLS parameters of --db
// reach pgx untouched: sslmode decides whether the connection is encrypted,
// and sslrootcert is read.
func TestPostgresSSLModePassedThrough(t *testing.T) {
	t.Run("sslrootcert is honoured", func(t *testing.T) {
		// Refused while parsing, before any connection: no server needed.
		cfg := config.Default()
		cfg.DBURL = "postgres://keep:hunter2-secret@127.0.0.1:1/keep?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem"
		_, err := app.OpenStore(context.Background(), cfg, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "/nonexistent/ca.pem") {
			t.Fatalf("OpenStore = %v, want an error about the root certificate file", err)
		}
		if strings.Contains(err.Error(), "hunter2-secret") {
			t.Fatal("the error shows the password")
		}
	})
	for _, tt := range []struct {
		mode    string
		wantSSL bool
	}{{"disable", false}, {"require", true}} {
		t.Run("sslmode="+tt.mode, func(t *testing.T) {
			u, err := url.Parse(enginetest.PostgresURL(t))
			if err != nil {
				t.Skip("KEEP_TEST_POSTGRES_URL is not a URL")
			}
			q := u.Query()
			q.Set("sslmode", tt.mode)
			u.RawQuery = q.Encode()
			cfg := config.Default()
			cfg.DBURL = config.Secret(u.String())
			db, err := app.OpenStore(context.Background(), cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				if tt.wantSSL && strings.Contains(err.Error(), "refused TLS") {
					t.Skip("the test server does not offer TLS")
				}
				t.Fatal(err)
			}
			defer db.Close()
			var ssl bool
			if err := db.QueryRow(context.Background(), "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil {
				t.Fatal(err)
			}
			if ssl != tt.wantSSL {
				t.Fatalf("connection encrypted: %v, want %v", ssl, tt.wantSSL)
			}
		})
	}
}
