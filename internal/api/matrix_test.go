package api_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// matrixCallers are the callers of the access matrix, in the order the
// tables list them:
//
//   - "" anonymous;
//   - carol, a plain user with no roles;
//   - alice, the owner of the records under test;
//   - dave, holding the roles reviewer (may list and view everything) and
//     editor (may update everything);
//   - admin, a superuser;
//   - alice-key and carol-key, API keys acting as alice and carol;
//   - dave-key, a key of dave with all his roles (roles null);
//   - dave-rev-key, a key of dave narrowed to the reviewer role;
//   - admin-plain-key, a key of admin narrowed to no roles: not a superuser,
//     so a plain user who owns "admin private".
var matrixCallers = []string{"", "carol", "alice", "dave", "admin", "alice-key", "carol-key", "dave-key", "dave-rev-key", "admin-plain-key"}

// matrixUser is the user each caller acts as ("" for anonymous).
var matrixUser = map[string]string{
	"": "", "carol": "carol", "alice": "alice", "dave": "dave", "admin": "admin",
	"alice-key": "alice", "carol-key": "carol", "dave-key": "dave", "dave-rev-key": "dave", "admin-plain-key": "admin",
}

// statuses is one row of the matrix: the expected status for each caller.
type statuses map[string]int

// all gives every caller the same status, with overrides.
func all(status int, except statuses) statuses {
	out := statuses{}
	for _, c := range matrixCallers {
		out[c] = status
	}
	for c, s := range except {
		out[c] = s
	}
	return out
}

func errCode(status int) string {
	switch status {
	case 401:
		return "unauthorized"
	case 403:
		return "forbidden"
	case 404:
		return "not_found"
	case 422:
		return "validation_failed"
	}
	return ""
}

func callerName(who string) string {
	if who == "" {
		return "anonymous"
	}
	return who
}

