package access

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keep-dev/keep/internal/store"
)

func TestTraversals(t *testing.T) {
	tests := []struct {
		src  string
		want []Traversal
	}{
		{`owner == auth.id`, nil},
		{`owner.id == auth.id`, nil},
		{`owner.team == auth.team && (editor.team == "a" || owner.team == "b" || owner.rank > 1)`, []Traversal{
			{Relation: "editor", Table: "sample_users", Field: "team", Column: "team"},
			{Relation: "owner", Table: "sample_users", Field: "rank", Column: "rank_value"},
			{Relation: "owner", Table: "sample_users", Field: "team", Column: "team"},
		}},
	}
	for _, tc := range tests {
		p, err := Compile(tc.src, sampleSchema, store.SQLite, Limits{})
		if err != nil {
			t.Fatalf("Compile(%q): %v", tc.src, err)
		}
		if diff := cmp.Diff(tc.want, p.Traversals()); diff != "" {
			t.Errorf("Traversals(%q) (-want +got):\n%s", tc.src, diff)
		}
	}
}

func TestReadsRequest(t *testing.T) {
	for src, want := range map[string]bool{
		`owner == auth.id`:                      false,
		`owner.team == auth.team`:               false,
		`request.method == "GET"`:               true,
		`has(request.body.status) || public`:    true,
		`title == request.body.title`:           true,
		`"editor" in auth.roles && has(auth.x)`: false,
	} {
		p, err := Compile(src, sampleSchema, store.Postgres, Limits{})
		if err != nil {
			t.Fatalf("Compile(%q): %v", src, err)
		}
		if got := p.ReadsRequest(); got != want {
			t.Errorf("ReadsRequest(%q) = %v, want %v", src, got, want)
		}
	}
}

// TestBindIsEmptyRequest pins Bind(a) to BindRequest(a, Request{}), and a
// nil body to an empty one.
func TestBindIsEmptyRequest(t *testing.T) {
	p, err := Compile(`!has(request.body.status) && request.method == "" && owner == auth.id`, sampleSchema, store.SQLite, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	sql, args, err := p.Bind(sampleUser)
	if err != nil {
		t.Fatal(err)
	}
	sql2, args2, err := p.BindRequest(sampleUser, Request{})
	if err != nil {
		t.Fatal(err)
	}
	if sql != sql2 || !cmp.Equal(args, args2) || sql != `("owner" = ?)` {
		t.Errorf("Bind = %s %v, BindRequest(empty) = %s %v", sql, args, sql2, args2)
	}
}

// TestTraversalSchemaErrors: a schema that cannot support a traversal is
// the caller's bug, a plain error rather than a *CompileError.
func TestTraversalSchemaErrors(t *testing.T) {
	users := func(table string, fields ...Field) *Schema { return &Schema{Table: table, Fields: fields} }
	id := Field{Name: "id", Column: "id", Kind: KindText}
	team := Field{Name: "team", Column: "team", Kind: KindText}
	tests := []struct {
		name   string
		schema Schema
	}{
		{"no_outer_table", Schema{Fields: []Field{id, {Name: "owner", Column: "owner", Target: users("u", id, team)}}}},
		{"no_target_table", Schema{Table: "p", Fields: []Field{id, {Name: "owner", Column: "owner", Target: users("", id, team)}}}},
		{"target_without_id", Schema{Table: "p", Fields: []Field{id, {Name: "owner", Column: "owner", Target: users("u", team)}}}},
		{"bad_target_column", Schema{Table: "p", Fields: []Field{id, {Name: "owner", Column: "owner", Target: users("u", id, Field{Name: "team", Column: "a b"})}}}},
		{"reserved_outer_table", Schema{Table: "keep_rel1", Fields: []Field{id, {Name: "owner", Column: "owner", Target: users("u", id, team)}}}},
		{"reserved_target_table", Schema{Table: "p", Fields: []Field{id, {Name: "owner", Column: "owner", Target: users("KEEP_x", id, team)}}}},
		{"bad_outer_table", Schema{Table: `p"; --`, Fields: []Field{id, {Name: "owner", Column: "owner", Target: users("u", id, team)}}}},
		{"target_on_number", Schema{Table: "p", Fields: []Field{id, {Name: "owner", Column: "owner", Kind: KindNumber, Target: users("u", id, team)}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(`owner.team == "a"`, tc.schema, store.SQLite, Limits{})
			var ce *CompileError
			if err == nil || errors.As(err, &ce) {
				t.Errorf("Compile = %v, want a plain error", err)
			}
		})
	}
}

// TestCyclicSchemas: records may build schemas that point at each other;
// Compile must neither recurse into them nor traverse a second level.
func TestCyclicSchemas(t *testing.T) {
	posts := &Schema{Table: "c_posts"}
	users := &Schema{Table: "c_users"}
	posts.Fields = []Field{{Name: "id", Column: "id"}, {Name: "owner", Column: "owner", Target: users}}
	users.Fields = []Field{{Name: "id", Column: "id"}, {Name: "team", Column: "team"}, {Name: "pinned", Column: "pinned", Target: posts}}
	p, err := Compile(`owner.team == auth.team`, *posts, store.SQLite, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	sql, args, err := p.Bind(Auth{ID: "u1", Fields: map[string]any{"team": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	const want = `("c_posts"."owner" IN (SELECT keep_rel1."id" FROM "c_users" AS keep_rel1 WHERE keep_rel1."team" = ?))`
	if sql != want || !cmp.Equal(args, []any{"a"}) {
		t.Errorf("Bind = %s %v, want %s [a]", sql, args, want)
	}
	_, err = Compile(`owner.pinned.owner == auth.id`, *posts, store.SQLite, Limits{})
	var ce *CompileError
	if !errors.As(err, &ce) {
		t.Errorf("two levels: Compile = %v, want a *CompileError", err)
	}
}

// TestConcurrentBindRequest is TestConcurrentBind for request values.
func TestConcurrentBindRequest(t *testing.T) {
	p, err := Compile(`(!has(request.body.status) || "editor" in auth.roles) && owner.team == auth.team`, sampleSchema, store.Postgres, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	for i := range 8 {
		go func() {
			r := Request{Method: "PATCH", Body: map[string]any{"status": "x"}}
			if i%2 == 0 {
				r = Request{Method: "POST"}
			}
			for range 100 {
				if _, _, err := p.BindRequest(sampleUser, r); err != nil {
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
