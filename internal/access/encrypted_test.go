package access

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/keep-dev/keep/internal/store"
)

// encSchema has a searchable encrypted text and number, a non-searchable
// encrypted text and json, and a plain field. Blind marks the value so
// tests can see it was applied.
func encSchema() Schema {
	blind := func(v any) (string, error) { return fmt.Sprintf("H(%v)", v), nil }
	return Schema{Table: "c_p", Fields: []Field{
		{Name: "id", Column: "id", Kind: KindText},
		{Name: "name", Column: "name", Kind: KindText},
		{Name: "ssn", Column: "ssn", Kind: KindText, Encrypted: true, BlindColumn: "_bi_f1", Blind: blind},
		{Name: "score", Column: "score", Kind: KindNumber, Encrypted: true, BlindColumn: "_bi_f2", Blind: blind},
		{Name: "note", Column: "note", Kind: KindText, Encrypted: true},
		{Name: "doc", Column: "doc", Kind: KindJSON, Encrypted: true},
	}}
}

// TestEncryptedFieldCompile: == and != on searchable encrypted fields
// compare the blind-index column with a bound HMAC (never the value, never
// spliced); null tests read the ciphertext column; everything else that
// names an encrypted field is a CompileError.
func TestEncryptedFieldCompile(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		for _, tc := range []struct {
			src, sql string
			args     []any
		}{
			{`ssn == "123"`, `("_bi_f1" = ?)`, []any{"H(123)"}},
			{`"123" != ssn`, `("_bi_f1" <> ?)`, []any{"H(123)"}},
			{`score == 7`, `("_bi_f2" = ?)`, []any{"H(7)"}},
			{`ssn == auth.id`, `("_bi_f1" = ?)`, []any{"H(u1)"}},
			{`note == null && doc != null`, `"note" IS NULL AND "doc" IS NOT NULL`, nil},
			{`ssn == "a" || name == "b"`, `"_bi_f1" = ? OR "name" = ?`, []any{"H(a)", "b"}},
		} {
			t.Run(string(d)+"/"+tc.src, func(t *testing.T) {
				p, err := Compile(tc.src, encSchema(), d, Limits{})
				if err != nil {
					t.Fatal(err)
				}
				sql, args, err := p.Bind(Auth{ID: "u1"})
				if err != nil {
					t.Fatal(err)
				}
				if want := "(" + strings.Trim(tc.sql, "()") + ")"; sql != want {
					t.Errorf("sql %s, want %s", sql, want)
				}
				if fmt.Sprint(args) != fmt.Sprint(tc.args) {
					t.Errorf("args %v, want %v", args, tc.args)
				}
			})
		}
		for _, src := range []string{
			`ssn > "1"`, `score <= 3`, `note == "x"`, `ssn == name`, `ssn.startsWith("1")`, `name.contains(ssn)`,
			`size(ssn) > 1`, `ssn in ["a"]`, `ssn in auth.roles`, `doc == "x"`, `score < auth.n`,
		} {
			t.Run(string(d)+"/refused/"+src, func(t *testing.T) {
				_, err := Compile(src, encSchema(), d, Limits{})
				var ce *CompileError
				if !errors.As(err, &ce) {
					t.Fatalf("Compile(%s) = %v, want a CompileError", src, err)
				}
			})
		}
	}
	bad := encSchema()
	bad.Fields[1].BlindColumn = "_bi_x" // a blind index on a plain field
	if _, err := Compile(`name == "a"`, bad, store.SQLite, Limits{}); err == nil {
		t.Fatal("a blind index on a plain field was accepted")
	}
}
