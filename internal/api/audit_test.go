package api_test

import (
	"context"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keep-dev/keep/internal/audit"
	"github.com/keep-dev/keep/internal/auth"
	"github.com/keep-dev/keep/internal/config"
	"github.com/keep-dev/keep/internal/mail"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// auditTracker checks that each request makes exactly the audit entries
// expected of it.
type auditTracker struct {
	h    *harness
	seen int64
}

func newAuditTracker(h *harness) *auditTracker {
	a := &auditTracker{h: h}
	a.skip()
	return a
}

// newEntries returns the entries sealed since the last call, oldest first.
func (a *auditTracker) newEntries() []audit.Entry {
	a.h.t.Helper()
	a.h.keep.Accounts.Wait() // email requests write after answering
	var out []audit.Entry
	cursor := ""
	for {
		p, err := a.h.keep.Audit.List(context.Background(), audit.Filter{Limit: audit.MaxLimit, Cursor: cursor})
		if err != nil {
			a.h.t.Fatal(err)
		}
		done := p.NextCursor == ""
		for _, e := range p.Items {
			if e.Seq <= a.seen {
				done = true
				break
			}
			out = append([]audit.Entry{e}, out...)
		}
		if done {
			break
		}
		cursor = p.NextCursor
	}
	if len(out) > 0 {
		a.seen = out[len(out)-1].Seq
	}
	return out
}

// skip forgets the entries made so far (set-up steps).
func (a *auditTracker) skip() { a.newEntries() }

// none asserts that nothing was recorded since the last check.
func (a *auditTracker) none(what string) {
	a.h.t.Helper()
	if es := a.newEntries(); len(es) != 0 {
		a.h.t.Fatalf("%s: want no audit entry, got %s", what, describeEntries(es))
	}
}

// one asserts that exactly one entry was recorded since the last check, by
// the request that answered r, with the documented fields.
func (a *auditTracker) one(r response, action, outcome, actor, target string) audit.Entry {
	a.h.t.Helper()
	es := a.newEntries()
	if len(es) != 1 {
		a.h.t.Fatalf("%s: want exactly one audit entry, got %s", action, describeEntries(es))
	}
	e := es[0]
	if e.Action != action || e.Outcome != outcome || e.Actor != actor || (target != "*" && e.Target != target) {
		a.h.t.Fatalf("entry %s, want action %s outcome %s actor %s target %s", describeEntries(es), action, outcome, actor, target)
	}
	checkEntryFields(a.h.t, e)
	if id := r.header.Get("X-Request-Id"); e.RequestID != id {
		a.h.t.Fatalf("%s: request_id %q, want the response's %q", action, e.RequestID, id)
	}
	if e.IP != "127.0.0.1" || !strings.HasPrefix(e.UserAgent, "Go-http-client/") {
		a.h.t.Fatalf("%s: ip %q user_agent %q", action, e.IP, e.UserAgent)
	}
	a.h.checkNoSecrets(string(mustJSON(a.h.t, e)), "audit entry "+action)
	return e
}

func describeEntries(es []audit.Entry) string {
	var b strings.Builder
	b.WriteString("[")
	for i, e := range es {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Action + " " + e.Outcome + " by " + e.Actor + " on " + e.Target + " " + string(e.Details))
	}
	return b.String() + "]"
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkEntryFields checks the documented shape of an entry as the API
// serves it.
func checkEntryFields(t *testing.T, e audit.Entry) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(mustJSON(t, e), &m); err != nil {
		t.Fatal(err)
	}
	want := []string{"seq", "time", "actor", "action", "target", "outcome", "ip", "user_agent", "request_id", "details", "prev_hash", "hash"}
	for _, k := range want {
		if _, ok := m[k]; !ok {
			t.Fatalf("entry without %q: %v", k, m)
		}
	}
	if len(m) != len(want) {
		t.Fatalf("entry has extra members: %v", m)
	}
	if _, ok := m["details"].(map[string]any); !ok {
		t.Fatalf("details is not an object: %v", m["details"])
	}
	tm, err := time.Parse(audit.TimeFormat, e.Time)
	if err != nil || time.Since(tm) > time.Minute || time.Since(tm) < -time.Minute {
		t.Fatalf("time %q: %v", e.Time, err)
	}
	for _, h := range []string{e.PrevHash, e.Hash} {
		if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
			t.Fatalf("hash %q is not SHA-256 hex", h)
		}
	}
}

