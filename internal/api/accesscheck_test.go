package api_test

import (
	"testing"

	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

func TestAccessCheck(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		h := newHarness(t, open(t))
		h.signup("alice")
		h.signup("carol")
		h.expect(h.do("admin", "POST", "/api/collections", map[string]any{
			"name":   "notes",
			"fields": []map[string]any{{"name": "public", "type": "bool"}, {"name": "owner", "type": "relation", "collection": "users"}},
			"rules": map[string]any{"list": "public || owner == auth.id", "view": "public || owner == auth.id",
				"create": "owner == auth.id", "update": "owner == auth.id"},
		}), 201, "")
		private := h.expect(h.do("alice", "POST", "/api/collections/notes/records", map[string]any{"public": false, "owner": h.ids["alice"]}), 201, "")["id"].(string)
		public := h.expect(h.do("alice", "POST", "/api/collections/notes/records", map[string]any{"public": true, "owner": h.ids["alice"]}), 201, "")["id"].(string)
		check := func(who, action, record string) map[string]any {
			t.Helper()
			return h.expect(h.do("admin", "POST", "/api/access/check", map[string]any{
				"user_id": h.ids[who], "collection": "notes", "action": action, "record_id": record}), 200, "")
		}
		for _, tc := range []struct {
			who, action, record string
			allowed             bool
			rule                string
		}{
			{"alice", "view", private, true, "view rule"},
			{"carol", "view", private, false, "view rule"},
			{"carol", "view", public, true, "view rule"},
			{"carol", "update", public, false, "update rule"},
			{"carol", "update", private, false, "view rule"},
			{"alice", "update", private, true, "update rule"},
			{"carol", "delete", public, false, "delete rule"},
			{"admin", "delete", public, true, "superuser"},
			{"carol", "list", "", true, "list rule"},
		} {
			got := check(tc.who, tc.action, tc.record)
			if got["allowed"] != tc.allowed || got["rule"] != tc.rule || got["reason"] == "" {
				t.Errorf("%s %s %s: got %v, want allowed=%v rule=%q", tc.who, tc.action, tc.record, got, tc.allowed, tc.rule)
			}
		}
		h.expect(h.do("carol", "POST", "/api/access/check", map[string]any{"user_id": h.ids["carol"], "collection": "notes", "action": "view"}), 403, "forbidden")
		h.expect(h.do("admin", "POST", "/api/access/check", map[string]any{"user_id": "nope", "collection": "notes", "action": "view"}), 422, "validation_failed")
		h.expect(h.do("admin", "POST", "/api/access/check", map[string]any{"user_id": h.ids["carol"], "collection": "notes", "action": "fly"}), 422, "validation_failed")
		h.expect(h.do("admin", "POST", "/api/access/check", map[string]any{"user_id": h.ids["carol"], "collection": "nope", "action": "view"}), 404, "not_found")
	})
}
