package api_test

import (
	"testing"
	"time"

	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

func itemNames(t *testing.T, m map[string]any, key string) []string {
	t.Helper()
	var out []string
	for _, it := range m["items"].([]any) {
		out = append(out, it.(map[string]any)[key].(string))
	}
	return out
}

// TestRoleRemovalTakesEffectOnNextRequest is acceptance point 2: a role that
// grants a permission, or that a rule tests, stops working on the very next
// request after it is removed.
func TestRoleRemovalTakesEffectOnNextRequest(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		h := newHarness(t, open(t))
		h.signup("carol")
		carolRole := func(role string) string { return "/api/users/" + h.ids["carol"] + "/roles/" + role }

		t.Run("permission", func(t *testing.T) {
			h.expect(h.do("admin", "POST", "/api/roles", map[string]any{
				"name": "schema-admin", "description": "manages collections", "permissions": []string{"collections.manage"},
			}), 201, "")
			h.expect(h.do("carol", "POST", "/api/collections", map[string]any{"name": "before"}), 403, "forbidden")
			h.expect(h.do("admin", "PUT", carolRole("schema-admin"), nil), 204, "")
			h.expect(h.do("carol", "POST", "/api/collections", map[string]any{"name": "drafts"}), 201, "")
			h.expect(h.do("carol", "GET", "/api/collections/drafts", nil), 200, "")
			// Roles are not system permissions beyond what they grant.
			h.expect(h.do("carol", "GET", "/api/roles", nil), 403, "forbidden")
			h.expect(h.do("admin", "DELETE", carolRole("schema-admin"), nil), 204, "")
			h.expect(h.do("carol", "POST", "/api/collections", map[string]any{"name": "after"}), 403, "forbidden")
			h.expect(h.do("carol", "GET", "/api/collections/drafts", nil), 403, "forbidden")
		})

		t.Run("permission removed from the role", func(t *testing.T) {
			h.expect(h.do("admin", "PUT", carolRole("schema-admin"), nil), 204, "")
			h.expect(h.do("carol", "GET", "/api/collections", nil), 200, "")
			h.expect(h.do("admin", "PATCH", "/api/roles/schema-admin", map[string]any{"permissions": []string{}}), 200, "")
			h.expect(h.do("carol", "GET", "/api/collections", nil), 403, "forbidden")
		})

		t.Run("rule on auth.roles", func(t *testing.T) {
			h.expect(h.do("admin", "POST", "/api/roles", map[string]any{"name": "editor"}), 201, "")
			h.expect(h.do("admin", "POST", "/api/collections", map[string]any{
				"name":   "notes",
				"fields": []map[string]any{{"name": "title", "type": "text"}},
				"rules":  map[string]any{"list": `"editor" in auth.roles`, "view": `"editor" in auth.roles`},
			}), 201, "")
			id := h.expect(h.do("admin", "POST", "/api/collections/notes/records", map[string]any{"title": "memo"}), 201, "")["id"].(string)
			list := func() []string {
				return itemNames(t, h.expect(h.do("carol", "GET", "/api/collections/notes/records", nil), 200, ""), "title")
			}
			if got := list(); len(got) != 0 {
				t.Fatalf("without the role: %v", got)
			}
			h.expect(h.do("admin", "PUT", carolRole("editor"), nil), 204, "")
			if got := list(); len(got) != 1 || got[0] != "memo" {
				t.Fatalf("with the role: %v", got)
			}
			h.expect(h.do("carol", "GET", "/api/collections/notes/records/"+id, nil), 200, "")
			h.expect(h.do("admin", "DELETE", carolRole("editor"), nil), 204, "")
			if got := list(); len(got) != 0 {
				t.Fatalf("after removal: %v", got)
			}
			h.expect(h.do("carol", "GET", "/api/collections/notes/records/"+id, nil), 404, "not_found")
		})

		t.Run("deleting a role removes its assignments", func(t *testing.T) {
			h.expect(h.do("admin", "POST", "/api/roles", map[string]any{"name": "auditor", "permissions": []string{"collections.manage"}}), 201, "")
			h.expect(h.do("admin", "PUT", carolRole("auditor"), nil), 204, "")
			h.expect(h.do("carol", "GET", "/api/collections", nil), 200, "")
			h.expect(h.do("admin", "DELETE", "/api/roles/auditor", nil), 204, "")
			h.expect(h.do("carol", "GET", "/api/collections", nil), 403, "forbidden")
			// A new role of the same name is not held by the old holders.
			h.expect(h.do("admin", "POST", "/api/roles", map[string]any{"name": "auditor", "permissions": []string{"collections.manage"}}), 201, "")
			h.expect(h.do("carol", "GET", "/api/collections", nil), 403, "forbidden")
		})

		t.Run("api key narrows permissions", func(t *testing.T) {
			h.expect(h.do("admin", "PUT", carolRole("auditor"), nil), 204, "")
			for name, narrow := range map[string]any{"none": []string{}, "auditor": []string{"auditor"}} {
				m := h.expect(h.do("carol", "POST", "/api/keys", map[string]any{
					"name": "k-" + name, "expires_at": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339), "roles": narrow,
				}), 201, "")
				h.tokens["carol-key-"+name] = m["key"].(string)
				h.secret = append(h.secret, m["key"].(string))
			}
			h.expect(h.do("carol-key-none", "GET", "/api/collections", nil), 403, "forbidden")
			h.expect(h.do("carol-key-auditor", "GET", "/api/collections", nil), 200, "")
		})
	})
}