// TestAuditEveryAction is acceptance point 4: every critical action makes
// exactly one audit entry with the documented fields, and a failed
// transaction makes neither change nor entry.
func TestAuditEveryAction(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		db := open(t)
		h := newHarness(t, db, func(c *config.Config) { c.LoginMaxFailures = 3 })
		ob, err := mail.New(db, mail.Config{Mode: "file", Dir: filepath.Join(h.cfg.DataDir, "outbox")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		h.signup("bob")
		const bobEmail, bobPW = "bob@example.com", "pass for bob 123"
		bob, admin := "user:"+h.ids["bob"], "user:"+h.ids["admin"]
		a := newAuditTracker(h)

		t.Run("logins", func(t *testing.T) {
			r := h.do("", "POST", "/api/auth/login", map[string]string{"email": bobEmail, "password": "wrong password"})
			h.expect(r, 401, "invalid_credentials")
			e := a.one(r, "auth.login", "failure", "anonymous", bob)
			if strings.Contains(string(e.Details), bobEmail) || !strings.Contains(string(e.Details), "invalid_credentials") {
				t.Fatalf("details %s", e.Details)
			}
			r = h.do("", "POST", "/api/auth/login", map[string]string{"email": "Nobody@Example.com", "password": "whatever 123"})
			h.expect(r, 401, "invalid_credentials")
			e = a.one(r, "auth.login", "failure", "anonymous", "*")
			if !strings.HasPrefix(e.Target, "email:hmac:") || strings.Contains(strings.ToLower(string(mustJSON(t, e))), "nobody") {
				t.Fatalf("an unknown email is kept only as a digest: %+v", e)
			}
			r = h.do("", "POST", "/api/auth/login", map[string]string{"email": bobEmail, "password": bobPW})
			h.expect(r, 200, "")
			a.one(r, "auth.login", "success", bob, bob)
		})

		t.Run("lockout", func(t *testing.T) {
			h.signup("lena")
			a.skip()
			lena := "user:" + h.ids["lena"]
			for i := range 2 {
				r := h.do("", "POST", "/api/auth/login", map[string]string{"email": "lena@example.com", "password": "wrong"})
				h.expect(r, 401, "invalid_credentials")
				a.one(r, "auth.login", "failure", "anonymous", lena)
				_ = i
			}
			r := h.do("", "POST", "/api/auth/login", map[string]string{"email": "lena@example.com", "password": "wrong"})
			h.expect(r, 401, "invalid_credentials")
			a.one(r, "auth.lockout", "failure", "anonymous", lena)
			r = h.do("", "POST", "/api/auth/login", map[string]string{"email": "lena@example.com", "password": "pass for lena 123"})
			h.expect(r, 429, "too_many_attempts")
			e := a.one(r, "auth.login", "denied", "anonymous", "*")
			if !strings.Contains(string(e.Details), `"reason":"locked"`) {
				t.Fatalf("details %s", e.Details)
			}
		})

		t.Run("sessions", func(t *testing.T) {
			refresh := h.loginSession("bob", bobEmail, bobPW)
			a.skip()
			next := h.refreshSession("bob", refresh)
			a.none("a normal refresh")
			// The first token comes back after the grace window: reuse.
			if err := db.Tx(context.Background(), func(q store.Querier) error {
				_, err := q.Exec(context.Background(), `UPDATE _keep_refresh_tokens SET used_at = ? WHERE used_at IS NOT NULL`,
					records.TimeArg(db.Dialect(), time.Now().Add(-time.Minute)))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			r := h.do("", "POST", "/api/auth/refresh", map[string]string{"refresh_token": refresh})
			h.expect(r, 401, "invalid_token")
			a.one(r, "auth.refresh.reuse", "denied", "anonymous", "*")
			_ = next

			h.login("bob", bobEmail, bobPW)
			h.loginSession("bob2", bobEmail, bobPW)
			a.skip()
			r = h.do("bob", "POST", "/api/auth/sessions/revoke-others", nil)
			h.expect(r, 204, "")
			a.one(r, "auth.session.revoke", "success", bob, bob)
			r = h.do("bob", "POST", "/api/auth/logout", nil)
			h.expect(r, 204, "")
			a.one(r, "auth.logout", "success", bob, "*")
			h.login("bob", bobEmail, bobPW)
			a.skip()
		})

		t.Run("passwords", func(t *testing.T) {
			r := h.do("bob", "POST", "/api/auth/password", map[string]string{"current_password": "wrong", "new_password": "another pass 456"})
			h.expect(r, 403, "forbidden")
			a.one(r, "auth.password.change", "failure", bob, bob)
			r = h.do("bob", "POST", "/api/auth/password", map[string]string{"current_password": bobPW, "new_password": "another pass 456"})
			h.expect(r, 204, "")
			a.one(r, "auth.password.change", "success", bob, bob)
			h.secret = append(h.secret, "another pass 456")

			r = h.do("", "POST", "/api/auth/reset/request", map[string]string{"email": bobEmail})
			h.expect(r, 202, "")
			a.one(r, "auth.password.reset_request", "success", "anonymous", bob)
			r = h.do("", "POST", "/api/auth/verify/request", map[string]string{"email": bobEmail})
			h.expect(r, 202, "")
			a.one(r, "auth.email.verify_request", "success", "anonymous", bob)
			tokens := h.deliverMail(ob, seen)[bobEmail]
			if len(tokens) != 2 {
				t.Fatalf("mail tokens %v", tokens)
			}
			r = h.do("", "POST", "/api/auth/verify/confirm", map[string]string{"token": tokens[1]})
			h.expect(r, 204, "")
			a.one(r, "auth.email.verify", "success", "anonymous", bob)
			r = h.do("", "POST", "/api/auth/reset/confirm", map[string]string{"token": tokens[0], "new_password": "reset pass 789"})
			h.expect(r, 204, "")
			a.one(r, "auth.password.reset", "success", "anonymous", bob)
			h.secret = append(h.secret, "reset pass 789")
			h.login("bob", bobEmail, "reset pass 789")
			a.skip()
		})

		t.Run("mfa", func(t *testing.T) {
			r := h.do("bob", "POST", "/api/auth/mfa/totp/enroll", nil)
			m := h.expect(r, 200, "")
			a.one(r, "auth.mfa.enroll", "success", bob, bob)
			b32 := m["secret"].(string)
			h.secret = append(h.secret, b32)
			secret, err := decodeTOTPSecret(b32)
			if err != nil {
				t.Fatal(err)
			}
			s := auth.TOTPStep(time.Now())
			r = h.do("bob", "POST", "/api/auth/mfa/totp/confirm", map[string]string{"code": auth.TOTPCodeAt(secret, s)})
			h.expect(r, 200, "")
			a.one(r, "auth.mfa.confirm", "success", bob, bob)

			r = h.do("", "POST", "/api/auth/login", map[string]string{"email": bobEmail, "password": "reset pass 789"})
			m = h.expect(r, 200, "")
			a.one(r, "auth.mfa.challenge", "success", bob, bob)
			tok := m["mfa_token"].(string)
			h.secret = append(h.secret, tok)
			r = h.do("", "POST", "/api/auth/mfa/verify", map[string]string{"mfa_token": tok, "code": auth.TOTPCodeAt(secret, s-5)})
			h.expect(r, 401, "invalid_credentials")
			a.one(r, "auth.mfa.verify", "failure", "anonymous", bob)
			r = h.do("", "POST", "/api/auth/mfa/verify", map[string]string{"mfa_token": tok, "code": auth.TOTPCodeAt(secret, s+1)})
			m = h.expect(r, 200, "")
			h.tokens["bob"] = m["access_token"].(string)
			h.secret = append(h.secret, h.tokens["bob"], m["refresh_token"].(string))
			e := a.one(r, "auth.login", "success", bob, bob)
			if !strings.Contains(string(e.Details), `"mfa":"totp"`) {
				t.Fatalf("details %s", e.Details)
			}
			r = h.do("bob", "DELETE", "/api/auth/mfa/totp", map[string]string{"password": "reset pass 789"})
			h.expect(r, 204, "")
			a.one(r, "auth.mfa.disable", "success", bob, bob)
		})

		t.Run("api keys", func(t *testing.T) {
			r := h.do("bob", "POST", "/api/keys", map[string]any{"name": "ci", "expires_at": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)})
			m := h.expect(r, 201, "")
			h.secret = append(h.secret, m["key"].(string))
			id := m["id"].(string)
			a.one(r, "auth.apikey.create", "success", bob, "apikey:"+id)
			r = h.do("bob", "DELETE", "/api/keys/"+id, nil)
			h.expect(r, 204, "")
			a.one(r, "auth.apikey.revoke", "success", bob, "apikey:"+id)
		})

		t.Run("roles", func(t *testing.T) {
			r := h.do("admin", "POST", "/api/roles", map[string]any{"name": "auditor", "permissions": []string{"audit.read"}})
			h.expect(r, 201, "")
			a.one(r, "role.create", "success", admin, "role:auditor")
			r = h.do("admin", "POST", "/api/roles", map[string]any{"name": "auditor", "permissions": []string{}})
			h.expect(r, 409, "conflict")
			a.none("a role create that failed")
			r = h.do("admin", "PATCH", "/api/roles/auditor", map[string]any{"permissions": []string{"audit.read", "keys.manage"}})
			h.expect(r, 200, "")
			e := a.one(r, "role.update", "success", admin, "role:auditor")
			if !strings.Contains(string(e.Details), "permissions_before") {
				t.Fatalf("details %s", e.Details)
			}
			r = h.do("admin", "PUT", "/api/users/"+h.ids["bob"]+"/roles/auditor", nil)
			h.expect(r, 204, "")
			a.one(r, "role.assign", "success", admin, bob)
			r = h.do("admin", "DELETE", "/api/users/"+h.ids["bob"]+"/roles/auditor", nil)
			h.expect(r, 204, "")
			a.one(r, "role.unassign", "success", admin, bob)
			h.expect(h.do("admin", "PUT", "/api/users/"+h.ids["bob"]+"/roles/auditor", nil), 204, "")
			a.skip()
			r = h.do("admin", "DELETE", "/api/roles/auditor", nil)
			h.expect(r, 204, "")
			e = a.one(r, "role.delete", "success", admin, "role:auditor")
			if !strings.Contains(string(e.Details), `"assignments_removed":1`) {
				t.Fatalf("the cascade belongs in details: %s", e.Details)
			}
		})

		t.Run("authorization failures", func(t *testing.T) {
			r := h.do("bob", "GET", "/api/roles", nil)
			h.expect(r, 403, "forbidden")
			e := a.one(r, "access.denied", "denied", bob, "GET /api/roles")
			if !strings.Contains(string(e.Details), `"status":403`) {
				t.Fatalf("details %s", e.Details)
			}
			r = h.do("", "GET", "/api/roles", nil)
			h.expect(r, 401, "unauthorized")
			a.one(r, "access.denied", "denied", "anonymous", "GET /api/roles")
			r = h.do("", "GET", "/api/auth/me", nil, "Authorization", "Bearer not-a-token")
			h.expect(r, 401, "invalid_token")
			a.one(r, "access.denied", "denied", "anonymous", "GET /api/auth/me")
		})

		t.Run("key operations", func(t *testing.T) {
			r := h.do("admin", "POST", "/api/admin/signing-keys/rotate", nil)
			h.expect(r, 204, "")
			a.one(r, "keys.rotate_signing", "success", admin, "*")
		})

		t.Run("signup", func(t *testing.T) {
			r := h.do("", "POST", "/api/auth/signup", map[string]string{"email": "sam@example.com", "password": "pass for sam 123"})
			m := h.expect(r, 201, "")
			h.secret = append(h.secret, "pass for sam 123")
			e := a.one(r, "auth.signup", "success", "anonymous", "user:"+m["id"].(string))
			if strings.Contains(string(e.Details), "pass for sam") || !strings.Contains(string(e.Details), `"password"`) {
				t.Fatalf("details name the fields, never the values: %s", e.Details)
			}
		})

		t.Run("collections and audited records", func(t *testing.T) {
			open := map[string]any{"list": "true", "view": "true", "create": "true", "update": "true", "delete": "true"}
			r := h.do("admin", "POST", "/api/collections", map[string]any{"name": "notes", "audited": true, "audit_reads": true,
				"fields": []map[string]any{{"name": "title", "type": "text", "unique": true}}, "rules": open})
			m := h.expect(r, 201, "")
			if m["audited"] != true || m["audit_reads"] != true {
				t.Fatalf("collection %v", m)
			}
			a.one(r, "collection.create", "success", admin, "collection:notes")
			r = h.do("admin", "POST", "/api/collections", map[string]any{"name": "comments", "audited": true,
				"fields": []map[string]any{{"name": "note", "type": "relation", "collection": "notes", "on_delete": "cascade"}}, "rules": open})
			h.expect(r, 201, "")
			a.one(r, "collection.create", "success", admin, "collection:comments")
			r = h.do("admin", "POST", "/api/collections", map[string]any{"name": "plain",
				"fields": []map[string]any{{"name": "title", "type": "text"}}, "rules": open})
			h.expect(r, 201, "")
			a.one(r, "collection.create", "success", admin, "collection:plain")

			h.expect(h.do("bob", "POST", "/api/collections/plain/records", map[string]any{"title": "x"}), 201, "")
			a.none("a write to a collection that is not audited")

			r = h.do("bob", "POST", "/api/collections/notes/records", map[string]any{"title": "first"})
			id := h.expect(r, 201, "")["id"].(string)
			e := a.one(r, "record.create", "success", bob, "record:notes/"+id)
			if strings.Contains(string(e.Details), "first") || !strings.Contains(string(e.Details), `"fields":["title"]`) {
				t.Fatalf("details %s", e.Details)
			}
			r = h.do("bob", "POST", "/api/collections/notes/records", map[string]any{"title": "first"})
			h.expect(r, 409, "conflict")
			a.none("a create that failed on a unique value")
			r = h.do("bob", "GET", "/api/collections/notes/records/"+id, nil)
			h.expect(r, 200, "")
			a.one(r, "record.read", "success", bob, "record:notes/"+id)
			r = h.do("bob", "GET", "/api/collections/notes/records?filter="+url.QueryEscape(`title == "first"`), nil)
			h.expect(r, 200, "")
			e = a.one(r, "record.list", "success", bob, "collection:notes")
			if strings.Contains(string(e.Details), "first") || !strings.Contains(string(e.Details), id) {
				t.Fatalf("a list names the records, and the filter only as a digest: %s", e.Details)
			}
			r = h.do("bob", "PATCH", "/api/collections/notes/records/"+id, map[string]any{"title": "second"})
			h.expect(r, 200, "")
			a.one(r, "record.update", "success", bob, "record:notes/"+id)

			for range 2 {
				h.expect(h.do("bob", "POST", "/api/collections/comments/records", map[string]any{"note": id}), 201, "")
			}
			a.skip()
			r = h.do("bob", "DELETE", "/api/collections/notes/records/"+id, nil)
			h.expect(r, 204, "")
			e = a.one(r, "record.delete", "success", bob, "record:notes/"+id)
			var d struct {
				Cascade []string `json:"cascade_deleted"`
			}
			if err := json.Unmarshal(e.Details, &d); err != nil || len(d.Cascade) != 2 || !strings.HasPrefix(d.Cascade[0], "comments/") {
				t.Fatalf("the cascade belongs in the one entry: %s", e.Details)
			}

			r = h.do("admin", "PATCH", "/api/collections/plain", map[string]any{"audited": true, "rules": map[string]any{"delete": nil}})
			h.expect(r, 200, "")
			e = a.one(r, "collection.update", "success", admin, "collection:plain")
			if !strings.Contains(string(e.Details), `"before"`) {
				t.Fatalf("details %s", e.Details)
			}
			r = h.do("admin", "DELETE", "/api/collections/plain", nil)
			h.expect(r, 204, "")
			a.one(r, "collection.delete", "success", admin, "collection:plain")
		})

		t.Run("data keys and integrity", func(t *testing.T) {
			r := h.do("admin", "POST", "/api/admin/keys/rotate", nil)
			h.expect(r, 202, "")
			a.one(r, "keys.rotate", "success", admin, "*")
			if err := h.keep.ReencryptNow(context.Background()); err != nil {
				t.Fatal(err)
			}
			a.none("the re-encryption job")

			h.expect(h.do("admin", "POST", "/api/collections", map[string]any{"name": "vault",
				"fields": []map[string]any{{"name": "secret", "type": "text", "encrypted": true}}}), 201, "")
			one := h.expect(h.do("admin", "POST", "/api/collections/vault/records", map[string]any{"secret": "s1"}), 201, "")["id"].(string)
			two := h.expect(h.do("admin", "POST", "/api/collections/vault/records", map[string]any{"secret": "s2"}), 201, "")["id"].(string)
			a.skip()
			if err := db.Tx(context.Background(), func(q store.Querier) error {
				_, err := q.Exec(context.Background(), `UPDATE c_vault SET secret = (SELECT secret FROM c_vault WHERE id = ?) WHERE id = ?`, one, two)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			r = h.do("admin", "GET", "/api/collections/vault/records/"+two, nil)
			h.expect(r, 500, "integrity_error")
			a.one(r, "record.integrity_error", "failure", admin, "GET /api/collections/{name}/records/{id}")
		})

		t.Run("reading the audit log", func(t *testing.T) {
			r := h.do("admin", "GET", "/api/audit?actor="+bob+"&limit=5", nil)
			m := h.expect(r, 200, "")
			if items := m["items"].([]any); len(items) != 5 || m["next_cursor"] == nil {
				t.Fatalf("page %v", m)
			}
			a.one(r, "audit.read", "success", admin, "audit")
			r = h.do("admin", "GET", "/api/audit/verify", nil)
			m = h.expect(r, 200, "")
			if m["ok"] != true {
				t.Fatalf("verify %v", m)
			}
			a.one(r, "audit.verify", "success", admin, "audit")
			r = h.do("admin", "POST", "/api/audit/checkpoints", nil)
			h.expect(r, 201, "")
			a.one(r, "audit.checkpoint", "success", admin, "audit")
			r = h.do("admin", "GET", "/api/audit?since=yesterday", nil)
			h.expect(r, 400, "invalid_query")
			a.none("a malformed query")
			r = h.do("bob", "GET", "/api/audit", nil)
			h.expect(r, 403, "forbidden")
			a.one(r, "access.denied", "denied", bob, "GET /api/audit")
		})

		rep, err := h.keep.Audit.Verify(context.Background())
		if err != nil || !rep.OK {
			t.Fatalf("verify after the scenario: %+v, %v", rep, err)
		}
		h.checkNoSecrets(h.logs.String(), "the log")
	})
}

func decodeTOTPSecret(b32 string) ([]byte, error) {
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(b32)
}

// TestDenialFloodIsBounded: one address sending bad tokens gets at most its
// allowance of access.denied entries; the rest are counted, not written.
func TestDenialFloodIsBounded(t *testing.T) {
	h := newHarness(t, enginetest.SQLite(t))
	a := newAuditTracker(h)
	for range 130 {
		h.expect(h.do("", "GET", "/api/auth/me", nil, "Authorization", "Bearer junk"), 401, "invalid_token")
	}
	es := a.newEntries()
	if len(es) < 110 || len(es) > 121 {
		t.Fatalf("%d entries for 130 refusals, want the burst of 120 (give or take the refill)", len(es))
	}
	for _, e := range es {
		if e.Action != "access.denied" {
			t.Fatalf("entry %s", describeEntries([]audit.Entry{e}))
		}
	}
}

// FuzzAuditQuery sends arbitrary filters, times, limits and cursors to GET
// /api/audit on SQLite: the answer is a page or a 400 envelope, never a 5xx.
func FuzzAuditQuery(f *testing.F) {
	k, tok := fuzzKeep(f)
	for _, s := range [][6]string{
		{"user:x", "auth.login", "user:y", "2026-01-01T00:00:00Z", "2030-01-01T00:00:00Z", "10"},
		{"\x00", "\xff", "", "0001-01-01T00:00:00Z", "99999-01-01T00:00:00Z", "-1"},
		{"", "", "", "yesterday", "", "abc"},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4], s[5], "12")
	}
	f.Fuzz(func(t *testing.T, actor, action, target, since, until, limit, cursor string) {
		q := url.Values{"actor": {actor}, "action": {action}, "target": {target}, "since": {since},
			"until": {until}, "limit": {limit}, "cursor": {cursor}}
		req := httptest.NewRequest("GET", "/api/audit?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		w := httptest.NewRecorder()
		k.Handler.ServeHTTP(w, req)
		if w.Code != 200 && w.Code != 400 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		var m map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %s", w.Body)
		}
	})
}
