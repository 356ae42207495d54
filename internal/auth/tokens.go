package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Access tokens are JWS compact serialisations (RFC 7515) of JWT claims
// (RFC 7519) in the RFC 9068 access token profile, signed with Ed25519
// (RFC 8037). They are written by hand with the standard library: the format
// Keep issues is one fixed shape, and accepting exactly that shape is simpler
// to get right than configuring a general JOSE library to refuse everything
// else (alg "none", HMAC with a public key, embedded keys, crit, …).

// Sentinel errors returned by [Tokens.Verify]. Every rejection matches
// ErrInvalidToken; an expired token matches both ErrInvalidToken and
// ErrExpiredToken, so a caller that only asks "is it valid?" cannot let an
// expired token through by forgetting the second sentinel. Messages name the
// reason but never include the token.
var (
	ErrInvalidToken = errors.New("auth: invalid token")
	ErrExpiredToken = errors.New("auth: token expired")
)

// tokenError carries the reason a token was refused, for logs, while
// matching the sentinels for errors.Is.
type tokenError struct {
	reason  string
	expired bool
}

func (e *tokenError) Error() string {
	if e.expired {
		return ErrExpiredToken.Error()
	}
	return ErrInvalidToken.Error() + ": " + e.reason
}

func (e *tokenError) Unwrap() []error {
	if e.expired {
		return []error{ErrExpiredToken, ErrInvalidToken}
	}
	return []error{ErrInvalidToken}
}

func invalid(reason string) error { return &tokenError{reason: reason} }

const (
	// MaxTokenLen is the longest token Verify looks at. Keep's tokens are
	// a few hundred bytes; the limit stops a large header or payload from
	// costing decoding and JSON work before the signature is checked.
	MaxTokenLen = 4096

	// DefaultTokenTTL and DefaultTokenLeeway apply when TokenConfig leaves
	// TTL or Leeway zero.
	DefaultTokenTTL    = 15 * time.Minute
	DefaultTokenLeeway = 30 * time.Second

	tokenAlg = "EdDSA"
	tokenTyp = "at+jwt" // RFC 9068 section 2.1

	maxKeyIDLen   = 64
	maxSubjectLen = 255
	maxNameLen    = 255 // issuer and audience

	// maxNumericDate is 9999-12-31T23:59:59Z. Dates outside [0, max] are
	// refused so that time arithmetic cannot overflow.
	maxNumericDate = 253402300799
)

// b64url is the JOSE encoding: URL alphabet, no padding. Strict rejects
// non-zero trailing bits so that each value has exactly one encoding.
var b64url = base64.RawURLEncoding.Strict()

// Key is an Ed25519 signing key with its key id (the JWS "kid").
//
// Key prints, logs and marshals to JSON with its private half shown as
// REDACTED; code that needs the private key reads the field directly.
type Key struct {
	ID      string
	Private ed25519.PrivateKey // nil for a key that only verifies
	Public  ed25519.PublicKey
	Created time.Time

	legacy bool // read from a row that holds the seed in clear
}

// NewKey generates a key with a random 128-bit id. Created is truncated to
// milliseconds, the precision the key table keeps, so that a stored key reads
// back equal.
func NewKey() (Key, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Key{}, fmt.Errorf("auth: generating key: %w", err)
	}
	id, err := randomID()
	if err != nil {
		return Key{}, err
	}
	return Key{ID: id, Private: priv, Public: pub, Created: time.Now().UTC().Truncate(time.Millisecond)}, nil
}

// randomID returns 16 random bytes as unpadded base64url.
func randomID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("auth: reading random id: %w", err)
	}
	return b64url.EncodeToString(b[:]), nil
}

func (k Key) redactedPrivate() string {
	if k.Private == nil {
		return ""
	}
	return "REDACTED"
}

// LogValue implements slog.LogValuer; the private key is logged as REDACTED.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("kid", k.ID),
		slog.String("public", b64url.EncodeToString(k.Public)),
		slog.String("private", k.redactedPrivate()),
		slog.Time("created", k.Created),
	)
}

