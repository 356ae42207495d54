package api_test

import (
	"encoding/base32"
	"strings"
	"testing"
	"time"

	"github.com/keep-dev/keep/internal/auth"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// TestMFAFlow runs TOTP over HTTP on every engine: enrol, confirm, login
// answers mfa_required, verify with a code (once), with a recovery code
// (once), disable with the password. Secrets shown by a response are added to
// h.secret right after it, so every later response and the log are checked
// for them.
func TestMFAFlow(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		h := newHarness(t, open(t))
		h.signup("carol")
		const email, password = "carol@example.com", "pass for carol 123"

		h.expect(h.do("", "POST", "/api/auth/mfa/totp/enroll", nil), 401, "unauthorized")
		e := h.expect(h.do("carol", "POST", "/api/auth/mfa/totp/enroll", nil), 200, "")
		b32, _ := e["secret"].(string)
		uri, _ := e["otpauth_uri"].(string)
		secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(b32)
		if err != nil || len(secret) != auth.TOTPSecretLen {
			t.Fatalf("enrol: %v: %v", e, err)
		}
		if !strings.HasPrefix(uri, "otpauth://totp/Keep:carol%40example.com?secret="+b32+"&issuer=Keep&algorithm=SHA1&digits=6&period=30") {
			t.Fatalf("otpauth_uri %q", uri)
		}
		h.secret = append(h.secret, b32)
		step := func() int64 { return auth.TOTPStep(time.Now()) }

		h.expect(h.do("carol", "POST", "/api/auth/mfa/totp/confirm", map[string]string{"code": "12345"}), 422, "validation_failed")
		s := step()
		m := h.expect(h.do("carol", "POST", "/api/auth/mfa/totp/confirm", map[string]string{"code": auth.TOTPCodeAt(secret, s)}), 200, "")
		raw, _ := m["recovery_codes"].([]any)
		if len(raw) != 10 {
			t.Fatalf("confirm: %v", m)
		}
		var codes []string
		for _, c := range raw {
			codes = append(codes, c.(string))
		}
		h.secret = append(h.secret, codes...)
		h.expect(h.do("carol", "POST", "/api/auth/mfa/totp/enroll", nil), 409, "conflict")

		login := func() string {
			t.Helper()
			m := h.expect(h.do("", "POST", "/api/auth/login", map[string]string{"email": email, "password": password}), 200, "")
			tok, _ := m["mfa_token"].(string)
			if m["mfa_required"] != true || tok == "" || m["access_token"] != nil || m["refresh_token"] != nil {
				t.Fatalf("login with MFA on: %v", m)
			}
			h.secret = append(h.secret, tok)
			return tok
		}
		verified := func(r response) {
			t.Helper()
			m := h.expect(r, 200, "")
			tok, _ := m["access_token"].(string)
			if tok == "" || m["token_type"] != "Bearer" || m["user"].(map[string]any)["id"] != h.ids["carol"] {
				t.Fatalf("verify: %v", m)
			}
			h.secret = append(h.secret, tok)
			if rt, _ := m["refresh_token"].(string); rt != "" {
				h.secret = append(h.secret, rt)
			}
			h.tokens["carol"] = tok
		}
		verify := func(body map[string]string) response {
			return h.do("", "POST", "/api/auth/mfa/verify", body)
		}

		// The next step's code (accepted for clock skew) logs in; the code
		// of the confirmation step would be a replay.
		tok := login()
		h.expect(verify(map[string]string{"mfa_token": tok, "code": auth.TOTPCodeAt(secret, s)}), 401, "invalid_credentials")
		next := auth.TOTPCodeAt(secret, s+1)
		verified(verify(map[string]string{"mfa_token": tok, "code": next}))
		h.expect(h.do("carol", "GET", "/api/auth/me", nil), 200, "")
		h.expect(verify(map[string]string{"mfa_token": tok, "code": next}), 401, "invalid_token")
		tok = login()
		h.expect(verify(map[string]string{"mfa_token": tok, "code": next}), 401, "invalid_credentials")

		// Malformed requests are 422s.
		h.expect(verify(map[string]string{"mfa_token": tok}), 422, "validation_failed")
		h.expect(verify(map[string]string{"mfa_token": tok, "code": next, "recovery_code": codes[0]}), 422, "validation_failed")
		h.expect(verify(map[string]string{"mfa_token": tok, "code": "abcdef"}), 422, "validation_failed")
		h.expect(h.do("", "POST", "/api/auth/mfa/verify", `{"mfa_token":"x","code":"123456","extra":1}`), 422, "validation_failed")
		h.expect(verify(map[string]string{"mfa_token": "not a token", "code": "123456"}), 401, "invalid_token")

		// A recovery code works once.
		verified(verify(map[string]string{"mfa_token": tok, "recovery_code": codes[0]}))
		h.expect(verify(map[string]string{"mfa_token": login(), "recovery_code": codes[0]}), 401, "invalid_credentials")

		// Disabling needs the password.
		h.expect(h.do("carol", "DELETE", "/api/auth/mfa/totp", map[string]string{"password": "wrong password"}), 403, "forbidden")
		h.expect(h.do("carol", "DELETE", "/api/auth/mfa/totp", map[string]string{"password": password}), 204, "")
		h.login("carol", email, password)
		h.expect(h.do("carol", "DELETE", "/api/auth/mfa/totp", map[string]string{"password": password}), 404, "not_found")

		h.checkNoSecrets(h.logs.String(), "the log")
	})
}
