package access

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keep-dev/keep/internal/store"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// formatArgs prints arguments with their Go types, since binding a number as
// text (or a time as a string on PostgreSQL) is exactly the kind of mistake
// the golden files are there to show.
func formatArgs(args []any) string {
	parts := make([]string, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case time.Time:
			parts[i] = "time(" + v.UTC().Format(time.RFC3339Nano) + ")"
		case string:
			parts[i] = fmt.Sprintf("string(%q)", v)
		default:
			parts[i] = fmt.Sprintf("%T(%v)", v, v)
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/access -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got); run with -update if the change is intended:\n%s", path, diff)
	}
}

// TestGoldenSQL records the SQL and arguments of every expression case for
// both dialects, for the user and, where a case checks it, the anonymous
// caller.
func TestGoldenSQL(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			var out strings.Builder
			for _, tc := range exprCases {
				p, err := Compile(tc.src, sampleSchema, d, Limits{})
				if err != nil {
					t.Fatalf("%s: Compile(%q): %v", tc.name, tc.src, err)
				}
				fmt.Fprintf(&out, "## %s\nsrc:  %s\n", tc.name, tc.src)
				if tc.req != nil {
					fmt.Fprintf(&out, "req:  sampleRequest (%s)\n", tc.req.Method)
				}
				callers := []struct {
					label string
					auth  Auth
				}{{"user", sampleUser}}
				if tc.anon != nil {
					callers = append(callers, struct {
						label string
						auth  Auth
					}{"anon", anonymous})
				}
				for _, c := range callers {
					sql, args, err := tc.bind(p, c.auth)
					if err != nil {
						t.Fatalf("%s: Bind(%s): %v", tc.name, c.label, err)
					}
					fmt.Fprintf(&out, "%s: %s\n      %s\n", c.label, sql, formatArgs(args))
				}
				out.WriteString("\n")
			}
			checkGolden(t, string(d)+".golden", out.String())
		})
	}
}

// TestGoldenErrors records the message of every compile error, so a change
// in wording (which API clients see) shows up in review.
func TestGoldenErrors(t *testing.T) {
	var out strings.Builder
	for _, tc := range compileErrorCases {
		_, err := Compile(tc.src, sampleSchema, store.SQLite, Limits{})
		var ce *CompileError
		if !errors.As(err, &ce) {
			t.Errorf("%s: Compile(%q) = %v, want a *CompileError", tc.name, tc.src, err)
			continue
		}
		// The PostgreSQL compiler must reject the same expressions.
		if _, err := Compile(tc.src, sampleSchema, store.Postgres, Limits{}); !errors.As(err, &ce) {
			t.Errorf("%s: Compile(%q) for postgres = %v, want a *CompileError", tc.name, tc.src, err)
		}
		src := tc.src
		if len(src) > 80 {
			src = src[:60] + fmt.Sprintf("… (%d bytes)", len(src))
		}
		fmt.Fprintf(&out, "%-24s %s\n%-24s => %s\n", tc.name, src, "", ce.Msg)
	}
	for _, tc := range bindErrorCases {
		p, err := Compile(tc.src, sampleSchema, store.SQLite, Limits{})
		if err != nil {
			t.Errorf("%s: Compile(%q): %v", tc.name, tc.src, err)
			continue
		}
		_, _, err = p.Bind(tc.auth)
		if !errors.Is(err, ErrBind) {
			t.Errorf("%s: Bind = %v, want ErrBind", tc.name, err)
			continue
		}
		fmt.Fprintf(&out, "bind:%-19s %s\n%-24s => %s\n", tc.name, tc.src, "", err)
	}
	checkGolden(t, "errors.golden", out.String())
}

// TestNoValuesInSQL checks the central invariant on every case: a string
// literal of the expression is never part of the SQL text.
func TestNoValuesInSQL(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		for _, tc := range exprCases {
			p, err := Compile(tc.src, sampleSchema, d, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			sql, _, err := tc.bind(p, sampleUser)
			if err != nil {
				t.Fatal(err)
			}
			for _, lit := range stringLiterals(t, tc.src) {
				if len(lit) > 3 && strings.Contains(stripIdents(sql), lit) && !vocabulary[lit] {
					t.Errorf("%s/%s: literal %q appears in SQL %s", d, tc.name, lit, sql)
				}
			}
			if !strings.HasPrefix(sql, "(") || !strings.HasSuffix(sql, ")") {
				t.Errorf("%s/%s: SQL %s is not parenthesised", d, tc.name, sql)
			}
		}
	}
	p, err := Compile(`title == "x' OR 1=1 --"`, sampleSchema, store.SQLite, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	sql, args, err := p.Bind(sampleUser)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sql, "OR 1=1") || strings.Contains(sql, "'") {
		t.Errorf("injection attempt reached the SQL text: %s", sql)
	}
	if diff := cmp.Diff([]any{"x' OR 1=1 --"}, args); diff != "" {
		t.Errorf("injection attempt args (-want +got):\n%s", diff)
	}
}
