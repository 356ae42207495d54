package records

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/keep-dev/keep/internal/access"
	"github.com/keep-dev/keep/internal/ids"
	"github.com/keep-dev/keep/internal/store"
)

// Body is a decoded JSON object body: field name to raw value.
type Body map[string]json.RawMessage

// maxCascadeDepth bounds how far a delete may cascade through relations.
const maxCascadeDepth = 16

// serverSet are keys a client may never set.
var serverSet = map[string]bool{"id": true, "created": true, "updated": true, "expand": true, "password_hash": true}

// parseBody validates body against c. On create every required field must be
// present; on update only the given fields are checked. System fields of
// users are handled by the caller and skipped here.
func (s *Service) parseBody(c *Collection, body Body, create bool) (map[string]any, error) {
	var verr ValidationError
	vals := make(map[string]any, len(body))
	for name, raw := range body {
		switch {
		case serverSet[name]:
			verr.add(name, "is set by the server")
			continue
		case c.Name == "users" && usersSystemFields[name]:
			continue
		}
		f := c.Field(name)
		if f == nil {
			verr.add(name, "unknown field")
			continue
		}
		v, msg := f.parseValue(raw)
		if msg != "" {
			verr.add(name, msg)
			continue
		}
		vals[name] = v
	}
	if create {
		for i := range c.Fields {
			f := &c.Fields[i]
			if _, ok := body[f.Name]; !ok && f.Required {
				verr.add(f.Name, "is required")
			}
		}
	}
	return vals, verr.err()
}

// userFields handles the system fields of users: email and password on
// create, email and verified by superusers on update.
func (s *Service) userFields(ctx context.Context, caller Caller, body Body, create bool, vals map[string]any) error {
	var verr ValidationError
	if raw, ok := body["email"]; ok {
		if !create && !caller.Superuser {
			verr.add("email", "cannot be changed here")
		} else if v, msg := usersEmailField.parseValue(raw); msg != "" {
			verr.add("email", msg)
		} else {
			vals["email"] = strings.ToLower(v.(string))
		}
	} else if create {
		verr.add("email", "is required")
	}
	// verified and disabled are the server's and the superuser's to set.
	for _, f := range []*Field{usersVerifiedField, usersDisabledField} {
		raw, ok := body[f.Name]
		switch {
		case !ok:
		case !caller.Superuser:
			verr.add(f.Name, "is set by the server")
		default:
			if v, msg := f.parseValue(raw); msg != "" {
				verr.add(f.Name, msg)
			} else {
				vals[f.Name] = v
			}
		}
	}
	if raw, ok := body["password"]; ok {
		var pw string
		switch {
		case !create:
			verr.add("password", "cannot be changed here")
		case json.Unmarshal(raw, &pw) != nil:
			verr.add("password", "must be a string")
		case s.hasher == nil:
			return errors.New("records: no password hasher configured")
		default:
			if err := s.hasher.Validate(pw); err != nil {
				verr.add("password", err.Error())
				break
			}
			if e, _ := vals["email"].(string); e != "" && strings.EqualFold(pw, e) {
				verr.add("password", "must not be the email address")
				break
			}
			h, err := s.hasher.Hash(ctx, pw)
			if err != nil {
				return fmt.Errorf("hash password: %w", err)
			}
			vals["password_hash"] = h
		}
	} else if create {
		verr.add("password", "is required")
	}
	if _, ok := body["password_hash"]; ok {
		verr.add("password_hash", "is set by the server")
	}
	if err := verr.err(); err != nil {
		return err
	}
	if create {
		for _, name := range []string{"verified", "disabled"} {
			if _, ok := vals[name]; !ok {
				vals[name] = false
			}
		}
	}
	return nil
}

// Create validates body and inserts a record into coll, checking the create
// rule and then the write rules of the fields it sets against the row as
// stored, inside the transaction. A non-superuser setting a readonly field,
// or one whose write rule fails, gets a 403 PublicError naming the field and
// nothing is written (see fields.go). The record returned is what the caller
// may read of it.
func (s *Service) Create(ctx context.Context, caller Caller, coll string, body Body) (Record, error) {
	c, err := s.Collection(coll)
	if err != nil {
		return nil, err
	}
	return s.create(ctx, caller, c, body, false, nil)
}

