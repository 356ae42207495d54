package api_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// Values that only a superuser may ever see in a response: a hidden field's
// and a read-ruled field's (the latter also by the record's owner).
const (
	hiddenValue = "zq-hidden-value"
	noteValue   = "zq-owner-note"
)

// TestFieldAccess proves issue 4, acceptance 3: hidden and read-ruled fields
// never appear in responses, including via fields=, expand=, filter probing
// and sort, for anonymous callers, a plain user and the owner, while a
// superuser sees them; readonly and write-ruled fields cannot be set.
func TestFieldAccess(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		h := newHarness(t, open(t))
		h.signup("alice") // the owner
		h.signup("bob")   // a plain user
		h.expect(h.do("admin", "POST", "/api/collections", map[string]any{
			"name": "docs",
			"fields": []map[string]any{
				{"name": "title", "type": "text"},
				{"name": "owner", "type": "relation", "collection": "users"},
				{"name": "secret", "type": "text", "hidden": true},
				{"name": "note", "type": "text", "read_rule": "owner == auth.id"},
				{"name": "level", "type": "number", "readonly": true},
				{"name": "status", "type": "select", "values": []string{"draft", "published"}, "write_rule": `status == "draft"`},
			},
			"rules": map[string]any{
				// The list rule may use the hidden field.
				"list": `secret != "unlisted"`, "view": "true",
				"create": "owner == auth.id", "update": "owner == auth.id", "delete": "owner == auth.id",
			},
		}), 201, "")
		h.expect(h.do("admin", "POST", "/api/collections", map[string]any{
			"name": "refs",
			"fields": []map[string]any{
				{"name": "doc", "type": "relation", "collection": "docs"},
				{"name": "docs", "type": "relation", "collection": "docs", "multi": true},
			},
			"rules": map[string]any{"list": "true", "view": "true"},
		}), 201, "")

		var docs []string
		t.Run("owner creates and gets back no hidden value", func(t *testing.T) {
			for _, title := range []string{"a", "b", "c"} {
				r := h.do("alice", "POST", "/api/collections/docs/records", map[string]any{
					"title": title, "owner": h.ids["alice"], "secret": hiddenValue, "note": noteValue, "status": "draft"})
				m := h.expect(r, 201, "")
				if strings.Contains(string(r.body), hiddenValue) || m["note"] != noteValue {
					t.Fatalf("create answered %s", r.body)
				}
				docs = append(docs, m["id"].(string))
			}
			h.expect(h.do("admin", "POST", "/api/collections/refs/records", map[string]any{"doc": docs[0], "docs": docs}), 201, "")
		})
		doc := "/api/collections/docs/records/" + docs[0]
		reads := []string{
			doc,
			doc + "?fields=secret,note,title",
			"/api/collections/docs/records",
			"/api/collections/docs/records?fields=secret,note",
			"/api/collections/docs/records?sort=title&limit=1",
			"/api/collections/docs/records?filter=" + urlq(`title == "a"`),
			"/api/collections/refs/records?expand=doc,docs",
			"/api/collections/refs/records?expand=doc,docs&fields=doc,docs",
		}

		for _, who := range []string{"", "bob", "alice"} {
			name := who
			if name == "" {
				name = "anonymous"
			}
			t.Run(name+" never sees the hidden value", func(t *testing.T) {
				for _, path := range reads {
					r := h.do(who, "GET", path, nil)
					h.expect(r, 200, "")
					body := string(r.body)
					if strings.Contains(body, hiddenValue) || strings.Contains(body, `"secret"`) {
						t.Fatalf("GET %s answered %s", path, body)
					}
					if got, want := strings.Contains(body, noteValue), who == "alice"; got != want {
						t.Fatalf("GET %s: note shown = %v, want %v: %s", path, got, want, body)
					}
				}
			})
			t.Run(name+" cannot probe by filter or sort", func(t *testing.T) {
				for _, tc := range []struct{ query, want string }{
					{"filter=" + urlq(`secret == "`+hiddenValue+`"`), `field "secret" cannot be filtered`},
					{"filter=" + urlq(`secret.startsWith("z")`), `field "secret" cannot be filtered`},
					{"filter=" + urlq(`title == "a" || secret != null`), `field "secret" cannot be filtered`},
					{"filter=" + urlq(`note.endsWith("note")`), `field "note" cannot be filtered`},
					{"sort=secret", `field "secret" cannot be sorted`},
					{"sort=-note", `field "note" cannot be sorted`},
				} {
					m := h.expect(h.do(who, "GET", "/api/collections/docs/records?"+tc.query, nil), 400, "bad_request")
					if msg := m["error"].(map[string]any)["message"].(string); !strings.Contains(msg, tc.want) {
						t.Errorf("?%s: message %q, want it to say %s", tc.query, msg, tc.want)
					}
				}
			})
			t.Run(name+"'s cursors carry no hidden value", func(t *testing.T) {
				path := "/api/collections/docs/records?sort=title&limit=1"
				for range 5 {
					m := h.expect(h.do(who, "GET", path, nil), 200, "")
					next, _ := m["next_cursor"].(string)
					if next == "" {
						return
					}
					raw, err := base64.RawURLEncoding.DecodeString(next)
					if err != nil {
						t.Fatal(err)
					}
					if strings.Contains(string(raw), hiddenValue) || strings.Contains(string(raw), noteValue) {
						t.Fatalf("cursor %s", raw)
					}
					path = "/api/collections/docs/records?sort=title&limit=1&cursor=" + urlq(next)
				}
			})
		}

		t.Run("the superuser sees everything and may filter and sort by it", func(t *testing.T) {
			for _, path := range []string{doc, "/api/collections/docs/records", "/api/collections/refs/records?expand=doc,docs"} {
				r := h.do("admin", "GET", path, nil)
				h.expect(r, 200, "")
				if !strings.Contains(string(r.body), hiddenValue) || !strings.Contains(string(r.body), noteValue) {
					t.Fatalf("GET %s answered %s", path, r.body)
				}
			}
			m := h.expect(h.do("admin", "GET", "/api/collections/docs/records?sort=-secret,title&filter="+urlq(`secret.startsWith("zq") && note != null`), nil), 200, "")
			if n := len(m["items"].([]any)); n != 3 {
				t.Fatalf("superuser filter found %d", n)
			}
		})
		t.Run("rules may use the hidden field", func(t *testing.T) {
			h.expect(h.do("admin", "PATCH", doc, map[string]any{"secret": "unlisted"}), 200, "")
			m := h.expect(h.do("alice", "GET", "/api/collections/docs/records", nil), 200, "")
			if n := len(m["items"].([]any)); n != 2 {
				t.Fatalf("alice lists %d docs, want 2 (one is unlisted by its hidden field)", n)
			}
			h.expect(h.do("admin", "PATCH", doc, map[string]any{"secret": hiddenValue}), 200, "")
		})

		t.Run("readonly and write-ruled fields are refused with 403", func(t *testing.T) {
			for _, tc := range []struct {
				who, method, path string
				body              map[string]any
				want              string
			}{
				{"alice", "PATCH", doc, map[string]any{"level": 9}, `field "level" is read-only`},
				{"alice", "POST", "/api/collections/docs/records", map[string]any{"owner": h.ids["alice"], "level": 9}, `field "level" is read-only`},
				{"alice", "PATCH", doc, map[string]any{"status": "published"}, `field "status" cannot be set`},
				{"alice", "POST", "/api/collections/docs/records", map[string]any{"owner": h.ids["alice"], "status": "published"}, `field "status" cannot be set`},
			} {
				m := h.expect(h.do(tc.who, tc.method, tc.path, tc.body), 403, "forbidden")
				if msg := m["error"].(map[string]any)["message"].(string); !strings.Contains(msg, tc.want) {
					t.Errorf("%s %s %v: message %q, want it to say %s", tc.method, tc.path, tc.body, msg, tc.want)
				}
			}
			m := h.expect(h.do("admin", "GET", doc, nil), 200, "")
			if m["level"] != nil || m["status"] != "draft" {
				t.Fatalf("a refused write changed the record: %v", m)
			}
			m = h.expect(h.do("admin", "GET", "/api/collections/docs/records", nil), 200, "")
			if n := len(m["items"].([]any)); n != 3 {
				t.Fatalf("a refused create wrote: %d docs", n)
			}
			m = h.expect(h.do("admin", "PATCH", doc, map[string]any{"level": 9, "status": "published"}), 200, "")
			if m["level"] != 9.0 || m["status"] != "published" {
				t.Fatalf("superuser update: %v", m)
			}
		})
		t.Run("a bad field rule is a 422 at save", func(t *testing.T) {
			m := h.expect(h.do("admin", "POST", "/api/collections", map[string]any{
				"name": "bad_rules",
				"fields": []map[string]any{
					{"name": "a", "type": "text", "read_rule": "nosuch == 1"},
					{"name": "b", "type": "text", "write_rule": "b =="},
				},
			}), 422, "validation_failed")
			fields := m["error"].(map[string]any)["fields"].(map[string]any)
			if _, ok := fields["fields[0].read_rule"]; !ok {
				t.Fatalf("fields: %v", fields)
			}
			if _, ok := fields["fields[1].write_rule"]; !ok {
				t.Fatalf("fields: %v", fields)
			}
		})
	})
}
