package api_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// jwtKid returns the kid in a token's JWS header.
func jwtKid(t *testing.T, token string) string {
	t.Helper()
	h, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.Kid
}

// jwksKids lists the kids GET /.well-known/jwks.json serves, in order.
func jwksKids(t *testing.T, h *harness) []string {
	t.Helper()
	m := h.expect(h.do("", "GET", "/.well-known/jwks.json", nil), 200, "")
	var ids []string
	keys, _ := m["keys"].([]any)
	for _, k := range keys {
		key := k.(map[string]any)
		if _, private := key["d"]; private {
			t.Fatalf("JWKS carries a private key: %v", key)
		}
		ids = append(ids, key["kid"].(string))
	}
	return ids
}

// TestSigningKeyRotate is POST /api/admin/signing-keys/rotate: superusers
// only, the new key signs at once, tokens signed before keep working and the
// JWKS serves both keys (issue 3, acceptance 7).
func TestSigningKeyRotate(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		h := newHarness(t, open(t))
		h.signup("alice")
		const path = "/api/admin/signing-keys/rotate"
		oldKid := jwtKid(t, h.tokens["admin"])
		if ids := jwksKids(t, h); len(ids) != 1 || ids[0] != oldKid {
			t.Fatalf("JWKS before rotation: %v, want [%s]", ids, oldKid)
		}

		t.Run("anonymous", func(t *testing.T) { h.expect(h.do("", "POST", path, nil), 401, "unauthorized") })
		t.Run("plain user", func(t *testing.T) { h.expect(h.do("alice", "POST", path, nil), 403, "forbidden") })
		if ids := jwksKids(t, h); len(ids) != 1 {
			t.Fatalf("a refused rotation changed the keys: %v", ids)
		}

		h.expect(h.do("admin", "POST", path, nil), 204, "")
		ids := jwksKids(t, h)
		if len(ids) != 2 || ids[1] != oldKid || ids[0] == oldKid {
			t.Fatalf("JWKS after rotation: %v, want [new %s]", ids, oldKid)
		}
		t.Run("old tokens still work", func(t *testing.T) {
			for _, who := range []string{"admin", "alice"} {
				if m := h.expect(h.do(who, "GET", "/api/auth/me", nil), 200, ""); m["id"] != h.ids[who] {
					t.Fatalf("%s: me %v", who, m)
				}
			}
		})
		t.Run("new tokens use the new key", func(t *testing.T) {
			h.login("alice", "alice@example.com", "pass for alice 123")
			if kid := jwtKid(t, h.tokens["alice"]); kid != ids[0] {
				t.Fatalf("new token signed by %s, want %s", kid, ids[0])
			}
			h.expect(h.do("alice", "GET", "/api/auth/me", nil), 200, "")
		})
		t.Run("again", func(t *testing.T) {
			h.expect(h.do("admin", "POST", path, nil), 204, "")
			if got := jwksKids(t, h); len(got) != 3 || got[1] != ids[0] || got[2] != oldKid {
				t.Fatalf("JWKS after a second rotation: %v", got)
			}
			h.expect(h.do("admin", "GET", "/api/auth/me", nil), 200, "")
		})
	})
}