// TestAccessMatrix is acceptance point 1 of issue 4: every record action ×
// every kind of caller × allowed and denied, on both engines, following the
// statuses of docs/design.md ("Rules"): a record the view rule hides is 404
// for view, update and delete; a refused create, or a refused update or
// delete of a visible record, is 401 anonymous and 403 signed in. Refused
// writes must leave the record as it was. IDOR: no caller reaches another
// user's record by id or by filter.
func TestAccessMatrix(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		h := newHarness(t, open(t))
		for _, u := range []string{"alice", "carol", "dave"} {
			h.signup(u)
		}
		for _, role := range []string{"reviewer", "editor"} {
			h.expect(h.do("admin", "POST", "/api/roles", map[string]any{"name": role, "description": role + "s", "permissions": []string{}}), 201, "")
			h.expect(h.do("admin", "PUT", "/api/users/"+h.ids["dave"]+"/roles/"+role, nil), 204, "")
		}
		h.expect(h.do("admin", "POST", "/api/collections", map[string]any{
			"name": "docs",
			"fields": []map[string]any{
				{"name": "title", "type": "text", "required": true},
				{"name": "owner", "type": "relation", "collection": "users"},
				{"name": "public", "type": "bool"},
			},
			"rules": map[string]any{
				"list":   `public || owner == auth.id || "reviewer" in auth.roles`,
				"view":   `public || owner == auth.id || "reviewer" in auth.roles`,
				"create": `owner == auth.id`,
				"update": `owner == auth.id || "editor" in auth.roles`,
				"delete": `owner == auth.id`,
			},
		}), 201, "")

		expires := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		for _, k := range []struct {
			user, name string
			roles      any
		}{
			{"alice", "alice-key", nil},
			{"carol", "carol-key", nil},
			{"dave", "dave-key", nil},
			{"dave", "dave-rev-key", []string{"reviewer"}},
			{"admin", "admin-plain-key", []string{}},
		} {
			body := map[string]any{"name": k.name, "expires_at": expires}
			if k.roles != nil {
				body["roles"] = k.roles
			}
			m := h.expect(h.do(k.user, "POST", "/api/keys", body), 201, "")
			key, _ := m["key"].(string)
			if !strings.HasPrefix(key, "keep_") {
				t.Fatalf("create key %s: %v", k.name, m)
			}
			h.tokens[k.name] = key
			h.secret = append(h.secret, key)
		}

		const docs = "/api/collections/docs/records"
		// Seed records, each created by its owner.
		seed := map[string]string{} // title → id
		for _, s := range []struct {
			owner, title string
			public       bool
		}{
			{"alice", "alice public", true},
			{"alice", "alice private", false},
			{"carol", "carol private", false},
			{"dave", "dave private", false},
			{"admin", "admin private", false},
		} {
			m := h.expect(h.do(s.owner, "POST", docs, map[string]any{"title": s.title, "owner": h.ids[s.owner], "public": s.public}), 201, "")
			seed[s.title] = m["id"].(string)
		}
		everything := []string{"admin private", "alice private", "alice public", "carol private", "dave private"}

		titles := func(h *harness, who, query string) []string {
			h.t.Helper()
			m := h.expect(h.do(who, "GET", docs+query, nil), 200, "")
			out := []string{}
			for _, it := range m["items"].([]any) {
				out = append(out, it.(map[string]any)["title"].(string))
			}
			slices.Sort(out)
			return out
		}
		adminGet := func(h *harness, id string) response {
			h.t.Helper()
			return h.do("admin", "GET", docs+"/"+id, nil)
		}
		cases := 0

		// list: which records each caller sees, with no filter. Runs before
		// any other record exists.
		t.Run("list", func(t *testing.T) {
			want := map[string][]string{
				"":                {"alice public"},
				"carol":           {"alice public", "carol private"},
				"alice":           {"alice private", "alice public"},
				"dave":            everything,
				"admin":           everything,
				"alice-key":       {"alice private", "alice public"},
				"carol-key":       {"alice public", "carol private"},
				"dave-key":        everything,
				"dave-rev-key":    everything,
				"admin-plain-key": {"admin private", "alice public"},
			}
			for _, who := range matrixCallers {
				cases++
				t.Run(callerName(who), func(t *testing.T) {
					h := *h
					h.t = t
					if got := titles(&h, who, "?sort=title"); !slices.Equal(got, want[who]) {
						t.Errorf("list: got %q, want %q", got, want[who])
					}
				})
			}
		})

		// IDOR by filter: a filter narrows what the list rule allows, never
		// widens it, whatever it names.
		t.Run("IDOR by filter", func(t *testing.T) {
			alice, aPriv := h.ids["alice"], seed["alice private"]
			for _, tc := range []struct {
				who, filter string
				want        []string
			}{
				{"carol", `owner == "` + alice + `"`, []string{"alice public"}},
				{"carol", `id == "` + aPriv + `"`, []string{}},
				{"carol", `title == "alice private"`, []string{}},
				{"carol", `title.startsWith("alice")`, []string{"alice public"}},
				{"carol", `!public`, []string{"carol private"}},
				{"carol", `owner != auth.id`, []string{"alice public"}},
				{"carol", `public || !public`, []string{"alice public", "carol private"}},
				{"carol", `owner == "` + alice + `" || id == "` + aPriv + `" || true`, []string{"alice public", "carol private"}},
				{"carol-key", `owner == "` + alice + `"`, []string{"alice public"}},
				{"carol-key", `id == "` + aPriv + `"`, []string{}},
				{"", `owner == "` + alice + `"`, []string{"alice public"}},
				{"", `id == "` + aPriv + `"`, []string{}},
				{"", `!public`, []string{}},
				{"admin-plain-key", `id == "` + aPriv + `"`, []string{}},
				{"admin-plain-key", `owner == "` + alice + `"`, []string{"alice public"}},
				{"dave-rev-key", `id == "` + aPriv + `"`, []string{"alice private"}},
				{"alice", `owner == "` + h.ids["carol"] + `"`, []string{}},
				{"alice-key", `title == "carol private"`, []string{}},
			} {
				cases++
				t.Run(callerName(tc.who)+" "+tc.filter, func(t *testing.T) {
					h := *h
					h.t = t
					if got := titles(&h, tc.who, "?filter="+urlq(tc.filter)); !slices.Equal(got, tc.want) {
						t.Errorf("filter %s: got %q, want %q", tc.filter, got, tc.want)
					}
				})
			}
		})

		t.Run("view", func(t *testing.T) {
			for _, row := range []struct {
				record string
				want   statuses
			}{
				{"alice public", all(200, nil)},
				{"alice private", all(404, statuses{"alice": 200, "dave": 200, "admin": 200, "alice-key": 200, "dave-key": 200, "dave-rev-key": 200})},
				{"carol private", all(404, statuses{"carol": 200, "dave": 200, "admin": 200, "carol-key": 200, "dave-key": 200, "dave-rev-key": 200})},
				{"admin private", all(404, statuses{"dave": 200, "admin": 200, "dave-key": 200, "dave-rev-key": 200, "admin-plain-key": 200})},
				{"no such record", all(404, nil)},
			} {
				id := seed[row.record]
				if id == "" {
					id = "01a23b95-0962-7000-8ba1-ee11e296836e"
				}
				for _, who := range matrixCallers {
					cases++
					t.Run(row.record+"/"+callerName(who), func(t *testing.T) {
						h := *h
						h.t = t
						m := h.expect(h.do(who, "GET", docs+"/"+id, nil), row.want[who], errCode(row.want[who]))
						if row.want[who] == 200 && (m["id"] != id || m["title"] != row.record) {
							t.Fatalf("view: %v", m)
						}
					})
				}
			}
		})

		t.Run("create", func(t *testing.T) {
			for _, row := range []struct {
				name  string
				owner func(user string) any // the owner sent by a caller acting as user
				want  statuses
			}{
				{"own", func(u string) any {
					if u == "" {
						return h.ids["alice"]
					}
					return h.ids[u]
				}, all(201, statuses{"": 401})},
				{"in another's name", func(u string) any {
					if u == "alice" {
						return h.ids["carol"]
					}
					return h.ids["alice"]
				}, all(403, statuses{"": 401, "admin": 201})},
				{"without owner", func(string) any { return nil }, all(403, statuses{"": 401, "admin": 201})},
			} {
				for _, who := range matrixCallers {
					cases++
					t.Run(row.name+"/"+callerName(who), func(t *testing.T) {
						h := *h
						h.t = t
						title := fmt.Sprintf("create %s by %s", row.name, callerName(who))
						owner := row.owner(matrixUser[who])
						want := row.want[who]
						m := h.expect(h.do(who, "POST", docs, map[string]any{"title": title, "owner": owner, "public": true}), want, errCode(want))
						// Count as admin: a refused create leaves nothing behind.
						n := len(titles(&h, "admin", "?filter="+urlq(`title == "`+title+`"`)))
						if want == 201 {
							if n != 1 || m["owner"] != owner && !(owner == nil && m["owner"] == "") {
								t.Fatalf("created %d records: %v", n, m)
							}
						} else if n != 0 {
							t.Fatalf("refused create left %d records", n)
						}
					})
				}
			}
		})

		fresh := 0
		// newDoc makes a record of alice's as admin, for one write case.
		newDoc := func(h *harness, public bool) string {
			h.t.Helper()
			fresh++
			return h.expect(h.do("admin", "POST", docs, map[string]any{
				"title": fmt.Sprintf("fresh %d", fresh), "owner": h.ids["alice"], "public": public,
			}), 201, "")["id"].(string)
		}

		t.Run("update", func(t *testing.T) {
			for _, row := range []struct {
				name   string
				public bool
				body   func(user string) map[string]any
				want   statuses
			}{
				{"title of alice public", true, func(string) map[string]any { return map[string]any{"title": "changed"} },
					all(403, statuses{"": 401, "alice": 200, "dave": 200, "admin": 200, "alice-key": 200, "dave-key": 200})},
				{"title of alice private", false, func(string) map[string]any { return map[string]any{"title": "changed"} },
					all(404, statuses{"alice": 200, "dave": 200, "admin": 200, "alice-key": 200, "dave-key": 200, "dave-rev-key": 403})},
				{"make alice private public", false, func(string) map[string]any { return map[string]any{"public": true} },
					all(404, statuses{"alice": 200, "dave": 200, "admin": 200, "alice-key": 200, "dave-key": 200, "dave-rev-key": 403})},
				// Taking a record: the update rule must hold before the change.
				{"take alice public", true, func(u string) map[string]any {
					if u == "" {
						return map[string]any{"owner": h.ids["carol"]}
					}
					return map[string]any{"owner": h.ids[u]}
				}, all(403, statuses{"": 401, "alice": 200, "dave": 200, "admin": 200, "alice-key": 200, "dave-key": 200})},
				{"take alice private", false, func(u string) map[string]any {
					if u == "" {
						return map[string]any{"owner": h.ids["carol"]}
					}
					return map[string]any{"owner": h.ids[u]}
				}, all(404, statuses{"alice": 200, "dave": 200, "admin": 200, "alice-key": 200, "dave-key": 200, "dave-rev-key": 403})},
				// Giving a record away: the update rule must hold after the
				// change (alice), and a relation may only point at a user
				// the caller may view (dave may not view carol: 422).
				{"give alice private to carol", false, func(string) map[string]any { return map[string]any{"owner": h.ids["carol"]} },
					all(404, statuses{"alice": 403, "dave": 422, "admin": 200, "alice-key": 403, "dave-key": 422, "dave-rev-key": 403})},
				{"give alice public to carol", true, func(string) map[string]any { return map[string]any{"owner": h.ids["carol"]} },
					all(403, statuses{"": 401, "dave": 422, "admin": 200, "dave-key": 422})},
			} {
				for _, who := range matrixCallers {
					cases++
					t.Run(row.name+"/"+callerName(who), func(t *testing.T) {
						h := *h
						h.t = t
						id := newDoc(&h, row.public)
						before := h.expect(adminGet(&h, id), 200, "")
						body := row.body(matrixUser[who])
						want := row.want[who]
						h.expect(h.do(who, "PATCH", docs+"/"+id, body), want, errCode(want))
						after := h.expect(adminGet(&h, id), 200, "")
						if want != 200 {
							if !reflect.DeepEqual(before, after) {
								t.Fatalf("refused update changed the record:\nbefore %v\nafter  %v", before, after)
							}
							return
						}
						for k, v := range body {
							if after[k] != v {
								t.Fatalf("update not applied: %s = %v, want %v: %v", k, after[k], v, after)
							}
						}
					})
				}
			}
		})

		t.Run("delete", func(t *testing.T) {
			for _, row := range []struct {
				name   string
				public bool
				want   statuses
			}{
				{"alice public", true, all(403, statuses{"": 401, "alice": 204, "admin": 204, "alice-key": 204})},
				{"alice private", false, all(404, statuses{"alice": 204, "dave": 403, "admin": 204, "alice-key": 204, "dave-key": 403, "dave-rev-key": 403})},
			} {
				for _, who := range matrixCallers {
					cases++
					t.Run(row.name+"/"+callerName(who), func(t *testing.T) {
						h := *h
						h.t = t
						id := newDoc(&h, row.public)
						before := h.expect(adminGet(&h, id), 200, "")
						want := row.want[who]
						h.expect(h.do(who, "DELETE", docs+"/"+id, nil), want, errCode(want))
						if want == 204 {
							h.expect(adminGet(&h, id), 404, "not_found")
							return
						}
						if after := h.expect(adminGet(&h, id), 200, ""); !reflect.DeepEqual(before, after) {
							t.Fatalf("refused delete changed the record:\nbefore %v\nafter  %v", before, after)
						}
					})
				}
			}
		})

		// IDOR by id: carol (and her key) cannot read, change or delete
		// alice's private record, and nothing about it changes.
		t.Run("IDOR by id", func(t *testing.T) {
			id := seed["alice private"]
			h := *h
			h.t = t
			before := h.expect(adminGet(&h, id), 200, "")
			for _, who := range []string{"", "carol", "carol-key", "admin-plain-key"} {
				cases += 6
				h.expect(h.do(who, "GET", docs+"/"+id, nil), 404, "not_found")
				h.expect(h.do(who, "GET", docs+"/"+id+"?fields=title", nil), 404, "not_found")
				h.expect(h.do(who, "PATCH", docs+"/"+id, map[string]any{"title": "pwned"}), 404, "not_found")
				h.expect(h.do(who, "PATCH", docs+"/"+id, map[string]any{"owner": h.ids["carol"]}), 404, "not_found")
				h.expect(h.do(who, "PATCH", docs+"/"+id, map[string]any{"public": true}), 404, "not_found")
				h.expect(h.do(who, "DELETE", docs+"/"+id, nil), 404, "not_found")
			}
			if after := h.expect(adminGet(&h, id), 200, ""); !reflect.DeepEqual(before, after) {
				t.Fatalf("alice's private record changed:\nbefore %v\nafter  %v", before, after)
			}
			// The seed records are all still there and unchanged in owner.
			if got := titles(&h, "admin", "?filter="+urlq(`!title.startsWith("fresh") && !title.startsWith("create") && title != "changed"`)); !slices.Equal(got, everything) {
				t.Fatalf("seed records: %q", got)
			}
		})
		t.Logf("access matrix: %d cases", cases)
	})
}
