package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/keep-dev/keep/internal/api"
	"github.com/keep-dev/keep/internal/roles"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// openRoutes are the routes that are not admin routes, each with the reason.
// Every route is either here or in the API's admin table: a new route
// without a decision fails TestEveryRouteHasAPermissionDecision.
var openRoutes = map[string]string{
	"GET /healthz":               "public: liveness",
	"GET /readyz":                "public: readiness",
	"GET /.well-known/jwks.json": "public: token verification keys",
	"GET /api/openapi.json":      "public: API description",

	"POST /api/auth/signup":                 "public",
	"POST /api/auth/login":                  "public",
	"GET /api/auth/me":                      "signed-in: own account",
	"POST /api/auth/refresh":                "public: holds a refresh token",
	"POST /api/auth/logout":                 "signed-in: own session",
	"GET /api/auth/sessions":                "signed-in: own sessions",
	"DELETE /api/auth/sessions/{id}":        "signed-in: own sessions",
	"POST /api/auth/sessions/revoke-others": "signed-in: own sessions",
	"POST /api/auth/password":               "signed-in: own password",
	"POST /api/auth/verify/request":         "public",
	"POST /api/auth/verify/confirm":         "public: holds a token",
	"POST /api/auth/reset/request":          "public",
	"POST /api/auth/reset/confirm":          "public: holds a token",
	"POST /api/auth/mfa/verify":             "public: holds an MFA token",
	"POST /api/auth/mfa/totp/enroll":        "signed-in: own MFA",
	"POST /api/auth/mfa/totp/confirm":       "signed-in: own MFA",
	"DELETE /api/auth/mfa/totp":             "signed-in: own MFA",

	"POST /api/keys":        "signed-in: own API keys",
	"GET /api/keys":         "signed-in: own API keys",
	"DELETE /api/keys/{id}": "signed-in: own API keys",

	"GET /api/collections/{name}/records":         "collection rules decide",
	"POST /api/collections/{name}/records":        "collection rules decide",
	"GET /api/collections/{name}/records/{id}":    "collection rules decide",
	"PATCH /api/collections/{name}/records/{id}":  "collection rules decide",
	"DELETE /api/collections/{name}/records/{id}": "collection rules decide",
}

// TestEveryRouteHasAPermissionDecision fails when a route is neither an
// admin route (with a known permission) nor listed in openRoutes, or when
// either table names a route that does not exist.
func TestEveryRouteHasAPermissionDecision(t *testing.T) {
	admin := api.AdminRoutes()
	patterns := api.RoutePatterns()
	for _, p := range patterns {
		perm, isAdmin := admin[p]
		_, isOpen := openRoutes[p]
		switch {
		case isAdmin && isOpen:
			t.Errorf("route %s is both an admin route and an open route", p)
		case isAdmin && !roles.Known(roles.Permission(perm)):
			t.Errorf("route %s needs unknown permission %q", p, perm)
		case !isAdmin && !isOpen:
			t.Errorf("route %s has no permission decision: add it to adminRoutes (internal/api/roles.go) or to openRoutes here", p)
		}
	}
	for p := range admin {
		if !slices.Contains(patterns, p) {
			t.Errorf("adminRoutes names %s, which is not a route", p)
		}
	}
	for p := range openRoutes {
		if !slices.Contains(patterns, p) {
			t.Errorf("openRoutes names %s, which is not a route", p)
		}
	}
}

// adminRequest turns a route pattern into a request that reaches its
// handler and does no harm: path values name nothing that exists, and a
// body, where one is expected, is empty.
func adminRequest(pattern string) (method, path string, body any) {
	method, path, _ = strings.Cut(pattern, " ")
	path = strings.NewReplacer("{id}", "01966b31-5e6f-7a8b-9c0d-1e2f3a4b5c6d", "{name}", "zz-none").Replace(path)
	if method == http.MethodPost || method == http.MethodPatch || method == http.MethodPut {
		body = "{}"
	}
	return method, path, body
}

func permRoleName(prefix string, p roles.Permission) string {
	return prefix + strings.ReplaceAll(string(p), ".", "-")
}

// TestAdminRoutesCheckPermissions calls every admin route through the real
// handler: anonymously (401), as a plain user (403), as a user whose roles
// grant every permission but the route's (403) and as one whose role grants
// only the route's permission (past the check: neither 401 nor 403).
func TestAdminRoutesCheckPermissions(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		h := newHarness(t, open(t))
		h.signup("plain")
		h.signup("holder")
		for _, p := range roles.All() {
			var others []roles.Permission
			for _, q := range roles.All() {
				if q != p {
					others = append(others, q)
				}
			}
			h.expect(h.do("admin", "POST", "/api/roles", map[string]any{"name": permRoleName("only-", p), "permissions": []roles.Permission{p}}), 201, "")
			h.expect(h.do("admin", "POST", "/api/roles", map[string]any{"name": permRoleName("allbut-", p), "permissions": others}), 201, "")
		}
		held := ""
		hold := func(role string) {
			t.Helper()
			if held != "" {
				h.expect(h.do("admin", "DELETE", "/api/users/"+h.ids["holder"]+"/roles/"+held, nil), 204, "")
			}
			h.expect(h.do("admin", "PUT", "/api/users/"+h.ids["holder"]+"/roles/"+role, nil), 204, "")
			held = role
		}

		admin := api.AdminRoutes()
		for _, pattern := range api.RoutePatterns() {
			perm, ok := admin[pattern]
			if !ok {
				continue
			}
			t.Run(pattern, func(t *testing.T) {
				h := *h
				h.t = t
				method, path, body := adminRequest(pattern)
				h.expect(h.do("", method, path, body), 401, "unauthorized")
				h.expect(h.do("plain", method, path, body), 403, "forbidden")

				hold(permRoleName("allbut-", roles.Permission(perm)))
				h.expect(h.do("holder", method, path, body), 403, "forbidden")

				hold(permRoleName("only-", roles.Permission(perm)))
				if r := h.do("holder", method, path, body); r.status == 401 || r.status == 403 {
					t.Fatalf("a holder of %s got %d: %s", perm, r.status, r.body)
				}
			})
		}
	})
}
