package auth

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
	"time"
)

// rfcSecret is the SHA-1 seed of RFC 4226 appendix D and RFC 6238 appendix B.
var rfcSecret = []byte("12345678901234567890")

// TestHOTPVectors checks the ten HOTP values of RFC 4226 appendix D.
func TestHOTPVectors(t *testing.T) {
	want := []uint32{755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489}
	for i, w := range want {
		if got := hotp(rfcSecret, uint64(i), 6); got != w {
			t.Errorf("HOTP(%d) = %06d, want %06d", i, got, w)
		}
	}
}

// TestTOTPVectors checks the SHA-1 rows of RFC 6238 appendix B, both as the
// published 8-digit values and as the 6-digit codes Keep uses (the low six
// digits of the same truncated value).
func TestTOTPVectors(t *testing.T) {
	for _, tc := range []struct {
		unix  int64
		step  int64
		eight string
	}{
		{59, 0x1, "94287082"},
		{1111111109, 0x23523EC, "07081804"},
		{1111111111, 0x23523ED, "14050471"},
		{1234567890, 0x273EF07, "89005924"},
		{2000000000, 0x3F940AA, "69279037"},
		{20000000000, 0x27BC86AA, "65353130"},
	} {
		now := time.Unix(tc.unix, 0)
		if got := TOTPStep(now); got != tc.step {
			t.Errorf("TOTPStep(%d) = %#x, want %#x", tc.unix, got, tc.step)
		}
		if got := hotp(rfcSecret, uint64(tc.step), 8); got != mustAtoi(t, tc.eight) {
			t.Errorf("8-digit TOTP at %d = %08d, want %s", tc.unix, got, tc.eight)
		}
		six := tc.eight[2:]
		if got := TOTPCodeAt(rfcSecret, tc.step); got != six {
			t.Errorf("TOTPCodeAt(%d) = %s, want %s", tc.unix, got, six)
		}
		step, ok := VerifyTOTP(rfcSecret, six, now, 0)
		if !ok || step != tc.step {
			t.Errorf("VerifyTOTP(%s at %d) = %d, %v; want %d, true", six, tc.unix, step, ok, tc.step)
		}
	}
}

func mustAtoi(t *testing.T, s string) uint32 {
	t.Helper()
	var v uint32
	for _, c := range s {
		v = v*10 + uint32(c-'0')
	}
	return v
}

func TestVerifyTOTPWindowAndReplay(t *testing.T) {
	secret, err := GenerateTOTPSecret()
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != TOTPSecretLen {
		t.Fatalf("secret is %d bytes", len(secret))
	}
	now := time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC)
	cur := TOTPStep(now)
	for _, tc := range []struct {
		name  string
		step  int64
		after int64
		ok    bool
	}{
		{"current", cur, 0, true},
		{"previous", cur - 1, 0, true},
		{"next", cur + 1, 0, true},
		{"two back", cur - 2, 0, false},
		{"two ahead", cur + 2, 0, false},
		{"current after the previous was used", cur, cur - 1, true},
		{"current replayed", cur, cur, false},
		{"previous after current was used", cur - 1, cur, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code := TOTPCodeAt(secret, tc.step)
			step, ok := VerifyTOTP(secret, code, now, tc.after)
			if ok != tc.ok || (ok && step != tc.step) {
				// A code can collide with another step's (1 in 10^6);
				// only a mismatch in acceptance of the exact step matters.
				if !(ok && TOTPCodeAt(secret, step) == code) {
					t.Fatalf("VerifyTOTP = %d, %v; want %d, %v", step, ok, tc.step, tc.ok)
				}
			}
		})
	}
	if _, ok := VerifyTOTP(nil, TOTPCodeAt(nil, cur), now, 0); ok {
		t.Fatal("empty secret accepted")
	}
	if _, ok := VerifyTOTP(secret, TOTPCodeAt(secret, -4), time.Unix(-100, 0), -10); ok {
		t.Fatal("negative step accepted")
	}
}

func TestParseTOTPCode(t *testing.T) {
	for _, tc := range []struct {
		in string
		v  uint32
		ok bool
	}{
		{"000000", 0, true},
		{"123456", 123456, true},
		{"999999", 999999, true},
		{"12345", 0, false},
		{"1234567", 0, false},
		{"", 0, false},
		{"12345a", 0, false},
		{" 12345", 0, false},
		{"+12345", 0, false},
		{"-12345", 0, false},
		{"12 456", 0, false},
		{"١٢٣٤٥٦", 0, false}, // Arabic-Indic digits
		{"１２３４５６", 0, false}, // fullwidth digits
		{"12345\x00", 0, false},
	} {
		v, err := ParseTOTPCode(tc.in)
		if (err == nil) != tc.ok || v != tc.v {
			t.Errorf("ParseTOTPCode(%q) = %d, %v; want %d, ok=%v", tc.in, v, err, tc.v, tc.ok)
		}
	}
}

