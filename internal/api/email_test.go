package api_test

import (
	"bytes"
	"context"
	"io"
	netmail "net/mail"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/keep-dev/keep/internal/mail"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

var mailToken = regexp.MustCompile(`#token=([A-Za-z0-9_-]{43})\b`)

// deliverMail runs one delivery pass over the harness's outbox and returns
// the tokens of the new messages per recipient. The server does not run its
// outbox in tests (Serve does), so a second outbox on the same database, with
// the same file sink directory, delivers what the app queued.
func (h *harness) deliverMail(ob *mail.Outbox, seen map[string]bool) map[string][]string {
	h.t.Helper()
	h.keep.Accounts.Wait() // requests finish their work after answering
	if _, err := ob.DeliverDue(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(h.cfg.DataDir, "outbox", "*.eml"))
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string][]string{}
	for _, f := range files {
		if seen[f] {
			continue
		}
		seen[f] = true
		raw, err := os.ReadFile(f)
		if err != nil {
			h.t.Fatal(err)
		}
		msg, err := netmail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			h.t.Fatal(err)
		}
		body, _ := io.ReadAll(msg.Body)
		m := mailToken.FindSubmatch(body)
		if m == nil {
			h.t.Fatalf("no token in %s", raw)
		}
		to := msg.Header.Get("To")
		out[to] = append(out[to], string(m[1]))
		h.secret = append(h.secret, string(m[1]))
	}
	return out
}

func TestEmailFlowsAPI(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		db := open(t)
		h := newHarness(t, db)
		ob, err := mail.New(db, mail.Config{Mode: "file", Dir: filepath.Join(h.cfg.DataDir, "outbox")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		h.signup("alice")
		const alicePW = "pass for alice 123" // as signup makes it
		const newPW = "a new passphrase for alice"
		h.secret = append(h.secret, newPW)

		for _, kind := range []string{"verify", "reset"} {
			t.Run(kind+" request reveals nothing", func(t *testing.T) {
				known := h.do("", "POST", "/api/auth/"+kind+"/request", map[string]string{"email": "alice@example.com"})
				unknown := h.do("", "POST", "/api/auth/"+kind+"/request", map[string]string{"email": "nobody@example.com"})
				h.keep.Accounts.Wait() // the work runs after the answer; keep the mails in order
				h.expect(known, 202, "")
				h.expect(unknown, 202, "")
				if !bytes.Equal(known.body, unknown.body) {
					t.Fatalf("bodies differ: %s / %s", known.body, unknown.body)
				}
			})
		}

		var verifyTok, resetTok string
		t.Run("mail is queued only for the real account", func(t *testing.T) {
			got := h.deliverMail(ob, seen)
			if len(got) != 1 || len(got["alice@example.com"]) != 2 {
				t.Fatalf("mails %v, want two to alice", got)
			}
			verifyTok, resetTok = got["alice@example.com"][0], got["alice@example.com"][1]
		})

		t.Run("verify confirm", func(t *testing.T) {
			h.expect(h.do("", "POST", "/api/auth/verify/confirm", map[string]string{"token": resetTok}), 400, "bad_request")
			h.expect(h.do("", "POST", "/api/auth/verify/confirm", map[string]string{"token": verifyTok}), 204, "")
			m := h.expect(h.do("", "POST", "/api/auth/verify/confirm", map[string]string{"token": verifyTok}), 400, "bad_request")
			if msg := m["error"].(map[string]any)["message"]; msg != "the link is invalid or has expired" {
				t.Fatalf("message %q", msg)
			}
			me := h.expect(h.do("alice", "GET", "/api/auth/me", nil), 200, "")
			if me["verified"] != true {
				t.Fatalf("me: %v", me)
			}
		})

		t.Run("reset confirm", func(t *testing.T) {
			m := h.expect(h.do("", "POST", "/api/auth/reset/confirm", map[string]string{"token": resetTok, "new_password": "short"}), 422, "validation_failed")
			if f, _ := m["error"].(map[string]any)["fields"].(map[string]any); f["new_password"] == nil {
				t.Fatalf("fields: %v", m)
			}
			h.expect(h.do("", "POST", "/api/auth/reset/confirm", map[string]string{"token": "nope", "new_password": newPW}), 400, "bad_request")
			h.expect(h.do("", "POST", "/api/auth/reset/confirm", map[string]string{"token": resetTok, "new_password": newPW}), 204, "")
			h.expect(h.do("", "POST", "/api/auth/reset/confirm", map[string]string{"token": resetTok, "new_password": newPW}), 400, "bad_request")
			// The reset ended alice's session; only the new password works.
			h.expect(h.do("alice", "GET", "/api/auth/me", nil), 401, "")
			h.expect(h.do("", "POST", "/api/auth/login", map[string]string{"email": "alice@example.com", "password": alicePW}), 401, "invalid_credentials")
			h.login("alice", "alice@example.com", newPW)
			h.expect(h.do("alice", "GET", "/api/auth/me", nil), 200, "")
		})

		t.Run("no token in any log line", func(t *testing.T) {
			h.checkNoSecrets(h.logs.String(), "the log")
		})
	})
}
