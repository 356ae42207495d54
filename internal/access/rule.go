package access

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/keep-dev/keep/internal/store"
)

// RuleKind says who a rule lets through.
type RuleKind int

// The kinds of rules. The zero value is the most restrictive, so a rule that
// was never set locks the operation.
const (
	// RuleLocked allows superusers only.
	RuleLocked RuleKind = iota
	// RulePublic allows everyone, including anonymous callers.
	RulePublic
	// RuleExpr allows callers for whom the expression holds.
	RuleExpr
)

// String returns the kind's name for logs and errors.
func (k RuleKind) String() string {
	switch k {
	case RuleLocked:
		return "locked"
	case RulePublic:
		return "public"
	case RuleExpr:
		return "expr"
	}
	return fmt.Sprintf("RuleKind(%d)", int(k))
}

// Rule is one access rule of a collection. The zero value is RuleLocked.
//
// In JSON a rule is null (or absent) for Locked, the string "true" for
// Public and any other non-empty string for Expr. The empty string is
// rejected rather than given a meaning, because in other systems it has
// meant "public" and a rule must never open up by accident.
type Rule struct {
	Kind RuleKind
	// Expr is the CEL expression when Kind is RuleExpr; otherwise ignored.
	Expr string
}

// errEmptyRule is the message for "": it tells the user both valid choices.
var errEmptyRule = errors.New(`access: a rule cannot be the empty string: use null for superusers only or "true" for everyone`)

// MarshalJSON implements json.Marshaler.
func (r Rule) MarshalJSON() ([]byte, error) {
	switch r.Kind {
	case RuleLocked:
		return []byte("null"), nil
	case RulePublic:
		return []byte(`"true"`), nil
	case RuleExpr:
		if strings.TrimSpace(r.Expr) == "" {
			return nil, errEmptyRule
		}
		return json.Marshal(r.Expr)
	}
	return nil, fmt.Errorf("access: cannot marshal rule of unknown kind %d", int(r.Kind))
}

// UnmarshalJSON implements json.Unmarshaler.
func (r *Rule) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if bytes.Equal(data, []byte("null")) {
		*r = Rule{Kind: RuleLocked}
		return nil
	}
	var s string
	if len(data) == 0 || data[0] != '"' || json.Unmarshal(data, &s) != nil {
		return errors.New(`access: a rule must be null (superusers only), "true" (everyone) or an expression string`)
	}
	switch {
	case strings.TrimSpace(s) == "":
		return errEmptyRule
	case s == "true":
		*r = Rule{Kind: RulePublic}
	default:
		*r = Rule{Kind: RuleExpr, Expr: s}
	}
	return nil
}

// Compile compiles the rule for a collection. Locked and Public rules need
// no compilation; an Expr rule fails with the same errors as Compile.
func (r Rule) Compile(schema Schema, d store.Dialect, lim Limits) (CompiledRule, error) {
	switch r.Kind {
	case RuleLocked, RulePublic:
		return CompiledRule{Kind: r.Kind}, nil
	case RuleExpr:
		p, err := Compile(r.Expr, schema, d, lim)
		if err != nil {
			return CompiledRule{}, err
		}
		return CompiledRule{Kind: RuleExpr, Pred: p}, nil
	}
	return CompiledRule{}, fmt.Errorf("access: cannot compile rule of unknown kind %d", int(r.Kind))
}

// Rules are a collection's access rules, one per operation. The zero value
// locks every operation.
type Rules struct {
	List   Rule `json:"list"`
	View   Rule `json:"view"`
	Create Rule `json:"create"`
	Update Rule `json:"update"`
	Delete Rule `json:"delete"`
}

// CompiledRule is what a collection keeps after it is saved: rules are
// compiled once per collection version, then bound per request. The zero
// value is a locked rule. It is immutable and safe for concurrent use.
type CompiledRule struct {
	Kind RuleKind
	// Pred is set when Kind is RuleExpr.
	Pred *Predicate
}
