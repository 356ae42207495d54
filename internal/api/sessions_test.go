package api_test

import (
	"strings"
	"testing"

	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// loginSession logs email in as a new session named who and returns its
// refresh token; both tokens join the secrets the log scan looks for.
func (h *harness) loginSession(who, email, password string) (refresh string) {
	h.t.Helper()
	m := h.expect(h.do("", "POST", "/api/auth/login", map[string]string{"email": email, "password": password}), 200, "")
	h.tokens[who], refresh = h.checkTokens(m)
	return refresh
}

// checkTokens checks the shape of a login or refresh answer and returns its
// tokens.
func (h *harness) checkTokens(m map[string]any) (access, refresh string) {
	h.t.Helper()
	access, _ = m["access_token"].(string)
	refresh, _ = m["refresh_token"].(string)
	user, _ := m["user"].(map[string]any)
	exp, _ := m["expires_in"].(float64)
	if access == "" || !strings.HasPrefix(refresh, "kr_") || m["token_type"] != "Bearer" || exp <= 0 || user["id"] == nil || user["email"] == nil {
		h.t.Fatalf("bad token answer: %v", m)
	}
	h.secret = append(h.secret, access, refresh)
	return access, refresh
}

func (h *harness) refreshSession(who, refresh string) (next string) {
	h.t.Helper()
	m := h.expect(h.do("", "POST", "/api/auth/refresh", map[string]string{"refresh_token": refresh}), 200, "")
	h.tokens[who], next = h.checkTokens(m)
	return next
}

// sessionIDs lists who's sessions: all ids, and the current one.
func (h *harness) sessionIDs(who string) (ids []string, current string) {
	h.t.Helper()
	m := h.expect(h.do(who, "GET", "/api/auth/sessions", nil), 200, "")
	items, ok := m["items"].([]any)
	if !ok {
		h.t.Fatalf("sessions: %v", m)
	}
	for _, it := range items {
		s := it.(map[string]any)
		for _, k := range []string{"id", "created", "last_used", "ip", "user_agent", "current"} {
			if _, ok := s[k]; !ok {
				h.t.Fatalf("session without %s: %v", k, s)
			}
		}
		if len(s) != 6 {
			h.t.Fatalf("session has extra members: %v", s)
		}
		id := s["id"].(string)
		ids = append(ids, id)
		if s["current"] == true {
			if current != "" {
				h.t.Fatalf("two current sessions: %v", m)
			}
			current = id
		}
	}
	return ids, current
}

func (h *harness) signedOut(who string) {
	h.t.Helper()
	h.expect(h.do(who, "GET", "/api/auth/me", nil), 401, "invalid_token")
}

func (h *harness) signedIn(who string) {
	h.t.Helper()
	h.expect(h.do(who, "GET", "/api/auth/me", nil), 200, "")
}

func TestSessionsAPI(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		h := newHarness(t, open(t))
		h.signup("alice")
		h.signup("bob")
		alicePW, bobPW := "pass for alice 123", "pass for bob 123"

		t.Run("login answers with a refresh token and the user", func(t *testing.T) {
			m := h.expect(h.do("", "POST", "/api/auth/login", map[string]string{"email": "alice@example.com", "password": alicePW}), 200, "")
			h.checkTokens(m)
			if m["user"].(map[string]any)["id"] != h.ids["alice"] {
				t.Fatalf("login user: %v", m["user"])
			}
		})
		t.Run("refresh", func(t *testing.T) {
			r1 := h.loginSession("alice/r", "alice@example.com", alicePW)
			r2 := h.refreshSession("alice/r", r1)
			h.signedIn("alice/r")
			// Within the grace window a repeat is a conflict and the
			// session lives on.
			h.expect(h.do("", "POST", "/api/auth/refresh", map[string]string{"refresh_token": r1}), 409, "conflict")
			h.signedIn("alice/r")
			h.refreshSession("alice/r", r2)
			for _, bad := range []string{"", "kr_nope", h.tokens["alice/r"]} {
				h.expect(h.do("", "POST", "/api/auth/refresh", map[string]string{"refresh_token": bad}), 401, "invalid_token")
			}
			h.expect(h.do("", "POST", "/api/auth/refresh", map[string]any{"refresh_token": r2, "extra": 1}), 422, "validation_failed")
		})
		t.Run("sessions list", func(t *testing.T) {
			ids, current := h.sessionIDs("alice")
			if len(ids) < 2 || current == "" {
				t.Fatalf("sessions %v, current %q", ids, current)
			}
			h.expect(h.do("", "GET", "/api/auth/sessions", nil), 401, "unauthorized")
		})
		t.Run("delete session", func(t *testing.T) {
			_, bobSession := h.sessionIDs("bob")
			h.expect(h.do("alice", "DELETE", "/api/auth/sessions/"+bobSession, nil), 404, "not_found")
			h.signedIn("bob")
			h.loginSession("alice/d", "alice@example.com", alicePW)
			_, victim := h.sessionIDs("alice/d")
			h.expect(h.do("alice", "DELETE", "/api/auth/sessions/"+victim, nil), 204, "")
			h.signedOut("alice/d")
			h.signedIn("alice")
			h.expect(h.do("alice", "DELETE", "/api/auth/sessions/"+victim, nil), 404, "not_found")
		})
		t.Run("logout", func(t *testing.T) {
			refresh := h.loginSession("alice/l", "alice@example.com", alicePW)
			h.expect(h.do("alice/l", "POST", "/api/auth/logout", nil), 204, "")
			h.signedOut("alice/l")
			h.expect(h.do("", "POST", "/api/auth/refresh", map[string]string{"refresh_token": refresh}), 401, "invalid_token")
			h.signedIn("alice")
			h.expect(h.do("", "POST", "/api/auth/logout", nil), 401, "unauthorized")
		})
		t.Run("revoke others", func(t *testing.T) {
			h.loginSession("alice/o1", "alice@example.com", alicePW)
			refresh := h.loginSession("alice/o2", "alice@example.com", alicePW)
			h.expect(h.do("alice/o1", "POST", "/api/auth/sessions/revoke-others", nil), 204, "")
			h.signedIn("alice/o1")
			h.signedIn("bob")
			for _, who := range []string{"alice", "alice/r", "alice/o2"} {
				h.signedOut(who)
			}
			h.expect(h.do("", "POST", "/api/auth/refresh", map[string]string{"refresh_token": refresh}), 401, "invalid_token")
			if ids, current := h.sessionIDs("alice/o1"); len(ids) != 1 || ids[0] != current {
				t.Fatalf("sessions after revoke-others: %v, current %q", ids, current)
			}
		})
		t.Run("password change", func(t *testing.T) {
			h.loginSession("alice/p1", "alice@example.com", alicePW)
			refresh := h.loginSession("alice/p2", "alice@example.com", alicePW)
			const next = "a new password for alice"
			h.secret = append(h.secret, next)
			h.expect(h.do("alice/p1", "POST", "/api/auth/password", map[string]string{"current_password": "wrong password", "new_password": next}), 403, "forbidden")
			m := h.expect(h.do("alice/p1", "POST", "/api/auth/password", map[string]string{"current_password": alicePW, "new_password": "short"}), 422, "validation_failed")
			if fields, _ := m["error"].(map[string]any)["fields"].(map[string]any); fields["new_password"] == nil {
				t.Fatalf("validation fields: %v", m)
			}
			h.signedIn("alice/p2")
			h.expect(h.do("alice/p1", "POST", "/api/auth/password", map[string]string{"current_password": alicePW, "new_password": next}), 204, "")
			h.signedIn("alice/p1")
			h.signedOut("alice/p2")
			h.signedOut("alice/o1")
			h.signedIn("bob")
			h.expect(h.do("", "POST", "/api/auth/refresh", map[string]string{"refresh_token": refresh}), 401, "invalid_token")
			h.expect(h.do("", "POST", "/api/auth/login", map[string]string{"email": "alice@example.com", "password": alicePW}), 401, "invalid_credentials")
			h.loginSession("alice/p3", "alice@example.com", next)
		})
		t.Run("disabling a user ends its sessions", func(t *testing.T) {
			refresh := h.loginSession("bob/2", "bob@example.com", bobPW)
			h.expect(h.do("admin", "PATCH", "/api/collections/users/records/"+h.ids["bob"], map[string]any{"disabled": true}), 200, "")
			h.signedOut("bob")
			h.signedOut("bob/2")
			h.expect(h.do("", "POST", "/api/auth/refresh", map[string]string{"refresh_token": refresh}), 401, "invalid_token")
			h.expect(h.do("", "POST", "/api/auth/login", map[string]string{"email": "bob@example.com", "password": bobPW}), 401, "invalid_credentials")
			h.signedIn("alice/p1")
			h.signedIn("admin")
		})
		t.Run("no secret in any log line", func(t *testing.T) {
			h.checkNoSecrets(h.logs.String(), "the log")
		})
	})
}
