package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/keep-dev/keep/internal/app"
	"github.com/keep-dev/keep/internal/config"
	"github.com/keep-dev/keep/internal/logtest"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// harness is a running Keep on one engine with a client for scenarios.
type harness struct {
	t      *testing.T
	srv    *httptest.Server
	logs   *logtest.Buffer
	tokens map[string]string // who → bearer token
	ids    map[string]string // name → id (users, records)
	secret []string          // values that must never appear in a log or response
	keep   *app.Keep
	cfg    config.Config
}

// newHarness starts Keep on db with a logged-in superuser "admin". Options
// adjust the configuration (the default turns per-IP rate limits off so
// scenarios can log in freely; limit tests turn them back on).
func newHarness(t *testing.T, db store.DB, opts ...func(*config.Config)) *harness {
	t.Helper()
	logs := &logtest.Buffer{}
	cfg := config.Default()
	cfg.LogLevel = "debug"
	cfg.RateLimits = "off"
	cfg.DataDir = t.TempDir()
	for _, o := range opts {
		o(&cfg)
	}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	k, err := app.NewWithStore(context.Background(), cfg, log, db, true)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, srv: httptest.NewServer(k.Handler), logs: logs, tokens: map[string]string{}, ids: map[string]string{}, keep: k, cfg: cfg}
	t.Cleanup(h.srv.Close)

	const adminPassword = "admin password 1"
	rec, err := k.Accounts.CreateSuperuser(context.Background(), "admin@example.com", adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	h.ids["admin"] = rec.ID()
	h.secret = append(h.secret, adminPassword)
	h.login("admin", "admin@example.com", adminPassword)
	return h
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// do sends a request as who ("" for anonymous). A body that is a string is
// sent as is; anything else is encoded as JSON.
func (h *harness) do(who, method, path string, body any, headers ...string) response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if who != "" {
		req.Header.Set("Authorization", "Bearer "+h.tokens[who])
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	h.checkNoSecrets(string(b), "response to "+method+" "+path)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// expect asserts the status and, for errors, the envelope shape.
func (h *harness) expect(r response, status int, code string) map[string]any {
	h.t.Helper()
	if r.status != status {
		h.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if r.header.Get("X-Request-Id") == "" {
		h.t.Fatalf("no X-Request-Id header")
	}
	if status == http.StatusNoContent {
		return nil
	}
	m := r.json(h.t)
	if status >= 400 {
		env, ok := m["error"].(map[string]any)
		if !ok {
			h.t.Fatalf("no error envelope: %s", r.body)
		}
		if code != "" && env["code"] != code {
			h.t.Fatalf("error code %v, want %s: %s", env["code"], code, r.body)
		}
		if env["request_id"] != r.header.Get("X-Request-Id") || env["message"] == "" {
			h.t.Fatalf("envelope request_id/message wrong: %s", r.body)
		}
	}
	return m
}

func (h *harness) login(who, email, password string) {
	h.t.Helper()
	m := h.expect(h.do("", "POST", "/api/auth/login", map[string]string{"email": email, "password": password}), 200, "")
	tok, _ := m["access_token"].(string)
	if tok == "" || m["token_type"] != "Bearer" || m["expires_in"].(float64) <= 0 {
		h.t.Fatalf("bad login response: %v", m)
	}
	h.tokens[who] = tok
	h.secret = append(h.secret, tok)
}

func (h *harness) signup(who string) {
	h.t.Helper()
	email, password := who+"@example.com", "pass for "+who+" 123"
	m := h.expect(h.do("", "POST", "/api/auth/signup", map[string]string{"email": email, "password": password}), 201, "")
	h.ids[who] = m["id"].(string)
	h.secret = append(h.secret, password)
	h.login(who, email, password)
}

// checkNoSecrets fails when a password, token or hash shows up in s.
func (h *harness) checkNoSecrets(s, where string) {
	h.t.Helper()
	for _, sec := range h.secret {
		if strings.Contains(s, sec) {
			h.t.Fatalf("%s contains a secret", where)
		}
	}
	for _, marker := range []string{"$argon2id$", "password_hash"} {
		if strings.Contains(s, marker) {
			h.t.Fatalf("%s contains %q", where, marker)
		}
	}
}

func TestScenarios(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		h := newHarness(t, open(t))
		t.Run("health", func(t *testing.T) { h.expect(h.do("", "GET", "/healthz", nil), 200, "") })
		t.Run("ready", func(t *testing.T) { h.expect(h.do("", "GET", "/readyz", nil), 200, "") })
		t.Run("jwks", func(t *testing.T) {
			m := h.expect(h.do("", "GET", "/.well-known/jwks.json", nil), 200, "")
			if keys, _ := m["keys"].([]any); len(keys) != 1 {
				t.Fatalf("jwks: %v", m)
			}
		})
		t.Run("openapi", func(t *testing.T) {
			m := h.expect(h.do("", "GET", "/api/openapi.json", nil), 200, "")
			if m["openapi"] != "3.1.0" {
				t.Fatalf("openapi: %v", m["openapi"])
			}
		})

		h.signup("alice")
		h.signup("bob")
		t.Run("me", func(t *testing.T) {
			m := h.expect(h.do("alice", "GET", "/api/auth/me", nil), 200, "")
			if m["id"] != h.ids["alice"] || m["email"] != "alice@example.com" {
				t.Fatalf("me: %v", m)
			}
			h.expect(h.do("", "GET", "/api/auth/me", nil), 401, "unauthorized")
		})
		t.Run("login failures look alike", func(t *testing.T) {
			a := h.expect(h.do("", "POST", "/api/auth/login", map[string]string{"email": "alice@example.com", "password": "wrong password"}), 401, "invalid_credentials")
			b := h.expect(h.do("", "POST", "/api/auth/login", map[string]string{"email": "nobody@example.com", "password": "wrong password"}), 401, "invalid_credentials")
			if a["error"].(map[string]any)["message"] != b["error"].(map[string]any)["message"] {
				t.Fatalf("different messages: %v / %v", a, b)
			}
		})
		t.Run("bad tokens", func(t *testing.T) {
			for _, hdr := range []string{"Bearer nope", "Bearer " + h.tokens["alice"] + "x", "Basic abc", "Bearer"} {
				r := h.do("", "GET", "/api/auth/me", nil, "Authorization", hdr)
				h.expect(r, 401, "invalid_token")
			}
		})

		posts := map[string]any{
			"name": "posts",
			"fields": []map[string]any{
				{"name": "title", "type": "text", "required": true, "max": 200},
				{"name": "views", "type": "number", "index": true},
				{"name": "public", "type": "bool"},
				{"name": "owner", "type": "relation", "collection": "users"},
				{"name": "tags", "type": "select", "values": []string{"a", "b", "c"}, "max_select": 3},
			},
			"rules": map[string]any{
				"list": "public || owner == auth.id", "view": "public || owner == auth.id",
				"create": "owner == auth.id", "update": "owner == auth.id", "delete": "owner == auth.id",
			},
		}
		t.Run("collections are superuser only", func(t *testing.T) {
			h.expect(h.do("", "POST", "/api/collections", posts), 401, "unauthorized")
			h.expect(h.do("alice", "POST", "/api/collections", posts), 403, "forbidden")
			h.expect(h.do("alice", "GET", "/api/collections", nil), 403, "forbidden")
			h.expect(h.do("", "GET", "/api/collections/users", nil), 401, "unauthorized")
		})
		t.Run("create collection", func(t *testing.T) {
			m := h.expect(h.do("admin", "POST", "/api/collections", posts), 201, "")
			if fs := m["fields"].([]any); len(fs) != 5 || fs[0].(map[string]any)["id"] == "" {
				t.Fatalf("fields: %v", m["fields"])
			}
			h.expect(h.do("admin", "POST", "/api/collections", posts), 409, "conflict")
			h.expect(h.do("admin", "GET", "/api/collections/posts", nil), 200, "")
			h.expect(h.do("admin", "GET", "/api/collections/nope", nil), 404, "not_found")
			list := h.expect(h.do("admin", "GET", "/api/collections", nil), 200, "")
			if n := len(list["items"].([]any)); n != 2 {
				t.Fatalf("want users and posts, got %d", n)
			}
		})
		t.Run("bad collection definitions", func(t *testing.T) {
			for name, body := range map[string]any{
				"bad name":           map[string]any{"name": "Bad-Name"},
				"reserved":           map[string]any{"name": "users"},
				"unknown type":       map[string]any{"name": "x1", "fields": []map[string]any{{"name": "a", "type": "blob"}}},
				"rule not compiling": map[string]any{"name": "x2", "rules": map[string]any{"list": "nosuchfield > 1"}},
				"empty rule":         map[string]any{"name": "x3", "rules": map[string]any{"list": ""}},
				"option on wrong":    map[string]any{"name": "x4", "fields": []map[string]any{{"name": "a", "type": "bool", "pattern": "x"}}},
				"missing target":     map[string]any{"name": "x5", "fields": []map[string]any{{"name": "a", "type": "relation", "collection": "nope"}}},
			} {
				t.Run(name, func(t *testing.T) {
					r := h.do("admin", "POST", "/api/collections", body)
					if r.status != 422 && r.status != 400 {
						t.Fatalf("status %d: %s", r.status, r.body)
					}
					h.expect(r, r.status, "")
				})
			}
			h.expect(h.do("admin", "POST", "/api/collections", `{"name":"x6","bogus":1}`), 422, "validation_failed")
		})

		var alicePublic, alicePrivate, bobPrivate string
		t.Run("create records", func(t *testing.T) {
			m := h.expect(h.do("alice", "POST", "/api/collections/posts/records",
				map[string]any{"title": "Go rocks", "views": 600, "public": true, "owner": h.ids["alice"], "tags": []string{"a"}}), 201, "")
			alicePublic = m["id"].(string)
			if m["created"] == "" || m["updated"] == "" || len(alicePublic) != 36 {
				t.Fatalf("record: %v", m)
			}
			alicePrivate = h.expect(h.do("alice", "POST", "/api/collections/posts/records",
				map[string]any{"title": "alice private", "views": 10, "public": false, "owner": h.ids["alice"]}), 201, "")["id"].(string)
			bobPrivate = h.expect(h.do("bob", "POST", "/api/collections/posts/records",
				map[string]any{"title": "bob private", "views": 900, "public": false, "owner": h.ids["bob"]}), 201, "")["id"].(string)
		})
		t.Run("forbidden create", func(t *testing.T) {
			h.expect(h.do("bob", "POST", "/api/collections/posts/records",
				map[string]any{"title": "in alice's name", "owner": h.ids["alice"]}), 403, "forbidden")
			h.expect(h.do("", "POST", "/api/collections/posts/records", map[string]any{"title": "anon"}), 401, "unauthorized")
		})
		t.Run("list rule pushed into SQL", func(t *testing.T) {
			ids := func(who, query string) []string {
				m := h.expect(h.do(who, "GET", "/api/collections/posts/records"+query, nil), 200, "")
				var out []string
				for _, it := range m["items"].([]any) {
					out = append(out, it.(map[string]any)["title"].(string))
				}
				return out
			}
			for _, tc := range []struct {
				who, query string
				want       string
			}{
				{"", "", "Go rocks"},
				{"alice", "", "Go rocks,alice private"},
				{"bob", "", "Go rocks,bob private"},
				{"admin", "?sort=-views", "bob private,Go rocks,alice private"},
				{"bob", "?filter=" + urlq(`owner == "`+h.ids["alice"]+`"`), "Go rocks"},
				{"alice", "?filter=" + urlq(`views > 500 && public`), "Go rocks"},
				{"alice", "?filter=" + urlq(`title.startsWith("Go")`), "Go rocks"},
				{"alice", "?filter=" + urlq(`title.startsWith("go")`), ""},
				{"alice", "?filter=" + urlq(`"a" in tags`), "Go rocks"},
				{"alice", "?filter=" + urlq(`owner == auth.id`) + "&sort=-views", "Go rocks,alice private"},
				{"alice", "?filter=" + urlq(`title == "x' OR 1=1 --"`), ""},
			} {
				if got := strings.Join(ids(tc.who, tc.query), ","); got != tc.want {
					t.Errorf("%s %s: got %q, want %q", tc.who, tc.query, got, tc.want)
				}
			}
		})
		t.Run("hidden records are 404", func(t *testing.T) {
			for _, who := range []string{"bob", ""} {
				h.expect(h.do(who, "GET", "/api/collections/posts/records/"+alicePrivate, nil), 404, "not_found")
				h.expect(h.do(who, "PATCH", "/api/collections/posts/records/"+alicePrivate, map[string]any{"title": "x"}), 404, "not_found")
				h.expect(h.do(who, "DELETE", "/api/collections/posts/records/"+alicePrivate, nil), 404, "not_found")
			}
			h.expect(h.do("bob", "GET", "/api/collections/posts/records/not-an-id", nil), 404, "not_found")
		})
		t.Run("visible but not allowed is 403 or 401", func(t *testing.T) {
			h.expect(h.do("bob", "PATCH", "/api/collections/posts/records/"+alicePublic, map[string]any{"title": "x"}), 403, "forbidden")
			h.expect(h.do("bob", "DELETE", "/api/collections/posts/records/"+alicePublic, nil), 403, "forbidden")
			h.expect(h.do("", "DELETE", "/api/collections/posts/records/"+alicePublic, nil), 401, "unauthorized")
		})
		t.Run("update cannot give a record away", func(t *testing.T) {
			h.expect(h.do("alice", "PATCH", "/api/collections/posts/records/"+alicePrivate, map[string]any{"owner": h.ids["bob"]}), 403, "forbidden")
			m := h.expect(h.do("alice", "GET", "/api/collections/posts/records/"+alicePrivate, nil), 200, "")
			if m["owner"] != h.ids["alice"] {
				t.Fatalf("owner changed: %v", m)
			}
		})
		t.Run("update and view", func(t *testing.T) {
			m := h.expect(h.do("alice", "PATCH", "/api/collections/posts/records/"+alicePrivate, map[string]any{"views": 11}), 200, "")
			if m["views"].(float64) != 11 || m["title"] != "alice private" {
				t.Fatalf("patch: %v", m)
			}
			m = h.expect(h.do("alice", "GET", "/api/collections/posts/records/"+alicePublic+"?fields=title&expand=owner", nil), 200, "")
			if _, ok := m["views"]; ok || m["id"] != alicePublic || m["title"] != "Go rocks" {
				t.Fatalf("projection: %v", m)
			}
			owner := m["expand"].(map[string]any)["owner"].(map[string]any)
			if owner["id"] != h.ids["alice"] {
				t.Fatalf("expand: %v", m)
			}
		})
		t.Run("expand respects the target view rule", func(t *testing.T) {
			// bob sees alice's public post but may not view alice's user record.
			m := h.expect(h.do("bob", "GET", "/api/collections/posts/records/"+alicePublic+"?expand=owner", nil), 200, "")
			if _, ok := m["expand"].(map[string]any)["owner"]; ok {
				t.Fatalf("bob sees alice via expand: %v", m)
			}
		})
		t.Run("users collection", func(t *testing.T) {
			h.expect(h.do("alice", "GET", "/api/collections/users/records/"+h.ids["alice"], nil), 200, "")
			h.expect(h.do("alice", "GET", "/api/collections/users/records/"+h.ids["bob"], nil), 404, "not_found")
			h.expect(h.do("alice", "GET", "/api/collections/users/records", nil), 403, "forbidden")
			h.expect(h.do("alice", "PATCH", "/api/collections/users/records/"+h.ids["alice"], map[string]any{"verified": true}), 422, "validation_failed")
			// Custom user fields are visible to rules as auth.<field>.
			h.expect(h.do("admin", "PATCH", "/api/collections/users", map[string]any{
				"fields": []map[string]any{{"name": "team", "type": "text"}},
			}), 200, "")
			h.expect(h.do("alice", "PATCH", "/api/collections/users/records/"+h.ids["alice"], map[string]any{"team": "red"}), 200, "")
			h.expect(h.do("admin", "PATCH", "/api/collections/posts", map[string]any{
				"rules": map[string]any{"view": `public || owner == auth.id || auth.team == "red"`},
			}), 200, "")
			h.expect(h.do("alice", "GET", "/api/collections/posts/records/"+bobPrivate, nil), 200, "")
			h.expect(h.do("bob", "GET", "/api/collections/posts/records/"+alicePrivate, nil), 404, "not_found")
		})
		t.Run("locked by default", func(t *testing.T) {
			h.expect(h.do("admin", "POST", "/api/collections", map[string]any{"name": "secrets", "fields": []map[string]any{{"name": "v", "type": "text"}}}), 201, "")
			id := h.expect(h.do("admin", "POST", "/api/collections/secrets/records", map[string]any{"v": "s"}), 201, "")["id"].(string)
			for _, who := range []string{"", "alice"} {
				want, code := 403, "forbidden"
				if who == "" {
					want, code = 401, "unauthorized"
				}
				h.expect(h.do(who, "GET", "/api/collections/secrets/records", nil), want, code)
				h.expect(h.do(who, "GET", "/api/collections/secrets/records/"+id, nil), want, code)
				h.expect(h.do(who, "POST", "/api/collections/secrets/records", map[string]any{"v": "x"}), want, code)
				h.expect(h.do(who, "PATCH", "/api/collections/secrets/records/"+id, map[string]any{"v": "x"}), want, code)
				h.expect(h.do(who, "DELETE", "/api/collections/secrets/records/"+id, nil), want, code)
			}
		})
		t.Run("unique violation is 409", func(t *testing.T) {
			h.expect(h.do("admin", "POST", "/api/collections", map[string]any{"name": "tags", "fields": []map[string]any{{"name": "slug", "type": "text", "unique": true}}}), 201, "")
			h.expect(h.do("admin", "POST", "/api/collections/tags/records", map[string]any{"slug": "go"}), 201, "")
			h.expect(h.do("admin", "POST", "/api/collections/tags/records", map[string]any{"slug": "go"}), 409, "conflict")
			h.expect(h.do("", "POST", "/api/auth/signup", map[string]string{"email": "alice@example.com", "password": "another password"}), 409, "conflict")
		})
		t.Run("delete restricted by a relation is 409", func(t *testing.T) {
			h.expect(h.do("admin", "DELETE", "/api/collections/users/records/"+h.ids["bob"], nil), 409, "conflict")
			h.expect(h.do("admin", "DELETE", "/api/collections/users", nil), 403, "forbidden")
		})
		t.Run("delete", func(t *testing.T) {
			h.expect(h.do("bob", "DELETE", "/api/collections/posts/records/"+bobPrivate, nil), 204, "")
			h.expect(h.do("bob", "GET", "/api/collections/posts/records/"+bobPrivate, nil), 404, "not_found")
		})
		t.Run("bad input never 500s", func(t *testing.T) { badInput(t, h, alicePublic) })
		t.Run("metrics", func(t *testing.T) {
			h.expect(h.do("", "GET", "/metrics", nil), 401, "unauthorized")
			h.expect(h.do("alice", "GET", "/metrics", nil), 403, "forbidden")
			r := h.do("admin", "GET", "/metrics", nil)
			if r.status != 200 || !bytes.Contains(r.body, []byte(`keep_http_requests_total{method="POST",route="POST /api/collections/{name}/records",status="201"}`)) ||
				!bytes.Contains(r.body, []byte("keep_db_pool_open_connections")) || !bytes.Contains(r.body, []byte("go_goroutines")) {
				t.Fatalf("metrics: %d %s", r.status, r.body)
			}
		})
		t.Run("pprof is superuser only", func(t *testing.T) {
			h.expect(h.do("", "GET", "/debug/pprof/heap", nil), 401, "unauthorized")
			h.expect(h.do("alice", "GET", "/debug/pprof/heap", nil), 403, "forbidden")
			h.expect(h.do("admin", "GET", "/debug/pprof/nope", nil), 404, "not_found")
			if r := h.do("admin", "GET", "/debug/pprof/heap", nil); r.status != 200 || len(r.body) == 0 {
				t.Fatalf("heap profile: %d", r.status)
			}
		})
		t.Run("no secret in any log line", func(t *testing.T) {
			logs := h.logs.String()
			if !strings.Contains(logs, `"request_id"`) {
				t.Fatal("no request log lines captured")
			}
			h.checkNoSecrets(logs, "the log")
			for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
				if strings.Contains(line, `"msg":"request"`) && !strings.Contains(line, `"request_id"`) {
					t.Fatalf("request line without request id: %s", line)
				}
			}
		})
	})
}

