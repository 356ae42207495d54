package access

import (
	"errors"
	"strings"
	"testing"

	"github.com/keep-dev/keep/internal/store"
)

func TestListTestsAreCapped(t *testing.T) {
	terms := make([]string, MaxListTests+1)
	for i := range terms {
		terms[i] = `"x" in tags`
	}
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		if _, err := Compile(strings.Join(terms[:MaxListTests], " || "), sampleSchema, d, Limits{}); err != nil {
			t.Fatalf("%s: %d list tests refused: %v", d, MaxListTests, err)
		}
		_, err := Compile(strings.Join(terms, " || "), sampleSchema, d, Limits{})
		var ce *CompileError
		if !errors.As(err, &ce) || !strings.Contains(ce.Msg, "membership tests") {
			t.Fatalf("%s: want a compile error for %d list tests, got %v", d, len(terms), err)
		}
	}
}

func TestNULInStringsIsABindError(t *testing.T) {
	for _, src := range []string{`title == "a\u0000b"`, `title.startsWith("\x00")`, `"\u0000" in tags`, `owner == auth.id`} {
		p, err := Compile(src, sampleSchema, store.Postgres, Limits{})
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		_, _, err = p.Bind(Auth{ID: "u\x00"})
		if !errors.Is(err, ErrBind) {
			t.Fatalf("%s: want ErrBind, got %v", src, err)
		}
	}
}

func TestEngineColumnNamesAreReserved(t *testing.T) {
	for _, n := range []string{"xmin", "ctid", "tableoid", "oid", "rowid", "_rowid_", "ID"} {
		if !IsReservedName(n) {
			t.Errorf("%s not reserved", n)
		}
	}
}