// String describes the key without its private half.
func (k Key) String() string {
	return fmt.Sprintf("Key{ID:%s Public:%s Private:%s Created:%s}",
		k.ID, b64url.EncodeToString(k.Public), k.redactedPrivate(), k.Created.Format(time.RFC3339))
}

// Format implements fmt.Formatter so that every verb, %#v and %x included,
// prints [Key.String] rather than the private key's bytes.
func (k Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// MarshalJSON writes the key without its private half, so that a Key
// embedded in some debug output cannot leak it.
func (k Key) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID      string    `json:"kid"`
		Public  string    `json:"public"`
		Private string    `json:"private,omitempty"`
		Created time.Time `json:"created"`
	}{k.ID, b64url.EncodeToString(k.Public), k.redactedPrivate(), k.Created})
}

// validKeyID keeps ids to the base64url alphabet so they are safe in JSON,
// headers, SQL and logs without escaping.
func validKeyID(id string) bool {
	if id == "" || len(id) > maxKeyIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !isB64URL(id[i]) {
			return false
		}
	}
	return true
}

func isB64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// checkKey validates k. A signing key must carry a private key matching its
// public key; a mismatch means corrupt storage and would otherwise surface
// as tokens that nobody can verify.
func checkKey(k Key, signing bool) error {
	if !validKeyID(k.ID) {
		return errors.New("auth: key id must be 1-64 base64url characters")
	}
	if len(k.Public) != ed25519.PublicKeySize {
		return fmt.Errorf("auth: key %s: public key has the wrong size", k.ID)
	}
	if k.Private == nil {
		if signing {
			return fmt.Errorf("auth: key %s: signing key has no private key", k.ID)
		}
		return nil
	}
	if len(k.Private) != ed25519.PrivateKeySize {
		return fmt.Errorf("auth: key %s: private key has the wrong size", k.ID)
	}
	if !bytes.Equal(k.Private.Public().(ed25519.PublicKey), k.Public) {
		return fmt.Errorf("auth: key %s: private and public keys do not match", k.ID)
	}
	return nil
}

// KeySet holds the key that signs new tokens and the keys that still verify
// older ones, looked up by key id.
//
// A KeySet is safe for concurrent use. Readers never block: each change
// builds a new immutable snapshot, including the encoded JWKS, and publishes
// it atomically. The zero value is not usable; create one with [NewKeySet].
type KeySet struct {
	mu   sync.Mutex // serialises writers
	snap atomic.Pointer[keySnapshot]
	box  Sealer // opens stored keys on refresh; set by LoadKeySet
}

type keySnapshot struct {
	signing Key
	header  string // base64url JWS header for tokens signed by signing
	// order lists every key id, signing key first, for the JWKS.
	order  []string
	public map[string]ed25519.PublicKey
	jwks   []byte
}

// NewKeySet returns a set that signs with signing and also verifies tokens
// signed by verifyOnly. Key ids must be unique. The set keeps its own copies
// of the keys and drops the private half of verify-only keys: a key that no
// longer signs has no reason to sit in memory.
func NewKeySet(signing Key, verifyOnly ...Key) (*KeySet, error) {
	snap, err := buildSnapshot(signing, verifyOnly)
	if err != nil {
		return nil, err
	}
	s := &KeySet{}
	s.snap.Store(snap)
	return s, nil
}

func publicOnly(k Key) Key {
	return Key{ID: k.ID, Public: bytes.Clone(k.Public), Created: k.Created}
}

