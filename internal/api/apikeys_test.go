package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// TestAPIKeyScenario walks an API key through its life over HTTP: created
// by a signed-in user, used as a bearer on /api/auth/me and a records route,
// listed without its secret, revoked, then refused.
func TestAPIKeyScenario(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		h := newHarness(t, open(t))
		h.signup("alice")
		h.signup("bob")
		h.expect(h.do("admin", "POST", "/api/collections", map[string]any{
			"name":   "notes",
			"fields": []map[string]any{{"name": "title", "type": "text"}, {"name": "owner", "type": "relation", "collection": "users"}},
			"rules": map[string]any{
				"list": "owner == auth.id", "view": "owner == auth.id", "create": "owner == auth.id",
				"update": "owner == auth.id", "delete": "owner == auth.id",
			},
		}), 201, "")
		expires := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)

		// newKey creates a key as who and lets the harness use it as keyName.
		newKey := func(who, keyName string, body map[string]any) string {
			t.Helper()
			m := h.expect(h.do(who, "POST", "/api/keys", body), 201, "")
			id, _ := m["id"].(string)
			key, _ := m["key"].(string)
			if id == "" || !strings.HasPrefix(key, "keep_") || len(m) != 2 {
				t.Fatalf("create key: %v", m)
			}
			// Added after the response: from here on no response or log may
			// show it.
			h.tokens[keyName] = key
			h.secret = append(h.secret, key)
			return id
		}
		listIDs := func(who string) map[string]map[string]any {
			t.Helper()
			m := h.expect(h.do(who, "GET", "/api/keys", nil), 200, "")
			out := map[string]map[string]any{}
			for _, it := range m["items"].([]any) {
				k := it.(map[string]any)
				if _, ok := k["key"]; ok {
					t.Fatalf("list shows a key: %v", k)
				}
				if _, ok := k["hash"]; ok {
					t.Fatalf("list shows a hash: %v", k)
				}
				out[k["id"].(string)] = k
			}
			return out
		}

		aliceKey := newKey("alice", "alice-key", map[string]any{"name": "ci", "expires_at": expires})

		t.Run("the key acts as its user", func(t *testing.T) {
			m := h.expect(h.do("alice-key", "GET", "/api/auth/me", nil), 200, "")
			if m["id"] != h.ids["alice"] || m["email"] != "alice@example.com" {
				t.Fatalf("me: %v", m)
			}
			h.expect(h.do("alice-key", "POST", "/api/collections/notes/records",
				map[string]any{"title": "from a key", "owner": h.ids["alice"]}), 201, "")
			m = h.expect(h.do("alice-key", "GET", "/api/collections/notes/records", nil), 200, "")
			if items := m["items"].([]any); len(items) != 1 || items[0].(map[string]any)["title"] != "from a key" {
				t.Fatalf("records: %v", m)
			}
			h.expect(h.do("alice-key", "POST", "/api/collections/notes/records",
				map[string]any{"title": "as bob", "owner": h.ids["bob"]}), 403, "forbidden")
		})

		t.Run("a key cannot create keys", func(t *testing.T) {
			h.expect(h.do("alice-key", "POST", "/api/keys", map[string]any{"name": "child", "expires_at": expires}), 403, "forbidden")
		})

		t.Run("bad requests", func(t *testing.T) {
			for _, tc := range []struct {
				name  string
				body  any
				field string
			}{
				{"role the user lacks", map[string]any{"name": "x", "expires_at": expires, "roles": []string{"superuser"}}, "roles"},
				{"no expiry", map[string]any{"name": "x"}, "expires_at"},
				{"past expiry", map[string]any{"name": "x", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"},
				{"expiry too far", map[string]any{"name": "x", "expires_at": time.Now().AddDate(2, 0, 0).Format(time.RFC3339)}, "expires_at"},
				{"no name", map[string]any{"expires_at": expires}, "name"},
				{"another user", map[string]any{"name": "x", "expires_at": expires, "user_id": h.ids["bob"]}, ""},
				{"unknown field", `{"name":"x","expires_at":"` + expires + `","scope":"all"}`, "scope"},
				{"expiry not a time", `{"name":"x","expires_at":"tomorrow"}`, ""},
			} {
				t.Run(tc.name, func(t *testing.T) {
					h := *h
					h.t = t
					r := h.do("alice", "POST", "/api/keys", tc.body)
					if tc.name == "another user" {
						h.expect(r, 403, "forbidden")
						return
					}
					if r.status == 400 && tc.field == "" {
						h.expect(r, 400, "")
						return
					}
					m := h.expect(r, 422, "validation_failed")
					if f, _ := m["error"].(map[string]any)["fields"].(map[string]any); tc.field != "" && f[tc.field] == nil {
						t.Fatalf("fields: %v", m)
					}
				})
			}
			h.expect(h.do("", "POST", "/api/keys", map[string]any{"name": "x", "expires_at": expires}), 401, "unauthorized")
			h.expect(h.do("", "GET", "/api/keys", nil), 401, "unauthorized")
		})

		var forAlice string
		t.Run("superuser keys", func(t *testing.T) {
			forAlice = newKey("admin", "admin-for-alice", map[string]any{"name": "for alice", "expires_at": expires, "user_id": h.ids["alice"]})
			m := h.expect(h.do("admin-for-alice", "GET", "/api/auth/me", nil), 200, "")
			if m["id"] != h.ids["alice"] {
				t.Fatalf("me: %v", m)
			}
			// A superuser's key narrowed to no roles is not a superuser.
			newKey("admin", "admin-plain", map[string]any{"name": "plain", "expires_at": expires, "roles": []string{}})
			h.expect(h.do("admin-plain", "GET", "/api/collections", nil), 403, "forbidden")
			newKey("admin", "admin-full", map[string]any{"name": "full", "expires_at": expires})
			h.expect(h.do("admin-full", "GET", "/api/collections", nil), 200, "")
		})

		t.Run("list", func(t *testing.T) {
			mine := listIDs("alice")
			k, ok := mine[aliceKey]
			if !ok || len(mine) != 2 || mine[forAlice] == nil {
				t.Fatalf("alice's keys: %v", mine)
			}
			if k["name"] != "ci" || k["user_id"] != h.ids["alice"] || k["roles"] != nil || k["last_used"] == nil || k["expires_at"] == nil {
				t.Fatalf("alice's key: %v", k)
			}
			if len(listIDs("bob")) != 0 {
				t.Fatal("bob sees keys")
			}
			if all := listIDs("admin"); all[aliceKey] == nil || all[forAlice] == nil || len(all) != 4 {
				t.Fatalf("admin sees %v", all)
			}
		})

		t.Run("revoke", func(t *testing.T) {
			h.expect(h.do("bob", "DELETE", "/api/keys/"+aliceKey, nil), 404, "not_found")
			h.expect(h.do("alice-key", "GET", "/api/auth/me", nil), 200, "")
			h.expect(h.do("alice", "DELETE", "/api/keys/"+aliceKey, nil), 204, "")
			h.expect(h.do("alice-key", "GET", "/api/auth/me", nil), 401, "invalid_token")
			h.expect(h.do("alice-key", "GET", "/api/collections/notes/records", nil), 401, "invalid_token")
			h.expect(h.do("alice", "DELETE", "/api/keys/"+aliceKey, nil), 404, "not_found")
			h.expect(h.do("admin", "DELETE", "/api/keys/"+forAlice, nil), 204, "")
			h.expect(h.do("admin-for-alice", "GET", "/api/auth/me", nil), 401, "invalid_token")
			if len(listIDs("alice")) != 0 {
				t.Fatal("revoked keys are listed")
			}
		})

		t.Run("no key in any log line", func(t *testing.T) {
			logs := h.logs.String()
			if !strings.Contains(logs, "api key created") {
				t.Fatal("no key log lines captured")
			}
			h.checkNoSecrets(logs, "the log")
		})
	})
}
