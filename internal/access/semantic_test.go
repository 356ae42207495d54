package access

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keep-dev/keep/internal/store"
)

// TestSemantics runs every expression case against real engines and checks
// the exact set of matching rows: SQLite always, PostgreSQL when
// KEEP_TEST_POSTGRES_URL is set.
func TestSemantics(t *testing.T) {
	engines := map[store.Dialect]func(testing.TB) *engine{
		store.SQLite:   newSQLite,
		store.Postgres: newPostgres,
	}
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			e := engines[d](t)
			ctx := context.Background()
			for _, tc := range exprCases {
				t.Run(tc.name, func(t *testing.T) {
					p, err := Compile(tc.src, sampleSchema, d, Limits{})
					if err != nil {
						t.Fatalf("Compile(%q): %v", tc.src, err)
					}
					check := func(label string, a Auth, want []string) {
						sql, args, err := tc.bind(p, a)
						if err != nil {
							t.Fatalf("Bind(%s): %v", label, err)
						}
						got, err := e.ids(ctx, sql, args)
						if err != nil {
							t.Fatalf("%s: %v", label, err)
						}
						if diff := cmp.Diff(want, got); diff != "" {
							t.Errorf("%s: %s\nSQL %s %v\nmatched rows (-want +got):\n%s", label, tc.src, sql, args, diff)
						}
					}
					check("user", sampleUser, tc.want)
					if tc.anon != nil {
						check("anonymous", anonymous, tc.anon)
					}
				})
			}
			t.Run("bind_errors", func(t *testing.T) {
				for _, tc := range bindErrorCases {
					p, err := Compile(tc.src, sampleSchema, d, Limits{})
					if err != nil {
						t.Fatalf("%s: Compile(%q): %v", tc.name, tc.src, err)
					}
					if sql, args, err := p.Bind(tc.auth); !errors.Is(err, ErrBind) {
						t.Errorf("%s: Bind = %q %v, %v; want ErrBind", tc.name, sql, args, err)
					}
				}
			})
		})
	}
}

// TestAnonymousOwner pins the rule for anonymous callers: auth.id is "" in
// expressions, but against a column it matches nothing, neither NULL nor a
// real id nor an empty string.
func TestAnonymousOwner(t *testing.T) {
	e := newSQLite(t)
	p, err := Compile(`owner == auth.id`, sampleSchema, store.SQLite, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	sql, args, err := p.Bind(anonymous)
	if err != nil {
		t.Fatal(err)
	}
	if sql != "(1=0)" || len(args) != 0 {
		t.Errorf("Bind(anonymous) = %s %v, want (1=0)", sql, args)
	}
	got, err := e.ids(context.Background(), sql, args)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("anonymous caller matched %v", got)
	}
}

// TestConcurrentBind binds one predicate from many goroutines; run with
// -race it checks that a Predicate is safe for concurrent use.
func TestConcurrentBind(t *testing.T) {
	p, err := Compile(`"editor" in auth.roles || owner == auth.id || owner in auth.teams`, sampleSchema, store.Postgres, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	for i := range 8 {
		go func() {
			a := sampleUser
			if i%2 == 0 {
				a = Auth{ID: "u9", Fields: map[string]any{"teams": []string{"t"}}}
			}
			for range 100 {
				if _, _, err := p.Bind(a); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestBindFieldTypes feeds custom auth fields of types the CEL adapter may
// not know: Bind must answer or fail with ErrBind, never panic.
func TestBindFieldTypes(t *testing.T) {
	p, err := Compile(`owner == auth.x || views > auth.x || owner in auth.x`, sampleSchema, store.SQLite, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{struct{ A int }{1}, int32(3), uint8(2), []int{1}, map[string]string{"a": "b"}, []byte("ab"), func() {}, make(chan int), nil, 1.5} {
		_, _, err := p.Bind(Auth{ID: "u", Fields: map[string]any{"x": v}})
		if err != nil && !errors.Is(err, ErrBind) {
			t.Errorf("Bind with auth.x = %T: %v, want nil or ErrBind", v, err)
		}
	}
}

// TestCombinations checks the logic operators on real engines: in Keep's
// semantics every predicate either matches a row or not (NULL counts as
// no match), so for cases A and B, A && B must match the intersection of
// their rows, A || B the union and !A the complement. Random combinations
// of the expression cases are checked against that set algebra.
func TestCombinations(t *testing.T) {
	type combo struct {
		src  string
		want map[string]bool
	}
	set := func(ids []string) map[string]bool {
		m := map[string]bool{}
		for _, id := range ids {
			m[id] = true
		}
		return m
	}
	// Combinations are bound with sampleRequest, so cases that expect
	// another request are left out.
	var cases []exprCase
	for _, tc := range exprCases {
		if tc.req == &sampleRequest || !strings.Contains(tc.src, "request.") {
			cases = append(cases, tc)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2)) // fixed seed: failures reproduce
	var gen func(depth int) combo
	gen = func(depth int) combo {
		if depth == 0 || rng.IntN(3) == 0 {
			tc := cases[rng.IntN(len(cases))]
			return combo{"(" + tc.src + ")", set(tc.want)}
		}
		switch rng.IntN(3) {
		case 0:
			a := gen(depth - 1)
			out := map[string]bool{}
			for _, id := range all {
				if !a.want[id] {
					out[id] = true
				}
			}
			return combo{"!" + a.src, out}
		case 1:
			a, b := gen(depth-1), gen(depth-1)
			out := map[string]bool{}
			for id := range a.want {
				if b.want[id] {
					out[id] = true
				}
			}
			return combo{"(" + a.src + " && " + b.src + ")", out}
		default:
			a, b := gen(depth-1), gen(depth-1)
			out := map[string]bool{}
			for id := range a.want {
				out[id] = true
			}
			for id := range b.want {
				out[id] = true
			}
			return combo{"(" + a.src + " || " + b.src + ")", out}
		}
	}
	var combos []combo
	for len(combos) < 300 {
		c := gen(3)
		if len(c.src) <= DefaultMaxLength {
			combos = append(combos, c)
		}
	}
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			e := map[store.Dialect]func(testing.TB) *engine{store.SQLite: newSQLite, store.Postgres: newPostgres}[d](t)
			for _, c := range combos {
				p, err := Compile(c.src, sampleSchema, d, Limits{MaxDepth: 64})
				if err != nil {
					t.Fatalf("Compile(%q): %v", c.src, err)
				}
				sql, args, err := p.BindRequest(sampleUser, sampleRequest)
				if err != nil {
					t.Fatalf("Bind(%q): %v", c.src, err)
				}
				got, err := e.ids(context.Background(), sql, args)
				if err != nil {
					t.Fatal(err)
				}
				want := []string{}
				for _, id := range all {
					if c.want[id] {
						want = append(want, id)
					}
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s\nSQL %s\n(-want +got):\n%s", c.src, sql, diff)
				}
			}
		})
	}
}