func buildSnapshot(signing Key, verifyOnly []Key) (*keySnapshot, error) {
	if err := checkKey(signing, true); err != nil {
		return nil, err
	}
	signing = Key{ID: signing.ID, Private: bytes.Clone(signing.Private), Public: bytes.Clone(signing.Public), Created: signing.Created}
	all := make([]Key, 0, 1+len(verifyOnly))
	all = append(all, signing)
	for _, k := range verifyOnly {
		if err := checkKey(k, false); err != nil {
			return nil, err
		}
		all = append(all, publicOnly(k))
	}

	snap := &keySnapshot{signing: signing, public: make(map[string]ed25519.PublicKey, len(all))}
	jwks := jwkSet{Keys: make([]jwk, 0, len(all))}
	for _, k := range all {
		if _, dup := snap.public[k.ID]; dup {
			return nil, fmt.Errorf("auth: duplicate key id %s", k.ID)
		}
		snap.public[k.ID] = k.Public
		snap.order = append(snap.order, k.ID)
		jwks.Keys = append(jwks.Keys, jwk{Kty: "OKP", Crv: "Ed25519", Kid: k.ID, Alg: tokenAlg, Use: "sig", X: b64url.EncodeToString(k.Public)})
	}
	var err error
	if snap.jwks, err = json.Marshal(jwks); err != nil {
		return nil, fmt.Errorf("auth: encoding JWKS: %w", err)
	}
	hdr, err := json.Marshal(jwsHeader{Alg: tokenAlg, Typ: tokenTyp, Kid: signing.ID})
	if err != nil {
		return nil, fmt.Errorf("auth: encoding token header: %w", err)
	}
	snap.header = b64url.EncodeToString(hdr)
	return snap, nil
}

// verifyOnlyKeys returns the current verify-only keys (public halves).
func (snap *keySnapshot) verifyOnlyKeys() []Key {
	keys := make([]Key, 0, len(snap.order)-1)
	for _, id := range snap.order[1:] {
		keys = append(keys, Key{ID: id, Public: snap.public[id]})
	}
	return keys
}

// Rotate makes next the signing key and keeps the previous signing key for
// verification only, so tokens it signed stay valid until they expire.
// Persisting the change is the caller's job.
func (s *KeySet) Rotate(next Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.snap.Load()
	snap, err := buildSnapshot(next, append([]Key{publicOnly(cur.signing)}, cur.verifyOnlyKeys()...))
	if err != nil {
		return err
	}
	s.snap.Store(snap)
	return nil
}

// Remove drops a verify-only key; tokens it signed stop verifying at once.
// The signing key cannot be removed: [KeySet.Rotate] away from it first.
func (s *KeySet) Remove(kid string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.snap.Load()
	if kid == cur.signing.ID {
		return errors.New("auth: cannot remove the signing key")
	}
	if _, ok := cur.public[kid]; !ok {
		return fmt.Errorf("auth: no key with id %q", kid)
	}
	var keep []Key
	for _, k := range cur.verifyOnlyKeys() {
		if k.ID != kid {
			keep = append(keep, k)
		}
	}
	snap, err := buildSnapshot(cur.signing, keep)
	if err != nil {
		return err
	}
	s.snap.Store(snap)
	return nil
}

// SigningKeyID returns the id of the key that signs new tokens.
func (s *KeySet) SigningKeyID() string { return s.snap.Load().signing.ID }

// KeyIDs returns the ids of every key in the set, signing key first.
func (s *KeySet) KeyIDs() []string { return append([]string(nil), s.snap.Load().order...) }

// JWKS returns the public keys as a JSON Web Key Set (RFC 7517, RFC 8037),
// signing key first. The document is encoded once per change of the set;
// each call returns a fresh copy the caller may keep. The error is always nil
// today and is kept so that a future key type that fails to encode need not
// change callers.
func (s *KeySet) JWKS() ([]byte, error) {
	return bytes.Clone(s.snap.Load().jwks), nil
}

type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	X   string `json:"x"`
}

type jwkSet struct {
	Keys []jwk `json:"keys"`
}

type jwsHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