// Signup creates a user as the public signup endpoint does: the users create
// rule does not apply (signup is its own endpoint), but every field is
// validated and verified is always false.
func (s *Service) Signup(ctx context.Context, body Body) (Record, error) {
	return s.SignupThen(ctx, body, nil)
}

// SignupThen is Signup that also runs then, when not nil, in the
// transaction that creates the user, with the new id: whatever then writes
// (a role grant) commits with the user or not at all.
func (s *Service) SignupThen(ctx context.Context, body Body, then func(q store.Querier, id string) error) (Record, error) {
	c, err := s.Collection("users")
	if err != nil {
		return nil, err
	}
	return s.create(ctx, Caller{}, c, body, true, then)
}

func (s *Service) create(ctx context.Context, caller Caller, c *Collection, body Body, signup bool, then func(q store.Querier, id string) error) (Record, error) {
	cond, condArgs, err := "", []any(nil), error(nil)
	if !signup {
		if cond, condArgs, err = s.ruleSQLFor(caller, c.compiled.create, requestOf(c.compiled.create, "POST", body)); err != nil {
			return nil, err
		}
	}
	if err := checkReadonly(c, caller, body); err != nil {
		return nil, err
	}
	vals, err := s.parseBody(c, body, true)
	if c.Name == "users" {
		uerr := s.userFields(ctx, caller, body, true, vals)
		err = mergeValidation(err, uerr)
	}
	if err != nil {
		return nil, err
	}
	id, ts := ids.New(), now()
	d := s.db.Dialect()
	var rec Record
	err = s.db.Tx(ctx, func(q store.Querier) error {
		cols := []string{"id", "created", "updated"}
		args := []any{id, sqlValue(d, ts), sqlValue(d, ts)}
		vcols, vargs, err := s.writeArgs(ctx, q, c, id, vals)
		if err != nil {
			return err
		}
		cols, args = append(cols, vcols...), append(args, vargs...)
		if _, err := q.Exec(ctx, fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", store.QuoteIdent(c.Table()),
			strings.Join(cols, ", "), placeholders(len(args))), args...); err != nil {
			return err
		}
		// The rule first: a caller it refuses learns nothing about which
		// related ids exist.
		if err := s.holds(ctx, q, c, id, cond, condArgs, caller); err != nil {
			return err
		}
		if err := s.checkWriteRules(ctx, q, caller, c, id, vals); err != nil {
			return err
		}
		if err := s.checkRelations(ctx, q, caller, c, vals); err != nil {
			return err
		}
		action := "record.create"
		if signup {
			action = "auth.signup"
		}
		if err := s.auditWrite(ctx, q, c, action, id, map[string]any{"fields": fieldNames(vals)}); err != nil {
			return err
		}
		if then != nil {
			if err := then(q, id); err != nil {
				return err
			}
		}
		rec, err = s.reload(ctx, q, c, s.readColumns(caller, c), id)
		return err
	})
	if err != nil {
		return nil, writeError(err)
	}
	return rec, nil
}

// holds checks that the row id satisfies cond; the refusal depends on caller.
func (s *Service) holds(ctx context.Context, q store.Querier, c *Collection, id, cond string, args []any, caller Caller) error {
	if cond == "" {
		return nil
	}
	var one int
	err := q.QueryRow(ctx, fmt.Sprintf("SELECT 1 FROM %s WHERE id = ? AND %s", store.QuoteIdent(c.Table()), cond),
		append([]any{id}, args...)...).Scan(&one)
	if errors.Is(err, store.ErrNotFound) {
		return deny(caller)
	}
	return err
}

// reload reads record id of c with cols (c.columns() for every field, or
// readColumns for what a caller may see).
func (s *Service) reload(ctx context.Context, q store.Querier, c *Collection, cols []column, id string) (Record, error) {
	recs, err := s.queryRecords(ctx, q, c, cols, fmt.Sprintf("SELECT %s FROM %s WHERE id = ?", selectList(cols), store.QuoteIdent(c.Table())), id)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, ErrNotFound
	}
	return recs[0], nil
}

