package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var testNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func mustKey(t testing.TB) Key {
	t.Helper()
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustKeySet(t testing.TB, signing Key, verifyOnly ...Key) *KeySet {
	t.Helper()
	ks, err := NewKeySet(signing, verifyOnly...)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// newTestTokens returns Tokens whose clock reads *now.
func newTestTokens(t testing.TB, ks *KeySet, now *time.Time, edit ...func(*TokenConfig)) *Tokens {
	t.Helper()
	cfg := TokenConfig{Issuer: "https://keep.test", Audience: "keep-api", Now: func() time.Time { return *now }}
	for _, e := range edit {
		e(&cfg)
	}
	tk, err := NewTokens(ks, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// enc turns a header or payload into a token segment: strings are taken as
// raw JSON, anything else is marshalled.
func enc(t testing.TB, v any) string {
	t.Helper()
	if s, ok := v.(string); ok {
		return b64url.EncodeToString([]byte(s))
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64url.EncodeToString(b)
}

// forge signs header.payload with priv, as an attacker holding that key (or
// a buggy issuer) would.
func forge(t testing.TB, priv ed25519.PrivateKey, header, payload any) string {
	t.Helper()
	signed := enc(t, header) + "." + enc(t, payload)
	return signed + "." + b64url.EncodeToString(ed25519.Sign(priv, []byte(signed)))
}

func header(kid string) map[string]any {
	return map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": kid}
}

func claims(now time.Time) map[string]any {
	return map[string]any{
		"iss": "https://keep.test", "aud": "keep-api", "sub": "user1",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(15 * time.Minute).Unix(), "jti": "id1",
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func TestIssueVerify(t *testing.T) {
	now := testNow
	k := mustKey(t)
	tk := newTestTokens(t, mustKeySet(t, k), &now)

	token, expires, err := tk.Issue("user1")
	if err != nil {
		t.Fatal(err)
	}
	if want := testNow.Add(DefaultTokenTTL); !expires.Equal(want) {
		t.Fatalf("expires = %v, want %v", expires, want)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments", len(parts))
	}
	hdr, _ := b64url.DecodeString(parts[0])
	if want := `{"alg":"EdDSA","typ":"at+jwt","kid":"` + k.ID + `"}`; string(hdr) != want {
		t.Fatalf("header = %s, want %s", hdr, want)
	}
	payload, _ := b64url.DecodeString(parts[1])
	var got map[string]any
	if err := json.Unmarshal(payload, &got); err != nil {
		t.Fatal(err)
	}
	jti, _ := got["jti"].(string)
	if raw, err := b64url.DecodeString(jti); err != nil || len(raw) != 16 {
		t.Fatalf("jti %q is not 16 bytes of base64url", jti)
	}
	want := map[string]any{
		"iss": "https://keep.test", "aud": "keep-api", "sub": "user1", "jti": jti,
		"iat": float64(testNow.Unix()), "nbf": float64(testNow.Unix()), "exp": float64(expires.Unix()),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("payload (-want +got):\n%s", diff)
	}

	c, err := tk.Verify(token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	wantClaims := Claims{Subject: "user1", ID: jti, IssuedAt: time.Unix(testNow.Unix(), 0), Expires: expires}
	if diff := cmp.Diff(wantClaims, c); diff != "" {
		t.Fatalf("claims (-want +got):\n%s", diff)
	}

	other, _, _ := tk.Issue("user1")
	if other == token {
		t.Fatal("two tokens are identical; jti is not random")
	}
}

func TestVerifyLeeway(t *testing.T) {
	now := testNow
	tk := newTestTokens(t, mustKeySet(t, mustKey(t)), &now)
	token, expires, _ := tk.Issue("user1")

	now = expires.Add(29 * time.Second)
	if _, err := tk.Verify(token); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	now = expires.Add(30 * time.Second)
	if _, err := tk.Verify(token); !errors.Is(err, ErrExpiredToken) || !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("at exp+leeway: %v, want ErrExpiredToken and ErrInvalidToken", err)
	}
	// A token used slightly before its nbf (clock skew) is fine.
	now = testNow.Add(-29 * time.Second)
	if _, err := tk.Verify(token); err != nil {
		t.Fatalf("nbf within leeway: %v", err)
	}
}

func TestVerifyAudienceArray(t *testing.T) {
	now := testNow
	k := mustKey(t)
	tk := newTestTokens(t, mustKeySet(t, k), &now)
	token := forge(t, k.Private, header(k.ID), with(claims(now), "aud", []string{"other", "keep-api"}))
	if _, err := tk.Verify(token); err != nil {
		t.Fatalf("aud array containing ours: %v", err)
	}
}

// TestVerifyRejects is the tampering table. Each case builds a token that
// must be refused with ErrInvalidToken (and ErrExpiredToken where marked).
func TestVerifyRejects(t *testing.T) {
	now := testNow
	signer, other, outsider := mustKey(t), mustKey(t), mustKey(t)
	ks := mustKeySet(t, signer, other)
	tk := newTestTokens(t, ks, &now)
	valid, _, err := tk.Issue("user1")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(valid, ".")
	h64, p64, s64 := parts[0], parts[1], parts[2]
	good := claims(now)
	priv := signer.Private

	hs256 := func(secret []byte) string {
		signed := enc(t, map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": signer.ID}) + "." + enc(t, good)
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(signed))
		return signed + "." + b64url.EncodeToString(mac.Sum(nil))
	}
	issuedBy := func(edit func(*TokenConfig)) string {
		tok, _, err := newTestTokens(t, ks, &now, edit).Issue("user1")
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	// setTrailingBit sets one of the unused low bits of the last character:
	// 64 bytes take 86 characters, the last carrying 2 bits and 4 zeros, so
	// a lax decoder would read the same signature.
	setTrailingBit := func(s string) string {
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		i := strings.IndexByte(alphabet, s[len(s)-1])
		return s[:len(s)-1] + alphabet[i+1:i+2]
	}
	// paddedHeader is a correctly signed token whose header segment uses
	// padded base64url.
	paddedHeader := func() string {
		js := `{"alg":"EdDSA","typ":"at+jwt","kid":"` + signer.ID + `"}`
		for len(js)%3 == 0 {
			js += " "
		}
		signed := base64.URLEncoding.EncodeToString([]byte(js)) + "." + enc(t, good)
		if !strings.Contains(signed, "=") {
			t.Fatal("fixture has no padding")
		}
		return signed + "." + b64url.EncodeToString(ed25519.Sign(priv, []byte(signed)))
	}
	// oversized is correctly signed but longer than MaxTokenLen.
	oversized := forge(t, priv, header(signer.ID), with(good, "pad", strings.Repeat("x", MaxTokenLen)))

	tests := []struct {
		name    string
		token   string
		expired bool
		reason  string // the logged reason, so each case fails for the intended cause
	}{
		{"empty", "", false, "not three segments"},
		{"alg none unsigned", enc(t, map[string]any{"alg": "none", "typ": "at+jwt", "kid": signer.ID}) + "." + enc(t, good) + ".", false, "empty segment"},
		{"alg none signed", forge(t, priv, with(header(signer.ID), "alg", "none"), good), false, "wrong alg"},
		{"alg HS256 with raw public key as secret", hs256(signer.Public), false, "wrong alg"},
		{"alg HS256 with JWK x as secret", hs256([]byte(b64url.EncodeToString(signer.Public))), false, "wrong alg"},
		{"alg lower case", forge(t, priv, with(header(signer.ID), "alg", "eddsa"), good), false, "wrong alg"},
		{"alg Ed25519", forge(t, priv, with(header(signer.ID), "alg", "Ed25519"), good), false, "wrong alg"},
		{"alg missing", forge(t, priv, with(header(signer.ID), "alg", nil), good), false, "wrong alg"},
		{"alg not a string", forge(t, priv, `{"alg":["EdDSA"],"typ":"at+jwt","kid":"`+signer.ID+`"}`, good), false, "wrong alg"},
		{"wrong kid for signature", forge(t, priv, header(other.ID), good), false, "bad signature"},
		{"unknown kid", forge(t, priv, header("nope"), good), false, "unknown key id"},
		{"outsider key", forge(t, outsider.Private, header(outsider.ID), good), false, "unknown key id"},
		{"missing kid", forge(t, priv, with(header(signer.ID), "kid", nil), good), false, "missing kid"},
		{"kid null", forge(t, priv, `{"alg":"EdDSA","typ":"at+jwt","kid":null}`, good), false, "missing kid"},
		{"kid empty", forge(t, priv, with(header(signer.ID), "kid", ""), good), false, "missing kid"},
		{"crit header", forge(t, priv, with(header(signer.ID), "crit", []string{"exp"}), good), false, "crit header not supported"},
		{"embedded jwk", forge(t, outsider.Private, with(header(outsider.ID), "jwk", map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64url.EncodeToString(outsider.Public)}), good), false, "unexpected header parameter"},
		{"jku header", forge(t, priv, with(header(signer.ID), "jku", "https://evil.test/jwks"), good), false, "unexpected header parameter"},
		{"member names differ in case", forge(t, priv, `{"ALG":"EdDSA","TYP":"at+jwt","KID":"`+signer.ID+`"}`, good), false, "unexpected header parameter"},
		{"header not JSON", forge(t, priv, "not json", good), false, "bad header"},
		{"header null", forge(t, priv, "null", good), false, "wrong alg"},
		{"header array", forge(t, priv, "[]", good), false, "bad header"},
		{"wrong typ JWT", forge(t, priv, with(header(signer.ID), "typ", "JWT"), good), false, "wrong typ"},
		{"typ media type form", forge(t, priv, with(header(signer.ID), "typ", "application/at+jwt"), good), false, "wrong typ"},
		{"typ missing", forge(t, priv, with(header(signer.ID), "typ", nil), good), false, "wrong typ"},
		{"modified payload", h64 + "." + enc(t, with(good, "sub", "admin")) + "." + s64, false, "bad signature"},
		{"payload from another token", h64 + "." + strings.Split(forge(t, priv, header(signer.ID), good), ".")[1] + "." + s64, false, "bad signature"},
		{"header respelled", enc(t, `{"alg":"EdDSA", "typ":"at+jwt", "kid":"`+signer.ID+`"}`) + "." + p64 + "." + s64, false, "bad signature"},
		{"modified signature", h64 + "." + p64 + "." + flip(s64, 10), false, "bad signature"},
		{"signature non-zero trailing bits", h64 + "." + p64 + "." + setTrailingBit(s64), false, "bad signature encoding"},
		{"signature truncated", h64 + "." + p64 + "." + s64[:len(s64)-4], false, "bad signature encoding"},
		{"signature extended", h64 + "." + p64 + "." + s64 + "AAAA", false, "bad signature encoding"},
		{"signature empty", h64 + "." + p64 + ".", false, "empty segment"},
		{"payload empty", h64 + ".." + s64, false, "empty segment"},
		{"expired", forge(t, priv, header(signer.ID), with(good, "iat", now.Add(-2*time.Hour).Unix(), "nbf", now.Add(-2*time.Hour).Unix(), "exp", now.Add(-time.Hour).Unix())), true, "expired"},
		{"not yet valid", forge(t, priv, header(signer.ID), with(good, "nbf", now.Add(time.Hour).Unix())), false, "not yet valid"},
		{"issued in the future", forge(t, priv, header(signer.ID), with(good, "iat", now.Add(time.Hour).Unix())), false, "bad iat"},
		{"iat after exp", forge(t, priv, header(signer.ID), with(good, "iat", now.Unix()+1000, "nbf", now.Unix()-10, "exp", now.Unix()+900)), false, "bad iat"},
		{"missing exp", forge(t, priv, header(signer.ID), with(good, "exp", nil)), false, "missing exp, nbf or iat"},
		{"missing nbf", forge(t, priv, header(signer.ID), with(good, "nbf", nil)), false, "missing exp, nbf or iat"},
		{"missing iat", forge(t, priv, header(signer.ID), with(good, "iat", nil)), false, "missing exp, nbf or iat"},
		{"exp as string", forge(t, priv, header(signer.ID), with(good, "exp", fmt.Sprint(now.Unix()+900))), false, "bad payload"},
		{"exp fractional", forge(t, priv, header(signer.ID), with(good, "exp", float64(now.Unix())+900.5)), false, "bad payload"},
		{"exp beyond year 9999", forge(t, priv, header(signer.ID), with(good, "exp", int64(1)<<62)), false, "date out of range"},
		{"nbf negative", forge(t, priv, header(signer.ID), with(good, "nbf", -1)), false, "date out of range"},
		{"wrong issuer", issuedBy(func(c *TokenConfig) { c.Issuer = "https://evil.test" }), false, "wrong issuer"},
		{"issuer missing", forge(t, priv, header(signer.ID), with(good, "iss", nil)), false, "wrong issuer"},
		{"wrong audience", issuedBy(func(c *TokenConfig) { c.Audience = "other-api" }), false, "wrong audience"},
		{"audience array without ours", forge(t, priv, header(signer.ID), with(good, "aud", []string{"a", "b"})), false, "wrong audience"},
		{"audience missing", forge(t, priv, header(signer.ID), with(good, "aud", nil)), false, "wrong audience"},
		{"audience number", forge(t, priv, header(signer.ID), with(good, "aud", 7)), false, "wrong audience"},
		{"subject empty", forge(t, priv, header(signer.ID), with(good, "sub", "")), false, "missing sub"},
		{"subject missing", forge(t, priv, header(signer.ID), with(good, "sub", nil)), false, "missing sub"},
		{"jti missing", forge(t, priv, header(signer.ID), with(good, "jti", nil)), false, "missing jti"},
		{"payload null", forge(t, priv, header(signer.ID), "null"), false, "missing exp, nbf or iat"},
		{"payload array", forge(t, priv, header(signer.ID), "[]"), false, "bad payload"},
		{"too long", oversized, false, "too long"},
		{"extra segment", valid + ".AAAA", false, "not three segments"},
		{"trailing dot", valid + ".", false, "not three segments"},
		{"two segments", h64 + "." + p64, false, "not three segments"},
		{"one segment", h64, false, "not three segments"},
		{"padding on header", paddedHeader(), false, "bad character"},
		{"padding on signature", valid + "==", false, "bad character"},
		{"standard alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(valid) + "+", false, "bad character"},
		{"newline inside payload", h64 + "." + p64[:5] + "\n" + p64[5:] + "." + s64, false, "bad character"},
		{"carriage return inside signature", h64 + "." + p64 + "." + s64[:5] + "\r" + s64[5:], false, "bad character"},
		{"leading space", " " + valid, false, "bad character"},
		{"trailing newline", valid + "\n", false, "bad character"},
		{"bearer prefix", "Bearer " + valid, false, "bad character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tk.Verify(tt.token)
			if err == nil {
				t.Fatalf("Verify accepted it: %+v", c)
			}
			if te := (*tokenError)(nil); !errors.As(err, &te) || te.reason != tt.reason {
				t.Fatalf("rejected for %q, want %q", err, tt.reason)
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error %v does not match ErrInvalidToken", err)
			}
			if got := errors.Is(err, ErrExpiredToken); got != tt.expired {
				t.Fatalf("errors.Is(err, ErrExpiredToken) = %v, want %v (err: %v)", got, tt.expired, err)
			}
			if c != (Claims{}) {
				t.Fatalf("claims returned with error: %+v", c)
			}
			for _, seg := range strings.Split(tt.token, ".") {
				if len(seg) > 8 && strings.Contains(err.Error(), seg) {
					t.Fatalf("error %q contains part of the token", err)
				}
			}
		})
	}
	// The fixtures above depend on the valid token verifying.
	if _, err := tk.Verify(valid); err != nil {
		t.Fatalf("control token rejected: %v", err)
	}
	if _, err := tk.Verify(forge(t, priv, header(signer.ID), good)); err != nil {
		t.Fatalf("control forged token rejected: %v", err)
	}
}

func TestKeyRotation(t *testing.T) {
	now := testNow
	oldKey, newKey := mustKey(t), mustKey(t)
	before := newTestTokens(t, mustKeySet(t, oldKey), &now)
	oldToken, _, err := before.Issue("user1")
	if err != nil {
		t.Fatal(err)
	}

	// After a restart with a new signing key and the old one verify-only.
	ks := mustKeySet(t, newKey, oldKey)
	after := newTestTokens(t, ks, &now)
	if _, err := after.Verify(oldToken); err != nil {
		t.Fatalf("old token rejected after rotation: %v", err)
	}
	newToken, _, _ := after.Issue("user1")
	if kid := tokenKid(t, newToken); kid != newKey.ID {
		t.Fatalf("new token signed with %s, want the new key %s", kid, newKey.ID)
	}
	if _, err := before.Verify(newToken); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("set without the new key accepted its token: %v", err)
	}
	assertJWKS(t, ks, newKey, oldKey)

	// Rotating in place: the previous signing key is kept for verifying.
	third := mustKey(t)
	if err := ks.Rotate(third); err != nil {
		t.Fatal(err)
	}
	if ks.SigningKeyID() != third.ID {
		t.Fatalf("signing key = %s, want %s", ks.SigningKeyID(), third.ID)
	}
	assertJWKS(t, ks, third, newKey, oldKey)
	for _, tok := range []string{oldToken, newToken} {
		if _, err := after.Verify(tok); err != nil {
			t.Fatalf("token rejected after Rotate: %v", err)
		}
	}
	thirdToken, _, _ := after.Issue("user1")
	if kid := tokenKid(t, thirdToken); kid != third.ID {
		t.Fatalf("token signed with %s after Rotate, want %s", kid, third.ID)
	}

	// Removing a verify-only key stops its tokens at once.
	if err := ks.Remove(oldKey.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := after.Verify(oldToken); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("token of removed key: %v, want ErrInvalidToken", err)
	}
	assertJWKS(t, ks, third, newKey)
	if err := ks.Remove(third.ID); err == nil {
		t.Fatal("Remove(signing key) succeeded")
	}
	if err := ks.Remove("nope"); err == nil {
		t.Fatal("Remove(unknown) succeeded")
	}
	if err := ks.Rotate(newKey); err == nil {
		t.Fatal("Rotate to a key id already in the set succeeded")
	}
	if diff := cmp.Diff([]string{third.ID, newKey.ID}, ks.KeyIDs()); diff != "" {
		t.Fatalf("KeyIDs after failed changes (-want +got):\n%s", diff)
	}
}

func tokenKid(t *testing.T, token string) string {
	t.Helper()
	raw, err := b64url.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h jwsHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

func assertJWKS(t *testing.T, ks *KeySet, keys ...Key) {
	t.Helper()
	got, err := ks.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	want.WriteString(`{"keys":[`)
	for i, k := range keys {
		if i > 0 {
			want.WriteByte(',')
		}
		fmt.Fprintf(&want, `{"kty":"OKP","crv":"Ed25519","kid":"%s","alg":"EdDSA","use":"sig","x":"%s"}`,
			k.ID, base64.RawURLEncoding.EncodeToString(k.Public))
	}
	want.WriteString(`]}`)
	if diff := cmp.Diff(want.String(), string(got)); diff != "" {
		t.Fatalf("JWKS (-want +got):\n%s", diff)
	}
}

func TestJWKSCached(t *testing.T) {
	ks := mustKeySet(t, mustKey(t), mustKey(t))
	cached := ks.snap.Load().jwks
	a, _ := ks.JWKS()
	a[0] = 'X' // callers get a copy
	b, _ := ks.JWKS()
	if b[0] != '{' {
		t.Fatal("JWKS returned the cached slice itself")
	}
	if &ks.snap.Load().jwks[0] != &cached[0] {
		t.Fatal("JWKS re-encoded without a change to the set")
	}
	if err := ks.Rotate(mustKey(t)); err != nil {
		t.Fatal(err)
	}
	if c, _ := ks.JWKS(); bytes.Equal(c, b) {
		t.Fatal("JWKS unchanged after Rotate")
	}
}

func TestNewKeySetRejects(t *testing.T) {
	a, b := mustKey(t), mustKey(t)
	mismatched := a
	mismatched.Public = b.Public
	tests := []struct {
		name       string
		signing    Key
		verifyOnly []Key
	}{
		{"duplicate kid", a, []Key{{ID: a.ID, Public: b.Public}}},
		{"empty kid", Key{Private: a.Private, Public: a.Public}, nil},
		{"kid with odd characters", Key{ID: "a b", Private: a.Private, Public: a.Public}, nil},
		{"kid too long", Key{ID: strings.Repeat("a", 65), Private: a.Private, Public: a.Public}, nil},
		{"signing key without private half", Key{ID: a.ID, Public: a.Public}, nil},
		{"private does not match public", mismatched, nil},
		{"short public key", Key{ID: a.ID, Private: a.Private, Public: a.Public[:31]}, nil},
		{"short private key", Key{ID: a.ID, Private: a.Private[:32], Public: a.Public}, nil},
		{"bad verify-only key", a, []Key{{ID: b.ID, Public: b.Public[:16]}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewKeySet(tt.signing, tt.verifyOnly...); err == nil {
				t.Fatal("NewKeySet accepted it")
			} else if strings.Contains(err.Error(), hex.EncodeToString(a.Private.Seed())) {
				t.Fatal("error contains the private key")
			}
		})
	}
	// Verify-only keys need no private half, and the set drops it if given.
	ks, err := NewKeySet(a, Key{ID: b.ID, Public: b.Public}, mustKey(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(ks.KeyIDs()); got != 3 {
		t.Fatalf("%d keys, want 3", got)
	}
	if ks.snap.Load().signing.Private == nil {
		t.Fatal("signing key lost its private half")
	}
}

func TestKeySetCopiesKeys(t *testing.T) {
	now := testNow
	k := mustKey(t)
	ks := mustKeySet(t, k)
	tk := newTestTokens(t, ks, &now)
	token, _, _ := tk.Issue("user1")
	// Scribbling on the caller's slices must not change the set.
	clear(k.Public)
	clear(k.Private)
	if _, err := tk.Verify(token); err != nil {
		t.Fatalf("set shares memory with the caller's key: %v", err)
	}
}

func TestKeyRedacted(t *testing.T) {
	k := mustKey(t)
	secrets := []string{
		hex.EncodeToString(k.Private.Seed()),
		base64.StdEncoding.EncodeToString(k.Private.Seed())[:20],
		base64.RawURLEncoding.EncodeToString(k.Private.Seed())[:20],
		fmt.Sprint([]byte(k.Private.Seed())),
		fmt.Sprint(k.Private.Seed()[0:4]),
	}
	var logged bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logged, nil))
	logger.Info("key", "key", k)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("key", "key", k)
	js, err := json.Marshal(struct{ K Key }{k})
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"slog":  logged.String(),
		"json":  string(js),
		"%v":    fmt.Sprintf("%v", k),
		"%+v":   fmt.Sprintf("%+v", k),
		"%#v":   fmt.Sprintf("%#v", k),
		"%s":    fmt.Sprintf("%s", k),
		"%x":    fmt.Sprintf("%x", k),
		"%d":    fmt.Sprintf("%d", k),
		"slice": fmt.Sprintf("%v", []Key{k}),
		"ptr":   fmt.Sprintf("%+v", &k),
	}
	for name, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s output contains the private key: %s", name, out)
			}
		}
		if !strings.Contains(out, "REDACTED") || !strings.Contains(out, k.ID) {
			t.Errorf("%s output = %s, want the kid and REDACTED", name, out)
		}
	}
}

func TestNewTokensConfig(t *testing.T) {
	ks := mustKeySet(t, mustKey(t))
	ok := TokenConfig{Issuer: "i", Audience: "a"}
	tk, err := NewTokens(ks, ok)
	if err != nil {
		t.Fatal(err)
	}
	if tk.ttl != DefaultTokenTTL || tk.leeway != DefaultTokenLeeway || tk.now == nil {
		t.Fatalf("defaults not applied: ttl %v leeway %v", tk.ttl, tk.leeway)
	}
	bad := map[string]struct {
		ks  *KeySet
		cfg TokenConfig
	}{
		"nil keys":          {nil, ok},
		"no issuer":         {ks, TokenConfig{Audience: "a"}},
		"no audience":       {ks, TokenConfig{Issuer: "i"}},
		"issuer bad utf8":   {ks, TokenConfig{Issuer: "\xff", Audience: "a"}},
		"negative ttl":      {ks, TokenConfig{Issuer: "i", Audience: "a", TTL: -time.Minute}},
		"sub-second ttl":    {ks, TokenConfig{Issuer: "i", Audience: "a", TTL: time.Millisecond}},
		"negative leeway":   {ks, TokenConfig{Issuer: "i", Audience: "a", Leeway: -time.Second}},
		"audience too long": {ks, TokenConfig{Issuer: "i", Audience: strings.Repeat("a", 256)}},
	}
	for name, tt := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := NewTokens(tt.ks, tt.cfg); err == nil {
				t.Fatal("NewTokens accepted it")
			}
		})
	}
}

