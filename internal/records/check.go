package records

import (
	"context"
	"errors"
	"fmt"

	"github.com/keep-dev/keep/internal/access"
	"github.com/keep-dev/keep/internal/ids"
	"github.com/keep-dev/keep/internal/store"
)

// Decision explains an access check: whether the action is allowed, which
// rule decided, and why, in words for an administrator.
type Decision struct {
	Allowed bool   `json:"allowed"`
	Rule    string `json:"rule"`
	Reason  string `json:"reason"`
}

// Check answers whether caller may perform action (list, view, create,
// update, delete) on collection coll — on record recordID when given — by
// evaluating the same compiled rules, in SQL, that the requests would. For
// update and delete the record must also be visible (the view rule), as the
// requests require. A create is checked for the rule alone when it needs no
// record, since the rule holds of the record as it would be stored.
func (s *Service) Check(ctx context.Context, caller Caller, coll, action, recordID string) (Decision, error) {
	c, err := s.Collection(coll)
	if err != nil {
		return Decision{}, err
	}
	rules := map[string]struct {
		rule access.CompiledRule
		src  access.Rule
	}{
		"list": {c.compiled.list, c.Rules.List}, "view": {c.compiled.view, c.Rules.View},
		"create": {c.compiled.create, c.Rules.Create}, "update": {c.compiled.update, c.Rules.Update},
		"delete": {c.compiled.delete, c.Rules.Delete},
	}
	r, ok := rules[action]
	if !ok {
		return Decision{}, &ValidationError{Fields: map[string]string{"action": "must be list, view, create, update or delete"}}
	}
	name := action + " rule"
	switch {
	case caller.Superuser:
		return Decision{true, "superuser", "superusers bypass every rule"}, nil
	case r.rule.Kind == access.RuleLocked:
		return Decision{false, name, "the rule is locked: superusers only"}, nil
	}
	if recordID == "" {
		switch {
		case r.rule.Kind == access.RulePublic:
			return Decision{true, name, "the rule is public"}, nil
		case action == "list":
			return Decision{true, name, fmt.Sprintf("listing is allowed; it returns only the records where %s holds", r.src.Expr)}, nil
		}
		return Decision{false, name, "this rule is evaluated against a record: give record_id"}, nil
	}
	if !ids.Valid(recordID) {
		return Decision{}, ErrNotFound
	}
	var exists int
	if err := s.db.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s WHERE id = ?", store.QuoteIdent(c.Table())), recordID).Scan(&exists); err != nil {
		return Decision{}, err
	}
	if exists == 0 {
		return Decision{}, &PublicError{Kind: ErrNotFound, Msg: "record not found"}
	}
	holds := func(rule access.CompiledRule) (bool, error) {
		cond, args, err := s.ruleSQL(caller, rule)
		if err != nil {
			return false, nil // locked
		}
		if cond == "" {
			return true, nil
		}
		var one int
		err = s.db.QueryRow(ctx, fmt.Sprintf("SELECT 1 FROM %s WHERE id = ? AND %s", store.QuoteIdent(c.Table()), cond),
			append([]any{recordID}, args...)...).Scan(&one)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}
	if action == "update" || action == "delete" {
		visible, err := holds(c.compiled.view)
		if err != nil {
			return Decision{}, err
		}
		if !visible {
			return Decision{false, "view rule", "the view rule hides the record (the request would answer 404)"}, nil
		}
	}
	ok, err = holds(r.rule)
	if err != nil {
		return Decision{}, err
	}
	if !ok {
		return Decision{false, name, "the rule does not hold for this record and user"}, nil
	}
	reason := "the rule holds for this record and user"
	if action == "update" {
		reason += " (it must also hold after the change)"
	}
	return Decision{true, name, reason}, nil
}
