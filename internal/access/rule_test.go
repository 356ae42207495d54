package access

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keep-dev/keep/internal/store"
)

func TestRuleJSON(t *testing.T) {
	tests := []struct {
		name string
		json string
		want Rule
		back string // marshalled form; "" means same as json
	}{
		{name: "null", json: `null`, want: Rule{Kind: RuleLocked}},
		{name: "public", json: `"true"`, want: Rule{Kind: RulePublic}},
		{name: "expr", json: `"owner == auth.id"`, want: Rule{Kind: RuleExpr, Expr: "owner == auth.id"}},
		{name: "expr_escaped", json: `"title == \"a\\\"b\""`, want: Rule{Kind: RuleExpr, Expr: `title == "a\"b"`}},
		{name: "padded_true_is_expr", json: `" true"`, want: Rule{Kind: RuleExpr, Expr: " true"}},
		{name: "expr_false", json: `"false"`, want: Rule{Kind: RuleExpr, Expr: "false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Rule
			if err := json.Unmarshal([]byte(tt.json), &r); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, r); diff != "" {
				t.Errorf("Unmarshal (-want +got):\n%s", diff)
			}
			out, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			back := tt.back
			if back == "" {
				back = tt.json
			}
			if string(out) != back {
				t.Errorf("Marshal = %s, want %s", out, back)
			}
		})
	}
}

func TestRuleJSONRejects(t *testing.T) {
	for _, in := range []string{`""`, `"   "`, `true`, `false`, `1`, `{}`, `[]`, `["true"]`, `{"expr": "x"}`} {
		var r Rule
		err := json.Unmarshal([]byte(in), &r)
		if err == nil {
			t.Errorf("Unmarshal(%s) = %+v, want an error", in, r)
			continue
		}
		if strings.TrimSpace(strings.Trim(in, `"`)) == "" && !strings.Contains(err.Error(), `use null for superusers only or "true" for everyone`) {
			t.Errorf("Unmarshal(%s) error %q does not explain null and \"true\"", in, err)
		}
	}
	if _, err := json.Marshal(Rule{Kind: RuleExpr}); err == nil {
		t.Error("Marshal(empty expr rule) succeeded")
	}
	if _, err := json.Marshal(Rule{Kind: RuleKind(7)}); err == nil {
		t.Error("Marshal(unknown kind) succeeded")
	}
}

func TestRulesJSON(t *testing.T) {
	in := `{"list":"true","view":"owner == auth.id","create":null,"delete":"auth.id != \"\""}`
	var rs Rules
	if err := json.Unmarshal([]byte(in), &rs); err != nil {
		t.Fatal(err)
	}
	want := Rules{
		List:   Rule{Kind: RulePublic},
		View:   Rule{Kind: RuleExpr, Expr: "owner == auth.id"},
		Delete: Rule{Kind: RuleExpr, Expr: `auth.id != ""`},
	}
	if diff := cmp.Diff(want, rs); diff != "" {
		t.Errorf("Unmarshal (-want +got):\n%s", diff)
	}
	out, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	const back = `{"list":"true","view":"owner == auth.id","create":null,"update":null,"delete":"auth.id != \"\""}`
	if string(out) != back {
		t.Errorf("Marshal = %s\nwant      %s", out, back)
	}
	// A null over an existing value locks it again.
	rs2 := Rules{List: Rule{Kind: RulePublic}}
	if err := json.Unmarshal([]byte(`{"list":null}`), &rs2); err != nil {
		t.Fatal(err)
	}
	if rs2.List.Kind != RuleLocked {
		t.Errorf("null left list rule %v", rs2.List)
	}
}

func TestRuleCompile(t *testing.T) {
	for _, r := range []Rule{{Kind: RuleLocked}, {Kind: RulePublic}} {
		c, err := r.Compile(sampleSchema, store.SQLite, Limits{})
		if err != nil || c.Kind != r.Kind || c.Pred != nil {
			t.Errorf("Compile(%v) = %+v, %v", r, c, err)
		}
	}
	c, err := Rule{Kind: RuleExpr, Expr: "owner == auth.id"}.Compile(sampleSchema, store.SQLite, Limits{})
	if err != nil || c.Kind != RuleExpr || c.Pred == nil || c.Pred.Source() != "owner == auth.id" {
		t.Errorf("Compile(expr) = %+v, %v", c, err)
	}
	if _, err := (Rule{Kind: RuleExpr, Expr: "titel == 1"}).Compile(sampleSchema, store.SQLite, Limits{}); err == nil {
		t.Error("Compile(bad expr) succeeded")
	}
}

func TestIsReservedName(t *testing.T) {
	for _, n := range []string{"true", "null", "in", "while", "auth", "request", "id", "created", "updated", "expand", "ID", "Auth"} {
		if !IsReservedName(n) {
			t.Errorf("IsReservedName(%q) = false", n)
		}
	}
	for _, n := range []string{"title", "owner", "identity", "authors", "size", "int"} {
		if IsReservedName(n) {
			t.Errorf("IsReservedName(%q) = true", n)
		}
	}
}

func TestSchemaValidation(t *testing.T) {
	bad := []Schema{
		{Fields: []Field{{Name: "auth", Column: "auth", Kind: KindText}}},
		{Fields: []Field{{Name: "a b", Column: "a", Kind: KindText}}},
		{Fields: []Field{{Name: "a", Column: `a"; DROP TABLE x; --`, Kind: KindText}}},
		{Fields: []Field{{Name: "a", Column: "a", Kind: KindText}, {Name: "a", Column: "b", Kind: KindText}}},
		{Fields: []Field{{Name: "a", Column: "a", Kind: FieldKind(42)}}},
	}
	for _, s := range bad {
		if _, err := Compile("true", s, store.SQLite, Limits{}); err == nil {
			t.Errorf("Compile with schema %+v succeeded", s)
		}
	}
	if _, err := Compile("true", sampleSchema, store.Dialect("mysql"), Limits{}); err == nil {
		t.Error("Compile for an unknown dialect succeeded")
	}
}

func TestLimits(t *testing.T) {
	src := `title == "` + strings.Repeat("a", 90) + `"`
	if _, err := Compile(src, sampleSchema, store.SQLite, Limits{MaxLength: 50}); err == nil || !strings.Contains(err.Error(), "longer than 50 bytes") {
		t.Errorf("MaxLength: %v", err)
	}
	deep := `auth.a.b.c.d.e.f.g == 1`
	if _, err := Compile(deep, sampleSchema, store.SQLite, Limits{MaxDepth: 5}); err == nil || !strings.Contains(err.Error(), "deeper than 5") {
		t.Errorf("MaxDepth: %v", err)
	}
	if _, err := Compile(deep, sampleSchema, store.SQLite, Limits{}); err != nil {
		t.Errorf("default limits: %v", err)
	}
}
