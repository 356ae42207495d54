package access

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"

	"github.com/keep-dev/keep/internal/store"
)

// vocabulary is every word the compiler may write into SQL text, apart
// from quoted identifiers. Anything else in generated SQL is a bug.
var vocabulary = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`SELECT value FROM AS l keep_list json_each IN NOT COALESCE WHERE
		FALSE TRUE AND OR IS NULL substr length instr starts_with right char_length strpos
		jsonb_exists jsonb_build_array CAST TEXT DOUBLE PRECISION ANY COLLATE
		json_array_length jsonb_array_length 1 0`) {
		m[w] = true
	}
	return m
}()

var (
	quotedIdent = regexp.MustCompile(`"(?:[^"]|"")*"`)
	relAlias    = regexp.MustCompile(`^keep_rel[1-9][0-9]*$`)
	sqlWord     = regexp.MustCompile(`[A-Za-z0-9_]+`)
	sqlPunct    = regexp.MustCompile(`^[\s()=<>!?,.+@\-\[\]]*$`)
)

// stripIdents removes quoted identifiers from SQL text.
func stripIdents(sql string) string { return quotedIdent.ReplaceAllString(sql, " ") }

// checkVocabulary verifies that SQL consists only of quoted column names of
// the sample schema (or the collation "C"), vocabulary words and
// punctuation.
func checkVocabulary(sql string) error {
	columns := map[string]bool{`"C"`: true, `"sample"`: true, `"sample_users"`: true}
	for _, f := range append(sampleSchema.Fields, usersSchema.Fields...) {
		columns[store.QuoteIdent(f.Column)] = true
	}
	for _, id := range quotedIdent.FindAllString(sql, -1) {
		if !columns[id] {
			return errors.New("unexpected identifier " + id)
		}
	}
	rest := stripIdents(sql)
	for _, w := range sqlWord.FindAllString(rest, -1) {
		if !vocabulary[w] && !relAlias.MatchString(w) {
			return errors.New("unexpected word " + w)
		}
	}
	if p := sqlWord.ReplaceAllString(rest, " "); !sqlPunct.MatchString(p) {
		return errors.New("unexpected characters in " + p)
	}
	return nil
}

// onlyVocabulary reports whether s could appear in SQL by coincidence: it is
// made only of vocabulary words and punctuation.
func onlyVocabulary(s string) bool {
	for _, w := range sqlWord.FindAllString(s, -1) {
		if !vocabulary[w] {
			return false
		}
	}
	return sqlPunct.MatchString(sqlWord.ReplaceAllString(s, " "))
}

// stringLiterals returns the string literals of src, or nil if it does not
// parse.
func stringLiterals(tb testing.TB, src string) []string {
	env, err := baseEnv()
	if err != nil {
		tb.Fatal(err)
	}
	parsed, iss := env.Parse(src)
	if iss.Err() != nil {
		return nil
	}
	var out []string
	celast.PreOrderVisit(parsed.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() == celast.LiteralKind {
			if s, ok := e.AsLiteral().(types.String); ok {
				out = append(out, string(s))
			}
		}
	}))
	return out
}

// FuzzCompile checks that Compile and Bind never panic, that errors are of
// the documented kinds, and that any SQL produced is valid on SQLite (it is
// run against the sample table, so functions see real data) and carries no
// value from the expression in its text.
func FuzzCompile(f *testing.F) {
	for _, tc := range exprCases {
		f.Add(tc.src)
	}
	for _, tc := range compileErrorCases {
		f.Add(tc.src)
	}
	for _, tc := range bindErrorCases {
		f.Add(tc.src)
	}
	e := newSQLite(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, src string) {
		for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
			p, err := Compile(src, sampleSchema, d, Limits{})
			if err != nil {
				var ce *CompileError
				if !errors.As(err, &ce) {
					t.Fatalf("Compile(%q) = %v, want a *CompileError", src, err)
				}
				if ce.Msg == "" {
					t.Fatalf("Compile(%q): empty message", src)
				}
				return
			}
			binds := []func() (string, []any, error){
				func() (string, []any, error) { return p.Bind(sampleUser) },
				func() (string, []any, error) { return p.Bind(anonymous) },
				func() (string, []any, error) { return p.BindRequest(sampleUser, sampleRequest) },
			}
			for _, bind := range binds {
				sql, args, err := bind()
				if err != nil {
					if !errors.Is(err, ErrBind) {
						t.Fatalf("Bind(%q) = %v, want ErrBind", src, err)
					}
					continue
				}
				if err := checkVocabulary(sql); err != nil {
					t.Fatalf("%s: SQL %s for %q: %v", d, sql, src, err)
				}
				for _, lit := range stringLiterals(t, src) {
					if len(lit) > 3 && strings.Contains(stripIdents(sql), lit) && !onlyVocabulary(lit) {
						t.Fatalf("%s: literal %q of %q appears in SQL %s", d, lit, src, sql)
					}
				}
				if n := strings.Count(stripIdents(sql), "?"); n != len(args) {
					t.Fatalf("%s: %d placeholders but %d args in %s", d, n, len(args), sql)
				}
				if d != store.SQLite {
					continue
				}
				// Every error is a failure: the sample data is valid, so
				// there is no runtime error (malformed JSON, say) that a
				// correct predicate could cause.
				var n int
				q := "SELECT count(*) FROM sample WHERE " + sql
				if err := e.db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
					t.Fatalf("%q: %s %v: %v", src, q, args, err)
				}
			}
		}
	})
}
