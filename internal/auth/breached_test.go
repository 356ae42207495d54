package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// commonPasswordsSHA256 is the checksum of data/common-passwords.txt that
// data/README.md records, so that an edit to the list cannot slip in without
// the README (and its provenance) being updated with it.
const commonPasswordsSHA256 = "9fdcd35a4c377bb834c28f08b967c6a632a2a574c8930d2f05531642deda8aae"

func TestCommonPasswordsData(t *testing.T) {
	sum := sha256.Sum256([]byte(commonPasswordsText))
	if got := hex.EncodeToString(sum[:]); got != commonPasswordsSHA256 {
		t.Fatalf("data/common-passwords.txt sha256 = %s, want %s; update data/README.md (source, checksum) and this test together", got, commonPasswordsSHA256)
	}

	list := commonPasswords()
	if len(list) < 10_000 {
		t.Fatalf("list has %d distinct passwords (ignoring case), want at least 10,000", len(list))
	}
	if !slices.IsSorted(list) {
		t.Fatal("list is not sorted, so binary search would miss entries")
	}
	for i, pw := range list {
		if i > 0 && list[i-1] == pw {
			t.Fatalf("duplicate entry %q", pw)
		}
		if pw != foldPassword(pw) {
			t.Fatalf("entry %q is not folded", pw)
		}
		if pw == "" || !utf8.ValidString(pw) || utf8.RuneCountInString(pw) > MaxPasswordLen {
			t.Fatalf("entry %q could never be a password", pw)
		}
	}

	// Every line of the file, as written and in upper case, is found.
	for line := range strings.Lines(commonPasswordsText) {
		line = strings.TrimSuffix(line, "\n")
		if !isCommonPassword(line) || !isCommonPassword(strings.ToUpper(line)) {
			t.Fatalf("line %q of the data is not found", line)
		}
	}
}

func TestValidatePasswordCommon(t *testing.T) {
	tests := []struct {
		name string
		pw   string
		min  int
	}{
		{"password", "password", 0},
		{"digits", "12345678", 0},
		{"digits 9", "123456789", 0},
		{"keyboard walk", "qwertyuiop", 0},
		{"phrase", "iloveyou", 0},
		{"letters and digits", "trustno1", 0},
		{"upper case", "PASSWORD", 0},
		{"capitalised", "Password1", 0},
		{"mixed case", "FooTBalL", 0},
		{"repeated", "aaaaaaaa", 0},
		// Short common passwords are refused as common when a (configured)
		// minimum lets them through the length check.
		{"123456 with min 6", "123456", 6},
		{"qwerty with min 6", "qwerty", 6},
		{"abc123 with min 6", "abc123", 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidatePassword(tt.pw, tt.min)
			if !errors.Is(err, ErrPasswordCommon) {
				t.Fatalf("ValidatePassword(%q) = %v, want ErrPasswordCommon", tt.pw, err)
			}
			var pe *PasswordError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *PasswordError", err)
			}
			// A fixed message, so it cannot echo the password.
			if got, want := err.Error(), "this password is too common; choose another"; got != want {
				t.Fatalf("message = %q, want %q", got, want)
			}
		})
	}
}

// TestValidatePasswordUncommon includes the passwords the rest of the
// codebase's tests use: if one of them were on the list those tests would
// fail far from the cause.
func TestValidatePasswordUncommon(t *testing.T) {
	for _, pw := range []string{
		"correct horse battery",
		"correct horse battery staple",
		"admin password 1",
		"pass for alice 123",
		"another good one",
		"a fine password",
		"a long passphrase",
		"password-alice@example.com",
		"another password",
		"another-password",
		"long enough pw",
		"whatever pw",
		"wrong password",
		"mxyzptlk",
		"пароль12",
		"🔑🔑🔑🔑🔑🔑🔑🔑",
		"password ", // a common word plus one character is not the common word
	} {
		if err := ValidatePassword(pw, 0); err != nil {
			t.Errorf("ValidatePassword(%q) = %v, want nil", pw, err)
		}
	}
}

func TestParseCommonPasswords(t *testing.T) {
	text := "Password\r\npassword\n\nqwerty\n\xff\xfe\n" + strings.Repeat("x", MaxPasswordLen+1) + "\n" +
		strings.Repeat("密", MaxPasswordLen) + "\nABC123\nabc123\nlast-without-newline"
	got := parseCommonPasswords(text)
	want := []string{"abc123", "last-without-newline", "password", "qwerty", strings.Repeat("密", MaxPasswordLen)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("parseCommonPasswords (-want +got):\n%s", diff)
	}
	if got := parseCommonPasswords(""); len(got) != 0 {
		t.Fatalf("parseCommonPasswords(\"\") = %q, want empty", got)
	}
}

// TestCommonPasswordsConcurrent has many goroutines race to the first use of
// the list; run with -race.
func TestCommonPasswordsConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if !isCommonPassword("letmein") || isCommonPassword("a fine password") {
				t.Error("wrong answer under concurrency")
			}
		})
	}
	wg.Wait()
}

func BenchmarkIsCommonPassword(b *testing.B) {
	commonPasswords() // load outside the timing
	for _, bc := range []struct{ name, pw string }{
		{"hit", "iloveyou"},
		{"miss", "correct horse battery staple"},
		{"upper case", "CORRECT HORSE BATTERY STAPLE"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				isCommonPassword(bc.pw)
			}
		})
	}
}

// BenchmarkParseCommonPasswords measures the one-time cost of loading the
// list: time and heap per process.
func BenchmarkParseCommonPasswords(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		parseCommonPasswords(commonPasswordsText)
	}
}