// visibleHolding checks, in one statement, that caller may see record id
// of c (the view rule; a record the caller may not see does not exist for
// them: ErrNotFound) and then that cond holds for it (a refusal, as holds
// gives). viewCond and viewArgs are the view rule's condition (viewSQL),
// made before the transaction so the single writer does not wait for it.
func (s *Service) visibleHolding(ctx context.Context, q store.Querier, caller Caller, c *Collection, id string,
	viewCond string, viewArgs []any, cond string, condArgs []any) error {
	// On PostgreSQL the row is locked until commit, so the rule checks that
	// follow and the write see the same row: a concurrent transfer cannot
	// slip in between (SQLite's single writer gives the same for free).
	// After waiting for that lock PostgreSQL checks both rules again on the
	// row's newest version, but a rule's subqueries into other tables (not
	// locked, as before) see them as of the statement's start; the check
	// after the change (holds) reads them afresh.
	lock := ""
	if s.db.Dialect() == store.Postgres {
		lock = " FOR UPDATE"
	}
	// A NULL condition refuses, as it does in holds' WHERE.
	holding, args := "1", make([]any, 0, len(condArgs)+1+len(viewArgs))
	if cond != "" {
		holding = "CASE WHEN " + cond + " THEN 1 ELSE 0 END"
		args = append(args, condArgs...)
	}
	args = append(append(args, id), viewArgs...)
	var held int
	err := q.QueryRow(ctx, fmt.Sprintf("SELECT %s FROM %s%s%s", holding, store.QuoteIdent(c.Table()), and("id = ?", viewCond), lock),
		args...).Scan(&held)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ErrNotFound
	case err != nil:
		return err
	case held != 1:
		return deny(caller)
	}
	return nil
}

// viewSQL is the view rule's condition for caller; a caller the rule
// refuses outright sees no record of c (ErrNotFound).
func (s *Service) viewSQL(caller Caller, c *Collection) (string, []any, error) {
	cond, args, err := s.ruleSQL(caller, c.compiled.view)
	if errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrForbidden) {
		err = ErrNotFound
	}
	return cond, args, err
}

// Update applies a partial update. The update rule must hold before and after
// the change, so a caller cannot move a record out of their own reach (give
// it away) nor into it. Readonly fields and write rules apply as for Create.
func (s *Service) Update(ctx context.Context, caller Caller, coll, id string, body Body) (Record, error) {
	c, err := s.Collection(coll)
	if err != nil {
		return nil, err
	}
	cond, condArgs, err := s.ruleSQLFor(caller, c.compiled.update, requestOf(c.compiled.update, "PATCH", body))
	if err != nil {
		return nil, err
	}
	if !ids.Valid(id) {
		return nil, ErrNotFound
	}
	if err := checkReadonly(c, caller, body); err != nil {
		return nil, err
	}
	vals, err := s.parseBody(c, body, false)
	if c.Name == "users" {
		err = mergeValidation(err, s.userFields(ctx, caller, body, false, vals))
	}
	if err != nil {
		return nil, err
	}
	d := s.db.Dialect()
	ts := sqlValue(d, now())
	viewCond, viewArgs, err := s.viewSQL(caller, c)
	if err != nil {
		return nil, err
	}
	var rec Record
	err = s.db.Tx(ctx, func(q store.Querier) error {
		if err := s.visibleHolding(ctx, q, caller, c, id, viewCond, viewArgs, cond, condArgs); err != nil {
			return err
		}
		sets := []string{"updated = ?"}
		args := []any{ts}
		vcols, vargs, err := s.writeArgs(ctx, q, c, id, vals)
		if err != nil {
			return err
		}
		for _, col := range vcols {
			sets = append(sets, col+" = ?")
		}
		args = append(args, vargs...)
		if _, err := q.Exec(ctx, fmt.Sprintf("UPDATE %s SET %s WHERE id = ?", store.QuoteIdent(c.Table()), strings.Join(sets, ", ")),
			append(args, id)...); err != nil {
			return err
		}
		if err := s.holds(ctx, q, c, id, cond, condArgs, caller); err != nil {
			return err
		}
		if err := s.checkWriteRules(ctx, q, caller, c, id, vals); err != nil {
			return err
		}
		if err := s.checkRelations(ctx, q, caller, c, vals); err != nil {
			return err
		}
		if c.Name == "users" && s.onUserUpdate != nil {
			changed := map[string]any{}
			for _, name := range []string{"disabled", "email", "verified"} {
				if v, ok := vals[name]; ok {
					changed[name] = v
				}
			}
			if len(changed) > 0 {
				if err := s.onUserUpdate(ctx, q, id, changed); err != nil {
					return err
				}
			}
		}
		if err := s.auditWrite(ctx, q, c, "record.update", id, map[string]any{"fields": fieldNames(vals)}); err != nil {
			return err
		}
		rec, err = s.reload(ctx, q, c, s.readColumns(caller, c), id)
		return err
	})
	if err != nil {
		return nil, writeError(err)
	}
	return rec, nil
}

