package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keep-dev/keep/internal/app"
	"github.com/keep-dev/keep/internal/config"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// TestAuditVerifyCommand is acceptance point 3 through the command line:
// `keep audit verify` passes on an untouched log and fails, naming the
// entry, after a row is changed, deleted, inserted or two are swapped
// directly in the database.
func TestAuditVerifyCommand(t *testing.T) {
	engines := map[string]func(t *testing.T) []string{
		"sqlite": func(t *testing.T) []string { return nil },
		"postgres": func(t *testing.T) []string {
			return []string{"--db", enginetest.PostgresURL(t)}
		},
	}
	tampers := []struct {
		name string
		sql  []string
		bad  string
	}{
		{"change a byte", []string{`UPDATE _keep_audit_log SET actor = 'user:someone-else' WHERE seq = 2`}, "seq 2"},
		{"delete a row", []string{`DELETE FROM _keep_audit_log WHERE seq = 3`}, "seq 3"},
		{"insert a row", []string{
			`UPDATE _keep_audit_log SET seq = seq + 100 WHERE seq >= 2`,
			`UPDATE _keep_audit_log SET seq = seq - 99 WHERE seq > 100`,
			`INSERT INTO _keep_audit_log (seq, time, actor, action, target, outcome, ip, user_agent, request_id, details, nonce, prev_hash, hash, mac)
			 SELECT 2, time, actor, action, target, outcome, ip, user_agent, request_id, details, nonce || 'x', prev_hash, hash, mac FROM _keep_audit_log WHERE seq = 1`,
		}, "seq 2"},
		{"swap two rows", []string{
			`UPDATE _keep_audit_log SET seq = 1000 WHERE seq = 1`,
			`UPDATE _keep_audit_log SET seq = 1 WHERE seq = 3`,
			`UPDATE _keep_audit_log SET seq = 3 WHERE seq = 1000`,
		}, "seq 1"},
	}
	for engine, dbArgs := range engines {
		t.Run(engine, func(t *testing.T) {
			for _, tc := range tampers {
				t.Run(tc.name, func(t *testing.T) {
					data := filepath.Join(t.TempDir(), "data")
					base := append([]string{"--data", data}, dbArgs(t)...)
					cli := func(in string, args ...string) (string, error) {
						var out, errb bytes.Buffer
						err := run(context.Background(), args, strings.NewReader(in), &out, &errb, func(string) string { return "" })
						return out.String(), err
					}
					for _, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
						if _, err := cli("super secret pw 1\n", append([]string{"superuser", "create", "--email", email, "--password-stdin"}, base...)...); err != nil {
							t.Fatal(err)
						}
					}
					if _, err := cli("", append([]string{"audit", "checkpoint"}, base...)...); err != nil {
						t.Fatal(err)
					}
					out, err := cli("", append([]string{"audit", "verify"}, base...)...)
					if err != nil {
						t.Fatalf("verify of an untouched log: %v\n%s", err, out)
					}
					var rep struct {
						OK      bool  `json:"ok"`
						Entries int64 `json:"entries"`
					}
					if err := json.Unmarshal([]byte(out), &rep); err != nil || !rep.OK || rep.Entries < 4 {
						t.Fatalf("report %s: %v", out, err)
					}

					tamper(t, base, tc.sql)
					out, err = cli("", append([]string{"audit", "verify"}, base...)...)
					if err == nil || !strings.Contains(err.Error(), tc.bad) {
						t.Fatalf("verify after %s: %v\n%s", tc.name, err, out)
					}
				})
			}
			t.Run("export", func(t *testing.T) {
				data := filepath.Join(t.TempDir(), "data")
				base := append([]string{"--data", data}, dbArgs(t)...)
				var out bytes.Buffer
				if err := run(context.Background(), append([]string{"superuser", "create", "--email", "x@example.com", "--password-stdin"}, base...),
					strings.NewReader("super secret pw 1\n"), io.Discard, io.Discard, func(string) string { return "" }); err != nil {
					t.Fatal(err)
				}
				if err := run(context.Background(), append([]string{"audit", "export", "--since", "2000-01-01T00:00:00Z"}, base...),
					nil, &out, io.Discard, func(string) string { return "" }); err != nil {
					t.Fatal(err)
				}
				lines := strings.Split(strings.TrimSpace(out.String()), "\n")
				var last map[string]any
				for _, l := range lines {
					if err := json.Unmarshal([]byte(l), &last); err != nil {
						t.Fatalf("line %q: %v", l, err)
					}
				}
				if len(lines) < 2 || last["action"] != "audit.export" || last["actor"] != "cli" {
					t.Fatalf("export: %s", out.String())
				}
				if err := run(context.Background(), append([]string{"audit", "export", "--since", "yesterday"}, base...),
					nil, io.Discard, io.Discard, func(string) string { return "" }); err == nil {
					t.Fatal("a bad --since was accepted")
				}
			})
		})
	}
}

// tamper runs statements against the database the flags name, as an
// attacker with database access would.
func tamper(t *testing.T, args []string, stmts []string) {
	t.Helper()
	cfg, err := config.Load("tamper", args, func(string) string { return "" }, false, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	db, err := app.OpenStore(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if err := db.Tx(context.Background(), func(q store.Querier) error {
			_, err := q.Exec(context.Background(), s)
			return err
		}); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}