// TokenConfig configures [Tokens].
type TokenConfig struct {
	Issuer   string // "iss"; required
	Audience string // "aud"; required
	// TTL is how long a token lives; zero means DefaultTokenTTL. Keep it
	// short: an access token cannot be revoked before it expires.
	TTL time.Duration
	// Leeway absorbs clock skew between instances when checking exp, nbf
	// and iat; zero means DefaultTokenLeeway.
	Leeway time.Duration
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Tokens issues and verifies access tokens.
//
// Tokens is safe for concurrent use. The zero value is not usable; create
// one with [NewTokens].
type Tokens struct {
	keys     *KeySet
	issuer   string
	audience string
	ttl      time.Duration
	leeway   time.Duration
	now      func() time.Time

	// verified remembers tokens whose signature checked out, by their exact
	// text, with the key id that signed them and their decoded claims: a
	// client sends the same token on every request for its lifetime, and
	// the Ed25519 check was a quarter of a request's cost (decoding the
	// claims' JSON another 4 %). Claims (exp, nbf, …) are still checked
	// every time, and an entry counts only while its key is in the set.
	mu       sync.Mutex
	verified map[string]verifiedToken
}

// maxVerified bounds the signature cache; when full it starts over, which
// costs one signature check per live token.
const maxVerified = 8192

// NewTokens returns a Tokens that signs with keys' signing key and verifies
// with any key in keys. Later changes to keys take effect at once.
func NewTokens(keys *KeySet, cfg TokenConfig) (*Tokens, error) {
	var errs []error
	if keys == nil {
		errs = append(errs, errors.New("auth: tokens need a key set"))
	}
	for _, f := range []struct{ name, v string }{{"issuer", cfg.Issuer}, {"audience", cfg.Audience}} {
		if f.v == "" || len(f.v) > maxNameLen || !utf8.ValidString(f.v) {
			errs = append(errs, fmt.Errorf("auth: token %s must be 1-%d bytes of UTF-8", f.name, maxNameLen))
		}
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTokenTTL
	}
	if cfg.TTL < time.Second {
		errs = append(errs, errors.New("auth: token TTL must be at least one second"))
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultTokenLeeway
	}
	if cfg.Leeway < 0 {
		errs = append(errs, errors.New("auth: token leeway must not be negative"))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &Tokens{keys: keys, issuer: cfg.Issuer, audience: cfg.Audience, ttl: cfg.TTL, leeway: cfg.Leeway, now: cfg.Now}, nil
}

// claimsJSON is the payload Keep issues, in this field order.
type claimsJSON struct {
	Iss string `json:"iss"`
	Aud string `json:"aud"`
	Sub string `json:"sub"`
	Iat int64  `json:"iat"`
	Nbf int64  `json:"nbf"`
	Exp int64  `json:"exp"`
	Jti string `json:"jti"`
	Sid string `json:"sid,omitempty"`
}

// Claims are the verified contents of an access token.
type Claims struct {
	Subject  string    // "sub": who the token speaks for
	ID       string    // "jti": unique per token, for logs and deny lists
	IssuedAt time.Time // "iat"
	Expires  time.Time // "exp"
	// SessionID ("sid") names the session the token belongs to; empty for
	// tokens issued outside a session.
	SessionID string
}

// Issue returns a new token for sub, signed by the set's signing key, and
// when it expires. sub must be 1-255 bytes of valid UTF-8 (invalid UTF-8
// would be replaced during JSON encoding and verify as a different subject).
func (t *Tokens) Issue(sub string) (token string, expires time.Time, err error) {
	return t.IssueSession(sub, "")
}

// IssueSession is Issue for a token that belongs to session sid, so that
// ending the session can end the token. sid follows the rules of sub.
func (t *Tokens) IssueSession(sub, sid string) (token string, expires time.Time, err error) {
	if len(sid) > maxSubjectLen || !utf8.ValidString(sid) {
		return "", time.Time{}, fmt.Errorf("auth: token session id must be at most %d bytes of UTF-8", maxSubjectLen)
	}
	if sub == "" || len(sub) > maxSubjectLen || !utf8.ValidString(sub) {
		return "", time.Time{}, fmt.Errorf("auth: token subject must be 1-%d bytes of UTF-8", maxSubjectLen)
	}
	jti, err := randomID()
	if err != nil {
		return "", time.Time{}, err
	}
	now := t.now()
	iat := now.Unix()
	exp := now.Add(t.ttl).Unix()
	payload, err := json.Marshal(claimsJSON{Iss: t.issuer, Aud: t.audience, Sub: sub, Iat: iat, Nbf: iat, Exp: exp, Jti: jti, Sid: sid})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: encoding claims: %w", err)
	}
	snap := t.keys.snap.Load()
	signed := snap.header + "." + b64url.EncodeToString(payload)
	sig := ed25519.Sign(snap.signing.Private, []byte(signed))
	token = signed + "." + b64url.EncodeToString(sig)
	if len(token) > MaxTokenLen {
		// Unreachable with the limits above; kept so Issue can never
		// hand out a token that Verify refuses.
		return "", time.Time{}, errors.New("auth: token too long")
	}
	return token, time.Unix(exp, 0), nil
}

// Verify checks token and returns its claims. Any failure yields an error
// matching [ErrInvalidToken]; an expired token also matches
// [ErrExpiredToken].
//
// The checks run cheapest and least trusting first: size, shape and
// alphabet; the header, which must say alg EdDSA, typ at+jwt and name a key
// id in the set and nothing else; the signature over the header and payload
// exactly as received; and only then the claims: exp and nbf (both
// required), iat, iss, aud and sub, with the configured leeway on the times.
func (t *Tokens) Verify(token string) (Claims, error) {
	if len(token) > MaxTokenLen {
		return Claims{}, invalid("too long")
	}
	// The alphabet check rejects padding, whitespace and the standard
	// base64 alphabet up front. It matters beyond tidiness: the decoder
	// skips CR and LF, which would otherwise let one token have many
	// spellings.
	if c, ok := t.cachedSignature(token); ok {
		return t.validClaims(c)
	}
	dots := 0
	for i := 0; i < len(token); i++ {
		switch c := token[i]; {
		case c == '.':
			dots++
		case !isB64URL(c):
			return Claims{}, invalid("bad character")
		}
	}
	if dots != 2 {
		return Claims{}, invalid("not three segments")
	}
	h64, rest, _ := strings.Cut(token, ".")
	p64, s64, _ := strings.Cut(rest, ".")
	if h64 == "" || p64 == "" || s64 == "" {
		return Claims{}, invalid("empty segment")
	}

	kid, err := parseHeader(h64)
	if err != nil {
		return Claims{}, err
	}
	// Look the key up by id. Trying every key would multiply the work an
	// attacker can cause and blur which key vouched for the token.
	pub, ok := t.keys.snap.Load().public[kid]
	if !ok {
		return Claims{}, invalid("unknown key id")
	}
	sig, err := b64url.DecodeString(s64)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return Claims{}, invalid("bad signature encoding")
	}
	// crypto/ed25519 rejects non-canonical signatures, so together with
	// strict base64 only the exact bytes Issue produced verify.
	if !ed25519.Verify(pub, []byte(token[:len(h64)+1+len(p64)]), sig) {
		return Claims{}, invalid("bad signature")
	}

	// Only signed data from here on.
	vc, err := decodeClaims(p64)
	if err != nil {
		return Claims{}, err
	}
	c, err := t.validClaims(vc)
	if err == nil {
		t.rememberSignature(token, verifiedToken{kid: kid, claims: vc})
	}
	return c, err
}

