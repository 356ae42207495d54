package api_test

import (
	"testing"

	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// TestRuleContext drives request.body and relation traversal through the
// API: only editors may change status, and a post is visible to its owner's
// team (team being a readonly user field, so users cannot pick their team).
func TestRuleContext(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		h := newHarness(t, open(t))
		h.expect(h.do("admin", "PATCH", "/api/collections/users", map[string]any{
			"fields": []map[string]any{{"name": "team", "type": "text", "readonly": true}},
		}), 200, "")
		h.signup("alice")
		h.signup("bob")
		h.signup("carol")
		for who, team := range map[string]string{"alice": "red", "bob": "red", "carol": "blue"} {
			h.expect(h.do("admin", "PATCH", "/api/collections/users/records/"+h.ids[who], map[string]any{"team": team}), 200, "")
		}
		h.expect(h.do("alice", "PATCH", "/api/collections/users/records/"+h.ids["alice"], map[string]any{"team": "blue"}), 403, "forbidden")
		h.expect(h.do("admin", "POST", "/api/collections", map[string]any{
			"name": "posts",
			"fields": []map[string]any{
				{"name": "title", "type": "text"},
				{"name": "status", "type": "select", "values": []string{"draft", "published"}},
				{"name": "owner", "type": "relation", "collection": "users"},
			},
			"rules": map[string]any{
				"create": "owner == auth.id && !has(request.body.status)",
				"view":   "owner == auth.id || owner.team == auth.team",
				"list":   "owner.team == auth.team",
				"update": `(owner == auth.id || owner.team == auth.team) && (!has(request.body.status) || "editor" in auth.roles)`,
			},
		}), 201, "")
		h.expect(h.do("alice", "POST", "/api/collections/posts/records", map[string]any{"title": "x", "status": "published", "owner": h.ids["alice"]}), 403, "forbidden")
		post := h.expect(h.do("alice", "POST", "/api/collections/posts/records", map[string]any{"title": "x", "owner": h.ids["alice"]}), 201, "")["id"].(string)

		// Traversal: bob (red) sees alice's post, carol (blue) does not.
		h.expect(h.do("bob", "GET", "/api/collections/posts/records/"+post, nil), 200, "")
		h.expect(h.do("carol", "GET", "/api/collections/posts/records/"+post, nil), 404, "not_found")
		if items := h.expect(h.do("carol", "GET", "/api/collections/posts/records", nil), 200, "")["items"].([]any); len(items) != 0 {
			t.Fatalf("carol lists %v", items)
		}
		// request.body: bob may edit the title, not the status, until he is an editor.
		h.expect(h.do("bob", "PATCH", "/api/collections/posts/records/"+post, map[string]any{"title": "y"}), 200, "")
		h.expect(h.do("bob", "PATCH", "/api/collections/posts/records/"+post, map[string]any{"status": "published"}), 403, "forbidden")
		h.expect(h.do("admin", "POST", "/api/roles", map[string]any{"name": "editor", "description": "edits", "permissions": []string{}}), 201, "")
		h.expect(h.do("admin", "PUT", "/api/users/"+h.ids["bob"]+"/roles/editor", nil), 204, "")
		h.expect(h.do("bob", "PATCH", "/api/collections/posts/records/"+post, map[string]any{"status": "published"}), 200, "")
		// A client filter cannot traverse (it would skip the users view rule).
		h.expect(h.do("bob", "GET", "/api/collections/posts/records?filter="+urlq(`owner.email.startsWith("a")`), nil), 400, "bad_request")
	})
}