// Delete removes a record after the view and delete rules, applying each
// incoming relation's on_delete in the same transaction.
func (s *Service) Delete(ctx context.Context, caller Caller, coll, id string) error {
	c, err := s.Collection(coll)
	if err != nil {
		return err
	}
	cond, condArgs, err := s.ruleSQL(caller, c.compiled.delete)
	if err != nil {
		return err
	}
	if !ids.Valid(id) {
		return ErrNotFound
	}
	viewCond, viewArgs, err := s.viewSQL(caller, c)
	if err != nil {
		return err
	}
	err = s.db.Tx(ctx, func(q store.Querier) error {
		if err := s.visibleHolding(ctx, q, caller, c, id, viewCond, viewArgs, cond, condArgs); err != nil {
			return err
		}
		cs := &cascade{}
		if err := s.deleteRow(ctx, q, c, id, 0, cs); err != nil {
			return err
		}
		return s.auditWrite(ctx, q, c, "record.delete", id, cs.details())
	})
	return writeError(err)
}

// deleteRow deletes one row and resolves what points at it. The row is
// deleted first: on PostgreSQL that waits for writers that hold the row FOR
// SHARE (see checkRelations), so no new reference can appear unseen.
//
// cs, when not nil, collects the cascade for the delete's audit entry.
func (s *Service) deleteRow(ctx context.Context, q store.Querier, c *Collection, id string, depth int, cs *cascade) error {
	if depth > maxCascadeDepth {
		return conflict("delete cascades deeper than %d levels", maxCascadeDepth)
	}
	n, err := q.Exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE id = ?", store.QuoteIdent(c.Table())), id)
	if err != nil {
		return err
	}
	if n == 0 {
		if depth == 0 {
			return ErrNotFound
		}
		return nil // already deleted earlier in this cascade
	}
	d := s.db.Dialect()
	for _, other := range s.Collections() {
		for i := range other.Fields {
			f := &other.Fields[i]
			if f.Type != TypeRelation || f.Collection != c.Name {
				continue
			}
			refs, err := s.referencing(ctx, q, other, f, id)
			if err != nil {
				return err
			}
			if len(refs) == 0 {
				continue
			}
			switch f.OnDelete {
			case OnDeleteRestrict:
				// Generic on purpose: the referencing collection may be one
				// the caller cannot see.
				return conflict("the record is referenced by other records")
			case OnDeleteCascade:
				for _, r := range refs {
					if err := s.deleteRow(ctx, q, other, r.id, depth+1, cs); err != nil {
						return err
					}
					cs.add(&cs.deleted, other.Name+"/"+r.id)
				}
			case OnDeleteSetNull:
				for _, r := range refs {
					var v any
					if f.Multi {
						v = slices.DeleteFunc(r.list, func(x string) bool { return x == id })
					}
					if _, err := q.Exec(ctx, fmt.Sprintf("UPDATE %s SET %s = ?, updated = ? WHERE id = ?",
						store.QuoteIdent(other.Table()), store.QuoteIdent(f.Name)), sqlValue(d, v), sqlValue(d, now()), r.id); err != nil {
						return err
					}
					cs.add(&cs.nulled, other.Name+"/"+r.id+"."+f.Name)
				}
			}
		}
	}
	return nil
}

