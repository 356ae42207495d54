package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// TOTP after RFC 6238 (on HOTP, RFC 4226) with the parameters every
// authenticator app understands: HMAC-SHA-1, 6 digits, 30-second steps.
// Codes one step either side of the current one are accepted to absorb clock
// drift and the time a user takes to type. Replay protection is the
// caller's: VerifyTOTP reports the step it matched, and the caller accepts
// only steps after the last one it accepted.
const (
	TOTPDigits    = 6
	TOTPPeriod    = 30 * time.Second
	TOTPSkew      = 1  // steps accepted either side of the current one
	TOTPSecretLen = 20 // bytes: the 160 bits RFC 4226 recommends for SHA-1
)

// ErrMalformedCode means a TOTP code is not exactly six ASCII digits.
var ErrMalformedCode = errors.New("auth: a TOTP code is six digits")

// totpB32 is the secret encoding of otpauth URIs: RFC 4648 base32 without
// padding (20 bytes encode to 32 characters exactly).
var totpB32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// GenerateTOTPSecret returns a new random TOTP secret of TOTPSecretLen bytes.
func GenerateTOTPSecret() ([]byte, error) {
	b := make([]byte, TOTPSecretLen)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("auth: reading random TOTP secret: %w", err)
	}
	return b, nil
}

// EncodeTOTPSecret is secret as a user types it into an authenticator app:
// unpadded base32.
func EncodeTOTPSecret(secret []byte) string { return totpB32.EncodeToString(secret) }

// ParseTOTPCode checks that s is exactly TOTPDigits ASCII digits (no sign,
// space or other Unicode digit) and returns its value.
func ParseTOTPCode(s string) (uint32, error) {
	if len(s) != TOTPDigits {
		return 0, ErrMalformedCode
	}
	var v uint32
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, ErrMalformedCode
		}
		v = v*10 + uint32(c-'0')
	}
	return v, nil
}

// hotp is RFC 4226's HOTP value of counter, reduced to digits decimal digits.
func hotp(secret []byte, counter uint64, digits int) uint32 {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	// Dynamic truncation (RFC 4226 section 5.3).
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return bin % mod
}

// TOTPStep is the time step t falls in (RFC 6238's T, with T0 = 0).
// Times before 1970 fall in negative steps, which no code matches.
func TOTPStep(t time.Time) int64 {
	sec := t.Unix()
	period := int64(TOTPPeriod / time.Second)
	step := sec / period
	if sec%period < 0 {
		step-- // floor, not truncation toward zero
	}
	return step
}

// TOTPCodeAt is the code of secret for time step step, as the six digits an
// authenticator shows. It is for tests and tools; servers use VerifyTOTP.
func TOTPCodeAt(secret []byte, step int64) string {
	return fmt.Sprintf("%0*d", TOTPDigits, hotp(secret, uint64(step), TOTPDigits))
}

// VerifyTOTP reports whether code is the code of secret for a time step
// within TOTPSkew of the step of now and greater than after (the last step
// the caller accepted, 0 for none), and which step it matched. Codes are
// compared in constant time and every candidate step is computed whatever
// matches, so the time taken says nothing useful about the expected code.
// When several steps match, the latest is reported.
func VerifyTOTP(secret []byte, code string, now time.Time, after int64) (step int64, ok bool) {
	want, err := ParseTOTPCode(code)
	if err != nil || len(secret) == 0 {
		return 0, false
	}
	cur := TOTPStep(now)
	matched := int64(-1)
	for s := cur - TOTPSkew; s <= cur+TOTPSkew; s++ {
		got := hotp(secret, uint64(s), TOTPDigits)
		eq := subtle.ConstantTimeEq(int32(got), int32(want))
		usable := s >= 0 && s > after
		if eq == 1 && usable {
			matched = s
		}
	}
	if matched < 0 {
		return 0, false
	}
	return matched, true
}

// OTPAuthURI builds the otpauth:// key URI that authenticator apps read from
// a QR code:
//
//	otpauth://totp/Issuer:account?secret=BASE32&issuer=Issuer&algorithm=SHA1&digits=6&period=30
//
// Issuer and account are percent-encoded (everything but RFC 3986 unreserved
// characters, spaces as %20), so a colon, '&', '?' or '#' in either cannot
// change the URI's structure. An empty issuer leaves the prefix and the
// issuer parameter out.
func OTPAuthURI(issuer, account string, secret []byte) string {
	var b strings.Builder
	b.WriteString("otpauth://totp/")
	if issuer != "" {
		b.WriteString(uriEscape(issuer))
		b.WriteByte(':')
	}
	b.WriteString(uriEscape(account))
	b.WriteString("?secret=")
	b.WriteString(EncodeTOTPSecret(secret))
	if issuer != "" {
		b.WriteString("&issuer=")
		b.WriteString(uriEscape(issuer))
	}
	fmt.Fprintf(&b, "&algorithm=SHA1&digits=%d&period=%d", TOTPDigits, int(TOTPPeriod/time.Second))
	return b.String()
}

// uriEscape percent-encodes every byte of s but the RFC 3986 unreserved
// characters. It is stricter than net/url's path escaping, which leaves ':'
// and '@' alone, and than query escaping, which turns spaces into '+' (some
// authenticators show a literal '+').
func uriEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0x0f])
		}
	}
	return b.String()
}