func TestIssueRejectsSubject(t *testing.T) {
	now := testNow
	tk := newTestTokens(t, mustKeySet(t, mustKey(t)), &now)
	for _, sub := range []string{"", "\xff\xfe", strings.Repeat("s", 256)} {
		if _, _, err := tk.Issue(sub); err == nil {
			t.Errorf("Issue(%q) succeeded", sub)
		}
	}
	// The longest subject still makes a token Verify accepts.
	token, _, err := tk.Issue(strings.Repeat("<&>", 85))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := tk.Verify(token); err != nil || c.Subject != strings.Repeat("<&>", 85) {
		t.Fatalf("Verify = %+v, %v", c, err)
	}
}

// TestTokensConcurrent runs Issue, Verify and Rotate together for the race
// detector.
func TestTokensConcurrent(t *testing.T) {
	ks := mustKeySet(t, mustKey(t))
	tk, err := NewTokens(ks, TokenConfig{Issuer: "i", Audience: "a"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 8 {
		wg.Go(func() {
			for range 50 {
				tok, _, err := tk.Issue("u")
				if err == nil {
					_, err = tk.Verify(tok)
				}
				if err == nil {
					_, err = ks.JWKS()
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 10 {
			if err := ks.Rotate(mustKey(t)); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// fixedKey derives a key from name, so that every fuzz worker process holds
// the same keys and seed tokens from the coordinator reach the signature
// check instead of stopping at "unknown key id".
func fixedKey(name string, created time.Time) Key {
	seed := sha256.Sum256([]byte(name))
	priv := ed25519.NewKeyFromSeed(seed[:])
	return Key{ID: name, Private: priv, Public: priv.Public().(ed25519.PublicKey), Created: created}
}

// reissue rebuilds, from verified claims, the exact token Issue would have
// produced with key k. Ed25519 signatures are deterministic, so this is the
// only byte string that can carry these claims.
func reissue(t *testing.T, tk *Tokens, k Key, c Claims) string {
	t.Helper()
	hdr, _ := json.Marshal(jwsHeader{Alg: "EdDSA", Typ: "at+jwt", Kid: k.ID})
	payload, _ := json.Marshal(claimsJSON{
		Iss: tk.issuer, Aud: tk.audience, Sub: c.Subject,
		Iat: c.IssuedAt.Unix(), Nbf: c.IssuedAt.Unix(), Exp: c.Expires.Unix(), Jti: c.ID,
	})
	signed := b64url.EncodeToString(hdr) + "." + b64url.EncodeToString(payload)
	return signed + "." + b64url.EncodeToString(ed25519.Sign(k.Private, []byte(signed)))
}

// FuzzVerify checks that Verify never panics, that every rejection matches
// ErrInvalidToken without echoing the token, and that it accepts nothing but
// tokens Issue produced: an accepted token must equal the token Issue would
// make for its claims, byte for byte. With strict base64, a fixed header
// shape and non-malleable Ed25519 signatures, every other string must fail.
func FuzzVerify(f *testing.F) {
	now := testNow
	signer, old := fixedKey("fuzz-signer", testNow), fixedKey("fuzz-old", testNow.Add(-time.Hour))
	keys := map[string]Key{signer.ID: signer, old.ID: old}
	tk := newTestTokens(f, mustKeySet(f, signer, old), &now)
	oldTk := newTestTokens(f, mustKeySet(f, old), &now)
	for _, src := range []*Tokens{tk, tk, oldTk} {
		tok, _, err := src.Issue("user1")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
		parts := strings.Split(tok, ".")
		f.Add(parts[0] + "." + parts[1] + ".")
		f.Add(parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + "B")
		f.Add(tok + "=")
		f.Add(strings.ToUpper(tok))
		f.Add(parts[0] + "." + enc(f, with(claims(now), "sub", "admin")) + "." + parts[2])
	}
	f.Add(forge(f, signer.Private, with(header(signer.ID), "alg", "none"), claims(now)))
	f.Add(forge(f, signer.Private, header(signer.ID), with(claims(now), "exp", "x")))
	f.Add("..")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := tk.Verify(token)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error %v does not match ErrInvalidToken", err)
			}
			if len(token) > 8 && strings.Contains(err.Error(), token) {
				t.Fatal("error contains the token")
			}
			return
		}
		k := keys[tokenKid(t, token)]
		if want := reissue(t, tk, k, c); token != want {
			t.Fatalf("accepted a token Issue did not produce:\n got %q\nwant %q", token, want)
		}
	})
}

func BenchmarkIssue(b *testing.B) {
	now := testNow
	tk := newTestTokens(b, mustKeySet(b, mustKey(b)), &now)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := tk.Issue("user1"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	now := testNow
	tk := newTestTokens(b, mustKeySet(b, mustKey(b), mustKey(b)), &now)
	token, _, err := tk.Issue("user1")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tk.Verify(token); err != nil {
			b.Fatal(err)
		}
	}
}

func TestIssueSessionCarriesSID(t *testing.T) {
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	ks, err := NewKeySet(k)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := NewTokens(ks, TokenConfig{Issuer: "keep", Audience: "keep"})
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := tok.IssueSession("user-1", "sess-1")
	if err != nil {
		t.Fatal(err)
	}
	c, err := tok.Verify(s)
	if err != nil || c.SessionID != "sess-1" || c.Subject != "user-1" {
		t.Fatalf("claims %+v, %v", c, err)
	}
	plain, _, _ := tok.Issue("user-1")
	if c, err := tok.Verify(plain); err != nil || c.SessionID != "" {
		t.Fatalf("plain token: %+v, %v", c, err)
	}
}

// TestSignatureCacheKeepsEveryCheck: a token verified once skips only the
// signature check; expiry still applies, a removed key ends it, and any
// other spelling is checked in full.
func TestSignatureCacheKeepsEveryCheck(t *testing.T) {
	old, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	ks, err := NewKeySet(old)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := NewTokens(ks, TokenConfig{Issuer: "keep", Audience: "keep", TTL: time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := tok.Issue("user-1")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second time from the cache
		if _, err := tok.Verify(s); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := tok.cachedSignature(s); !ok {
		t.Fatal("a verified token is not cached")
	}
	tampered := s[:len(s)-2] + map[bool]string{true: "AA", false: "BA"}[s[len(s)-2:] != "AA"]
	if _, err := tok.Verify(tampered); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("tampered token: %v", err)
	}
	now = now.Add(2 * time.Minute)
	if _, err := tok.Verify(s); !errors.Is(err, ErrExpiredToken) {
		t.Fatalf("expired cached token: %v", err)
	}
	now = now.Add(-2 * time.Minute)
	next, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Rotate(next); err != nil {
		t.Fatal(err)
	}
	if err := ks.Remove(old.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := tok.Verify(s); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("cached token of a removed key: %v", err)
	}
}