// TestRoles covers role CRUD and the protections of the superuser role.
func TestRoles(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		h := newHarness(t, open(t))
		h.signup("dave") // users.manage only
		h.signup("erin") // no roles
		userRole := func(who, role string) string { return "/api/users/" + h.ids[who] + "/roles/" + role }

		t.Run("crud", func(t *testing.T) {
			m := h.expect(h.do("admin", "POST", "/api/roles", map[string]any{
				"name": "moderator", "description": "moderates", "permissions": []string{"users.manage", "audit.read", "users.manage"},
			}), 201, "")
			if m["name"] != "moderator" || m["system"] != false || m["created"] == "" {
				t.Fatalf("create: %v", m)
			}
			if ps := m["permissions"].([]any); len(ps) != 2 || ps[0] != "audit.read" || ps[1] != "users.manage" {
				t.Fatalf("permissions not sorted and deduplicated: %v", ps)
			}
			h.expect(h.do("admin", "POST", "/api/roles", map[string]any{"name": "moderator"}), 409, "conflict")
			m = h.expect(h.do("admin", "GET", "/api/roles/moderator", nil), 200, "")
			if m["description"] != "moderates" {
				t.Fatalf("get: %v", m)
			}
			m = h.expect(h.do("admin", "PATCH", "/api/roles/moderator", map[string]any{"description": "keeps order"}), 200, "")
			if m["description"] != "keeps order" || len(m["permissions"].([]any)) != 2 {
				t.Fatalf("patch: %v", m)
			}
			names := itemNames(t, h.expect(h.do("admin", "GET", "/api/roles", nil), 200, ""), "name")
			if len(names) != 2 || names[0] != "moderator" || names[1] != "superuser" {
				t.Fatalf("list: %v", names)
			}
			h.expect(h.do("admin", "DELETE", "/api/roles/moderator", nil), 204, "")
			h.expect(h.do("admin", "GET", "/api/roles/moderator", nil), 404, "not_found")
			h.expect(h.do("admin", "DELETE", "/api/roles/moderator", nil), 404, "not_found")
			h.expect(h.do("admin", "PATCH", "/api/roles/moderator", map[string]any{"description": "x"}), 404, "not_found")
		})

		t.Run("validation", func(t *testing.T) {
			long := make([]byte, 501)
			for i := range long {
				long[i] = 'x'
			}
			for name, body := range map[string]any{
				"bad name":           map[string]any{"name": "Editor"},
				"empty name":         map[string]any{"name": ""},
				"long name":          map[string]any{"name": "a" + string(long[:63])},
				"unknown permission": map[string]any{"name": "x", "permissions": []string{"everything"}},
				"long description":   map[string]any{"name": "x", "description": string(long)},
				"unknown key":        map[string]any{"name": "x", "system": true},
				"wrong type":         map[string]any{"name": "x", "permissions": "users.manage"},
			} {
				t.Run(name, func(t *testing.T) {
					h := *h
					h.t = t
					h.expect(h.do("admin", "POST", "/api/roles", body), 422, "validation_failed")
				})
			}
			h.expect(h.do("admin", "POST", "/api/roles", map[string]any{"name": "renamed"}), 201, "")
			h.expect(h.do("admin", "PATCH", "/api/roles/renamed", map[string]any{"name": "other"}), 422, "validation_failed")
			h.expect(h.do("admin", "PATCH", "/api/roles/renamed", map[string]any{"permissions": []string{"nope"}}), 422, "validation_failed")
		})

		t.Run("superuser role is fixed", func(t *testing.T) {
			m := h.expect(h.do("admin", "GET", "/api/roles/superuser", nil), 200, "")
			if m["system"] != true || len(m["permissions"].([]any)) != 7 {
				t.Fatalf("superuser: %v", m)
			}
			h.expect(h.do("admin", "PATCH", "/api/roles/superuser", map[string]any{"description": "x"}), 403, "forbidden")
			h.expect(h.do("admin", "DELETE", "/api/roles/superuser", nil), 403, "forbidden")
			h.expect(h.do("admin", "POST", "/api/roles", map[string]any{"name": "superuser"}), 409, "conflict")
		})

		t.Run("assignment", func(t *testing.T) {
			h.expect(h.do("admin", "POST", "/api/roles", map[string]any{"name": "people", "permissions": []string{"users.manage"}}), 201, "")
			h.expect(h.do("admin", "POST", "/api/roles", map[string]any{"name": "owners", "permissions": []string{"users.manage", "roles.manage"}}), 201, "")
			h.expect(h.do("admin", "PUT", userRole("dave", "people"), nil), 204, "")
			h.expect(h.do("admin", "PUT", userRole("dave", "people"), nil), 204, "") // idempotent
			h.expect(h.do("admin", "PUT", userRole("dave", "nope"), nil), 404, "not_found")
			h.expect(h.do("admin", "PUT", "/api/users/01966b31-5e6f-7a8b-9c0d-1e2f3a4b5c6d/roles/people", nil), 404, "not_found")
			h.expect(h.do("admin", "DELETE", userRole("erin", "people"), nil), 204, "") // not held: nothing to do

			// dave holds users.manage: he may hand out roles within it…
			h.expect(h.do("dave", "PUT", userRole("erin", "people"), nil), 204, "")
			h.expect(h.do("dave", "DELETE", userRole("erin", "people"), nil), 204, "")
			// …but not one granting more than he holds, nor superuser.
			h.expect(h.do("dave", "PUT", userRole("dave", "owners"), nil), 403, "forbidden")
			h.expect(h.do("dave", "PUT", userRole("dave", "superuser"), nil), 403, "forbidden")
			h.expect(h.do("dave", "PUT", userRole("erin", "superuser"), nil), 403, "forbidden")
			h.expect(h.do("dave", "DELETE", userRole("admin", "superuser"), nil), 403, "forbidden")
			h.expect(h.do("erin", "PUT", userRole("erin", "people"), nil), 403, "forbidden")
			h.expect(h.do("", "PUT", userRole("erin", "people"), nil), 401, "unauthorized")
			h.expect(h.do("dave", "GET", "/api/collections", nil), 403, "forbidden")
		})

		t.Run("no escalation through role edits", func(t *testing.T) {
			h.expect(h.do("admin", "POST", "/api/roles", map[string]any{"name": "definer", "permissions": []string{"roles.manage"}}), 201, "")
			h.expect(h.do("admin", "PUT", userRole("erin", "definer"), nil), 204, "")
			h.expect(h.do("erin", "POST", "/api/roles", map[string]any{"name": "mine", "permissions": []string{"roles.manage"}}), 201, "")
			h.expect(h.do("erin", "POST", "/api/roles", map[string]any{"name": "more", "permissions": []string{"keys.manage"}}), 403, "forbidden")
			h.expect(h.do("erin", "PATCH", "/api/roles/definer", map[string]any{"permissions": []string{"roles.manage", "keys.manage"}}), 403, "forbidden")
			h.expect(h.do("erin", "PATCH", "/api/roles/owners", map[string]any{"description": "x"}), 403, "forbidden")
			h.expect(h.do("erin", "DELETE", "/api/roles/owners", nil), 403, "forbidden")
			h.expect(h.do("erin", "DELETE", "/api/roles/mine", nil), 204, "")
			h.expect(h.do("erin", "GET", "/api/roles/owners", nil), 200, "")
		})

		t.Run("superuser assignment", func(t *testing.T) {
			h.expect(h.do("admin", "DELETE", userRole("admin", "superuser"), nil), 409, "conflict")
			h.expect(h.do("admin", "PUT", userRole("erin", "superuser"), nil), 204, "")
			h.expect(h.do("erin", "GET", "/api/collections", nil), 200, "")
			h.expect(h.do("erin", "DELETE", userRole("erin", "superuser"), nil), 204, "")
			h.expect(h.do("erin", "GET", "/api/collections", nil), 403, "forbidden")
		})
	})
}