// verifiedToken is what the signature cache keeps of a token: the key
// that signed it and its decoded claims (a token's text fixes them, so
// they are decoded once; validClaims checks them again at every use).
type verifiedToken struct {
	kid    string
	claims *verifiedClaims
}

// cachedSignature returns the claims of token if its exact text was
// verified before by a key that is still in the set.
func (t *Tokens) cachedSignature(token string) (*verifiedClaims, bool) {
	t.mu.Lock()
	v, ok := t.verified[token]
	t.mu.Unlock()
	if !ok {
		return nil, false
	}
	if _, still := t.keys.snap.Load().public[v.kid]; !still {
		return nil, false
	}
	return v.claims, true
}

func (t *Tokens) rememberSignature(token string, v verifiedToken) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.verified == nil || len(t.verified) >= maxVerified {
		t.verified = make(map[string]verifiedToken, 256)
	}
	t.verified[token] = v
}

// parseHeader decodes the JOSE header strictly and returns its kid. Exact
// member names are compared (a map, not struct decoding, whose matching
// ignores case), and any member besides alg, typ and kid is refused: Keep
// never issues others, and "crit", "jku", "jwk" or "x5u" are exactly the ones
// that have led JOSE libraries astray.
func parseHeader(h64 string) (kid string, err error) {
	raw, err := b64url.DecodeString(h64)
	if err != nil {
		return "", invalid("bad header encoding")
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(raw, &hdr); err != nil {
		return "", invalid("bad header")
	}
	if _, ok := hdr["crit"]; ok {
		return "", invalid("crit header not supported")
	}
	for name := range hdr {
		if name != "alg" && name != "typ" && name != "kid" {
			return "", invalid("unexpected header parameter")
		}
	}
	if alg, ok := jsonString(hdr["alg"]); !ok || alg != tokenAlg {
		return "", invalid("wrong alg")
	}
	if typ, ok := jsonString(hdr["typ"]); !ok || typ != tokenTyp {
		return "", invalid("wrong typ")
	}
	kid, ok := jsonString(hdr["kid"])
	if !ok || kid == "" {
		return "", invalid("missing kid")
	}
	return kid, nil
}

// jsonString decodes raw as a JSON string. It reports false for a missing
// member and for any other JSON type (including null, which
// json.Unmarshal would silently turn into "").
func jsonString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// verifiedClaims mirrors claimsJSON with pointers for the times, to tell a
// missing claim from zero, and a raw aud, which RFC 7519 allows to be a
// string or an array of strings.
type verifiedClaims struct {
	Iss string          `json:"iss"`
	Aud json.RawMessage `json:"aud"`
	Sub string          `json:"sub"`
	Iat *int64          `json:"iat"`
	Nbf *int64          `json:"nbf"`
	Exp *int64          `json:"exp"`
	Jti string          `json:"jti"`
	Sid string          `json:"sid"`
}

// decodeClaims decodes a payload; validClaims checks what it says. The
// decoded claims are never changed afterwards, so the signature cache can
// share them.
func decodeClaims(p64 string) (*verifiedClaims, error) {
	raw, err := b64url.DecodeString(p64)
	if err != nil {
		return nil, invalid("bad payload encoding")
	}
	var c verifiedClaims
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, invalid("bad payload")
	}
	return &c, nil
}