func TestTOTPStepBeforeEpoch(t *testing.T) {
	if got := TOTPStep(time.Unix(-1, 0)); got != -1 {
		t.Fatalf("TOTPStep(-1s) = %d, want -1", got)
	}
	if got := TOTPStep(time.Unix(29, 999)); got != 0 {
		t.Fatalf("TOTPStep(29s) = %d, want 0", got)
	}
}

func TestOTPAuthURI(t *testing.T) {
	secret := rfcSecret
	got := OTPAuthURI("Keep", "alice@example.com", secret)
	want := "otpauth://totp/Keep:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Keep&algorithm=SHA1&digits=6&period=30"
	if got != want {
		t.Fatalf("OTPAuthURI =\n %s\nwant\n %s", got, want)
	}

	// Hostile names cannot add parameters or a second label separator.
	got = OTPAuthURI("Acme Co:&x=1", "bob?#&secret=AAAA", secret)
	u, err := url.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "otpauth" || u.Host != "totp" {
		t.Fatalf("scheme/host: %s", got)
	}
	label := strings.TrimPrefix(u.EscapedPath(), "/")
	if strings.Count(label, ":") != 1 {
		t.Fatalf("label %q must hold exactly one separator", label)
	}
	q := u.Query()
	if q.Get("secret") != EncodeTOTPSecret(secret) || len(q["secret"]) != 1 || q.Get("issuer") != "Acme Co:&x=1" || q.Has("x") {
		t.Fatalf("query: %v", q)
	}
	if strings.Contains(got, "+") || !strings.Contains(got, "Acme%20Co") {
		t.Fatalf("spaces must be %%20: %s", got)
	}
	if u.Fragment != "" {
		t.Fatalf("fragment: %s", got)
	}

	// No issuer: a bare label and no issuer parameter.
	got = OTPAuthURI("", "carol", secret)
	if !strings.HasPrefix(got, "otpauth://totp/carol?secret=") || strings.Contains(got, "issuer=") {
		t.Fatalf("no issuer: %s", got)
	}
}

func TestEncodeTOTPSecret(t *testing.T) {
	s := EncodeTOTPSecret(rfcSecret)
	if len(s) != 32 || strings.Contains(s, "=") {
		t.Fatalf("encoded secret %q", s)
	}
	back, err := totpB32.DecodeString(s)
	if err != nil || !bytes.Equal(back, rfcSecret) {
		t.Fatalf("round trip: %v", err)
	}
}

// FuzzParseTOTPCode checks that parsing and verifying never panic, accept
// only exactly six ASCII digits, and accept a code only if it is the code of
// the step reported.
func FuzzParseTOTPCode(f *testing.F) {
	for _, s := range []string{"123456", "000000", "12345", "1234567", "", "abcdef", "١٢٣٤٥٦", "12345\x00", "-12345", "99999\xff"} {
		f.Add(s, int64(1700000000), int64(0))
	}
	f.Fuzz(func(t *testing.T, code string, unix, after int64) {
		v, err := ParseTOTPCode(code)
		digits := len(code) == 6
		for i := 0; i < len(code); i++ {
			if code[i] < '0' || code[i] > '9' {
				digits = false
			}
		}
		if (err == nil) != digits {
			t.Fatalf("ParseTOTPCode(%q) err=%v, six digits=%v", code, err, digits)
		}
		if err == nil && v > 999999 {
			t.Fatalf("value %d out of range", v)
		}
		// Keep times where time.Unix and the step arithmetic are defined.
		unix %= 1 << 40
		step, ok := VerifyTOTP(rfcSecret, code, time.Unix(unix, 0), after)
		if !ok {
			return
		}
		if !digits {
			t.Fatalf("VerifyTOTP accepted %q", code)
		}
		cur := TOTPStep(time.Unix(unix, 0))
		if step <= after || step < cur-TOTPSkew || step > cur+TOTPSkew || TOTPCodeAt(rfcSecret, step) != code {
			t.Fatalf("VerifyTOTP(%q, %d, after %d) = step %d", code, unix, after, step)
		}
	})
}
