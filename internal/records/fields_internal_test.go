package records

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFilterIdents(t *testing.T) {
	tests := []struct {
		src  string
		want []string
	}{
		{`secret == "x"`, []string{"secret"}},
		{`secret.startsWith("a")`, []string{"secret"}},
		{`auth.secret == null && auth . other == 1`, []string{"auth", "null", "auth"}},
		{`title == "secret" || title == 'sec\'ret' || title == """a "secret" """`, []string{"title", "title", "title"}},
		{`title == r"secret\" || title == b'x'`, []string{"title", "title"}}, // no escapes in raw strings
		{"a == 1 // secret\n|| b == 2.5e3", []string{"a", "b"}},
		{`"x" in tags && size(note) > 0`, []string{"in", "tags", "size", "note"}},
		{`{secret: 1}[title] == 1`, []string{"secret", "title"}},
		{`"unterminated secret`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, filterIdents(tc.src)); diff != "" {
				t.Fatalf("filterIdents (-want +got):\n%s", diff)
			}
		})
	}
}