// badInput sends malformed requests: each must get the envelope and a 4xx.
func badInput(t *testing.T, h *harness, id string) {
	big := `{"title":"` + strings.Repeat("x", 2<<20) + `"}`
	longFilter := strings.Repeat("views > 1 && ", 400) + "true"
	rec := "/api/collections/posts/records"
	for _, tc := range []struct {
		name, method, path string
		body               any
		headers            []string
		status             int
		code               string
	}{
		{"malformed json", "POST", rec, `{"title": `, nil, 400, "malformed_json"},
		{"not an object", "POST", rec, `[1,2]`, nil, 400, "malformed_json"},
		{"two values", "POST", rec, `{"title":"a"} {}`, nil, 400, "malformed_json"},
		{"empty body", "POST", rec, ` `, nil, 400, "malformed_json"},
		{"invalid utf-8", "POST", rec, []byte("{\"title\":\"\xff\xfe\"}"), nil, 400, "malformed_json"},
		{"wrong type", "POST", rec, map[string]any{"title": 5, "owner": h.ids["alice"]}, nil, 422, "validation_failed"},
		{"unknown field", "POST", rec, map[string]any{"title": "a", "nope": 1, "owner": h.ids["alice"]}, nil, 422, "validation_failed"},
		{"server field", "POST", rec, map[string]any{"title": "a", "id": "x", "owner": h.ids["alice"]}, nil, 422, "validation_failed"},
		{"missing required", "POST", rec, map[string]any{"views": 1, "owner": h.ids["alice"]}, nil, 422, "validation_failed"},
		{"too long", "POST", rec, map[string]any{"title": strings.Repeat("é", 201), "owner": h.ids["alice"]}, nil, 422, "validation_failed"},
		{"bad select", "POST", rec, map[string]any{"title": "a", "tags": []string{"z"}, "owner": h.ids["alice"]}, nil, 422, "validation_failed"},
		// The create rule is checked before relations, so a caller it refuses
		// cannot probe which ids exist.
		{"missing relation, rule first", "POST", rec, map[string]any{"title": "a", "owner": "01a23b95-0962-7000-8ba1-ee11e296836e"}, nil, 403, "forbidden"},
		{"expand repeated", "GET", rec + "?expand=owner,owner", nil, nil, 400, "bad_request"},
		{"oversized body", "POST", rec, big, nil, 413, "body_too_large"},
		{"wrong content type", "POST", rec, `{"title":"a"}`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type"},
		{"form post", "POST", rec, `title=a`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"},
		{"bad filter", "GET", rec + "?filter=" + urlq("views >"), nil, nil, 400, "bad_request"},
		{"unknown filter field", "GET", rec + "?filter=" + urlq("nope == 1"), nil, nil, 400, "bad_request"},
		{"over-long filter", "GET", rec + "?filter=" + urlq(longFilter), nil, nil, 400, "bad_request"},
		{"filter with invalid utf-8", "GET", rec + "?filter=%ff%fe", nil, nil, 400, "bad_request"},
		{"bad sort", "GET", rec + "?sort=nope", nil, nil, 400, "bad_request"},
		{"bad limit", "GET", rec + "?limit=0", nil, nil, 400, "bad_request"},
		{"limit too big", "GET", rec + "?limit=501", nil, nil, 400, "bad_request"},
		{"limit not a number", "GET", rec + "?limit=ten", nil, nil, 400, "bad_request"},
		{"bad cursor", "GET", rec + "?cursor=!!!", nil, nil, 400, "bad_request"},
		{"forged cursor", "GET", rec + "?cursor=eyJzIjoiIiwidiI6W3t9XX0", nil, nil, 400, "bad_request"},
		{"bad fields", "GET", rec + "?fields=nope", nil, nil, 400, "bad_request"},
		{"bad expand", "GET", rec + "?expand=title", nil, nil, 400, "bad_request"},
		{"unknown collection", "GET", "/api/collections/nope/records", nil, nil, 404, "not_found"},
		{"unknown collection create", "POST", "/api/collections/nope/records", `{}`, nil, 404, "not_found"},
		{"unknown route", "GET", "/api/nope", nil, nil, 404, "not_found"},
		{"method not allowed", "PUT", rec + "/" + id, `{}`, nil, 405, "method_not_allowed"},
		{"login unknown key", "POST", "/api/auth/login", `{"email":"a@b.c","password":"x","extra":1}`, nil, 422, "validation_failed"},
		{"login wrong type", "POST", "/api/auth/login", `{"email":1}`, nil, 422, "validation_failed"},
		{"login with NUL", "POST", "/api/auth/login", `{"email":"a\u0000@example.com","password":"whatever pw"}`, nil, 401, "invalid_credentials"},
		{"filter with NUL", "GET", rec + "?filter=" + urlq(`title == "a\u0000"`), nil, nil, 400, "bad_request"},
		{"signup weak password", "POST", "/api/auth/signup", `{"email":"weak@example.com","password":"short"}`, nil, 422, "validation_failed"},
		{"signup bad email", "POST", "/api/auth/signup", `{"email":"not an email","password":"long enough pw"}`, nil, 422, "validation_failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := *h
			h.t = t
			r := h.do("alice", tc.method, tc.path, tc.body, tc.headers...)
			h.expect(r, tc.status, tc.code)
		})
	}
}

func urlq(s string) string { return url.QueryEscape(s) }