type ref struct {
	id   string
	list []string
}

// referencing finds the records of c whose relation f holds id.
func (s *Service) referencing(ctx context.Context, q store.Querier, c *Collection, f *Field, id string) ([]ref, error) {
	col := store.QuoteIdent(f.Name)
	cond := col + " = ?"
	if f.Multi {
		if s.db.Dialect() == store.Postgres {
			cond = col + " @> jsonb_build_array(?::text)"
		} else {
			cond = "EXISTS (SELECT 1 FROM json_each(" + col + ") WHERE value = ?)"
		}
	}
	rows, err := q.Query(ctx, fmt.Sprintf("SELECT id, %s FROM %s WHERE %s", col, store.QuoteIdent(c.Table()), cond), id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ref
	for rows.Next() {
		var r ref
		var raw any
		if err := rows.Scan(&r.id, &raw); err != nil {
			return nil, err
		}
		if f.Multi {
			v, err := jsonValue(f, raw)
			if err != nil {
				return nil, err
			}
			r.list = v.([]string)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// checkRelations verifies that every related id in vals exists and that the
// caller may view it: linking to a record one cannot see would both reveal
// that it exists and let one pin it (a restrict relation then blocks its
// owner's delete). On PostgreSQL the targets are locked FOR SHARE until
// commit, so a concurrent delete of a target waits and then sees the new
// reference.
func (s *Service) checkRelations(ctx context.Context, q store.Querier, caller Caller, c *Collection, vals map[string]any) error {
	var verr ValidationError
	for name, v := range vals {
		f := c.Field(name)
		if f == nil || f.Type != TypeRelation || v == nil {
			continue
		}
		want := []string{}
		switch v := v.(type) {
		case string:
			want = append(want, v)
		case []string:
			want = v
		}
		if len(want) == 0 {
			continue
		}
		target, err := s.Collection(f.Collection)
		if err != nil {
			return err
		}
		cond, condArgs, err := s.ruleSQL(caller, target.compiled.view)
		if errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrForbidden) {
			verr.add(name, "related record not found")
			continue
		}
		if err != nil {
			return err
		}
		lock := ""
		if s.db.Dialect() == store.Postgres {
			lock = " FOR SHARE"
		}
		args := make([]any, 0, len(want)+len(condArgs))
		for _, w := range want {
			args = append(args, w)
		}
		var n int
		if err := q.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM (SELECT id FROM %s%s%s) t",
			store.QuoteIdent(target.Table()), and("id IN ("+placeholders(len(want))+")", cond), lock),
			append(args, condArgs...)...).Scan(&n); err != nil {
			return err
		}
		if n != len(want) {
			verr.add(name, "related record not found")
		}
	}
	return verr.err()
}

// writeError maps store errors of a write to service errors.
func writeError(err error) error {
	var pe *PublicError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pe):
		return err
	case errors.Is(err, store.ErrConflict):
		return conflict("a record with this value already exists")
	case errors.Is(err, store.ErrForeignKey):
		return conflict("the record is referenced by other records")
	case errors.Is(err, store.ErrInvalidValue):
		return badRequest("a value cannot be stored (invalid characters, or too large for its index)")
	}
	return err
}

func mergeValidation(a, b error) error {
	var va, vb *ValidationError
	if errors.As(a, &va) && errors.As(b, &vb) {
		for k, v := range vb.Fields {
			va.add(k, v)
		}
		return va
	}
	if a != nil {
		return a
	}
	return b
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// requestOf is the request a create or update rule sees: the method and the
// fields as submitted (a null is kept: has() reports it as sent). Values are
// plain JSON values; the body was decoded once already, so this cannot fail
// on valid input, and a value that does not decode is left out.
// Only a rule that reads the request pays for decoding the body again.
func requestOf(rule access.CompiledRule, method string, body Body) access.Request {
	if rule.Pred == nil || !rule.Pred.ReadsRequest() {
		return access.Request{}
	}
	req := access.Request{Method: method, Body: make(map[string]any, len(body))}
	for k, raw := range body {
		var v any
		if json.Unmarshal(raw, &v) == nil {
			req.Body[k] = v
		}
	}
	return req
}
