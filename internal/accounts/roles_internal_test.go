package accounts

import (
	"encoding/json"
	"slices"
	"testing"
	"unicode/utf8"
)

// FuzzPlainRoles: the shortcut decodes what it accepts exactly as
// encoding/json does, and accepts what both engines produce.
func FuzzPlainRoles(f *testing.F) {
	for _, s := range []string{`[]`, `["superuser"]`, `["a","b"]`, `["a", "b"]`, `[ "a" , "é" ]`,
		`["a\"b"]`, `["a",]`, `[,"a"]`, `["a""b"]`, `["a"`, `[1]`, `[null]`, "[\"\x01\"]", `[ ]`, `["a"]x`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, ok := plainRoles(raw)
		if !ok || !utf8.ValidString(raw) {
			return // encoding/json decodes it, or replaces what is not UTF-8
		}
		var want []string
		if err := json.Unmarshal([]byte(raw), &want); err != nil {
			t.Fatalf("plainRoles(%q) = %q, but encoding/json refuses it: %v", raw, got, err)
		}
		if !slices.Equal(want, got) {
			t.Fatalf("plainRoles(%q) = %q, encoding/json %q", raw, got, want)
		}
	})
}

func TestPlainRolesTakesEngineOutput(t *testing.T) {
	for _, raw := range []string{`[]`, `["superuser"]`, `["a","b"]`, `["a", "b"]`, `["b,c", "éclair"]`} {
		if _, ok := plainRoles(raw); !ok {
			t.Errorf("plainRoles(%q) declined", raw)
		}
	}
	for _, raw := range []string{`["a\"b"]`, "[\"\x01\"]", `["a",]`, `[1]`, `{}`} {
		if _, ok := plainRoles(raw); ok {
			t.Errorf("plainRoles(%q) accepted", raw)
		}
	}
}