// validClaims checks the claims of a token whose signature checked out,
// against the clock, the issuer and the audience.
func (t *Tokens) validClaims(c *verifiedClaims) (Claims, error) {
	if c.Exp == nil || c.Nbf == nil || c.Iat == nil {
		return Claims{}, invalid("missing exp, nbf or iat")
	}
	for _, v := range [...]int64{*c.Exp, *c.Nbf, *c.Iat} {
		if v < 0 || v > maxNumericDate {
			return Claims{}, invalid("date out of range")
		}
	}
	exp, nbf, iat := time.Unix(*c.Exp, 0), time.Unix(*c.Nbf, 0), time.Unix(*c.Iat, 0)
	now := t.now()
	if !now.Before(exp.Add(t.leeway)) {
		return Claims{}, &tokenError{reason: "expired", expired: true}
	}
	if now.Add(t.leeway).Before(nbf) {
		return Claims{}, invalid("not yet valid")
	}
	if now.Add(t.leeway).Before(iat) || !iat.Before(exp) {
		return Claims{}, invalid("bad iat")
	}
	if c.Iss != t.issuer {
		return Claims{}, invalid("wrong issuer")
	}
	if !audienceContains(c.Aud, t.audience) {
		return Claims{}, invalid("wrong audience")
	}
	if c.Sub == "" {
		return Claims{}, invalid("missing sub")
	}
	if c.Jti == "" {
		return Claims{}, invalid("missing jti")
	}
	return Claims{Subject: c.Sub, ID: c.Jti, IssuedAt: iat, Expires: exp, SessionID: c.Sid}, nil
}

// audienceContains reports whether aud, a JSON string or array of strings,
// names want.
func audienceContains(aud json.RawMessage, want string) bool {
	if s, ok := jsonString(aud); ok {
		return s == want
	}
	if len(aud) == 0 || aud[0] != '[' {
		return false
	}
	var list []string
	if err := json.Unmarshal(aud, &list); err != nil {
		return false
	}
	for _, s := range list {
		if s == want {
			return true
		}
	}
	return false
}
