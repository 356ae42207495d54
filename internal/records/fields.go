package records

// Field-level access: the hidden, readonly, read_rule and write_rule options
// of a field. Superusers bypass all of them. Like the collection rules,
// everything is decided in SQL:
//
//   - Reads (Get, List, expand, and the records Create and Update return):
//     hidden fields are not selected at all; each read-ruled field gets a
//     boolean column, (rule) AS "_r_<field id>", next to its value, and the
//     field is dropped from a record where that column is false or NULL.
//     A read rule that cannot be bound for the caller hides the field.
//   - Side channels: a non-superuser's filter is compiled against a schema
//     without hidden and read-ruled fields, and naming one is a 400 saying
//     it cannot be filtered; sorting by one is a 400 likewise, so the order
//     and the cursor only ever carry values the caller may read. fields= and
//     expand= may name such a field: it is then absent, as for a record
//     whose read rule is false, so the answer does not tell hidden from
//     denied. The collection's own rules may use every field.
//   - Writes: a create or update by a non-superuser that sets a readonly
//     field is refused with 403 before anything is written, and one that
//     sets a field whose write rule does not hold for the row as stored is
//     refused with 403 inside the writing transaction, which is rolled back.
//     Refusing rather than ignoring such a field tells a client that its
//     value was not taken, instead of answering 200 for a write that did not
//     happen. Both errors name the field (the schema is not a secret from
//     someone writing to the collection); the create and update rules are
//     checked first, so a caller they refuse learns nothing about fields.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/keep-dev/keep/internal/access"
	"github.com/keep-dev/keep/internal/store"
)

// normaliseAccess validates the field-level access options of f.
func (f *Field) normaliseAccess(key string, verr *ValidationError) {
	if f.Hidden && f.ReadRule != "" {
		verr.add(key+".read_rule", "a hidden field is never returned: set hidden or read_rule, not both")
	}
	if f.Readonly && f.WriteRule != "" {
		verr.add(key+".write_rule", "a readonly field cannot be set: set readonly or write_rule, not both")
	}
}

// compileFields compiles the read and write rules of c's fields against
// schema (every field of c, hidden ones included, as for the collection
// rules) and derives what a non-superuser's filter may reference. Problems
// go to verr under fields[i].read_rule and fields[i].write_rule.
func (s *Service) compileFields(c *Collection, schema access.Schema, verr *ValidationError) error {
	cr := &c.compiled
	cr.read, cr.write, cr.unreadable = map[string]*access.Predicate{}, map[string]*access.Predicate{}, map[string]bool{}
	for i := range c.Fields {
		f := &c.Fields[i]
		for _, r := range []struct {
			key, src string
			dst      map[string]*access.Predicate
		}{
			{"read_rule", f.ReadRule, cr.read},
			{"write_rule", f.WriteRule, cr.write},
		} {
			if r.src == "" {
				continue
			}
			p, err := access.Compile(r.src, schema, s.db.Dialect(), s.limits)
			if err != nil {
				var ce *access.CompileError
				if errors.As(err, &ce) {
					verr.add(fmt.Sprintf("fields[%d].%s", i, r.key), ce.Msg)
					continue
				}
				return err
			}
			r.dst[f.Name] = p
		}
		if f.Hidden || f.ReadRule != "" {
			cr.unreadable[f.Name] = true
		}
	}
	cr.filter = access.Schema{Table: schema.Table}
	for _, af := range schema.Fields {
		if !cr.unreadable[af.Name] {
			af.Target = nil // no traversal in client filters: it would skip the target's view rule
			cr.filter.Fields = append(cr.filter.Fields, af)
		}
	}
	return nil
}

// readColumns lists the columns of c that caller may read: every column for
// a superuser; for anyone else, no hidden field, and after the values a read
// check for each read-ruled field. The system fields of users are always
// there.
func (s *Service) readColumns(caller Caller, c *Collection) []column {
	switch {
	case caller.Superuser && c.compiled.all != nil:
		return c.compiled.all
	case !caller.Superuser && c.compiled.plain != nil:
		return c.compiled.plain
	}
	cols := c.columns()
	if caller.Superuser {
		return cols
	}
	out := make([]column, 0, len(cols))
	var checks []column
	for _, col := range cols {
		f := col.field
		if f == nil || f.ID == "" { // id, created, updated and the system fields of users
			out = append(out, col)
			continue
		}
		if f.Hidden {
			continue
		}
		p := c.compiled.read[f.Name]
		if p == nil {
			out = append(out, col)
			continue
		}
		cond, args, err := p.Bind(caller.Auth)
		switch {
		case err != nil:
			// A value of the caller does not fit the rule: fail closed. The
			// cause is not logged: it can quote the caller's values.
			s.log.Warn("read rule could not be bound; hiding the field", "field", f.Name, "rule", p.Source())
			continue
		case cond == "(1=0)":
			continue
		case cond == "(1=1)":
			out = append(out, col)
			continue
		}
		out = append(out, col)
		checks = append(checks, column{name: f.Name, field: f, check: &readCheck{sql: cond, alias: "_r_" + f.ID, args: args}})
	}
	return append(out, checks...)
}

// compileColumns fills in the column sets of c that do not depend on the
// caller. They are shared by every request: capped, so that an append
// copies.
func compileColumns(c *Collection) {
	cr := &c.compiled
	cr.all = slices.Clip(c.columns())
	cr.selectAll = selectList(cr.all)
	cr.plain, cr.selectPlain = nil, ""
	if len(cr.read) > 0 {
		return
	}
	plain := make([]column, 0, len(cr.all))
	for _, col := range cr.all {
		if f := col.field; f != nil && f.ID != "" && f.Hidden {
			continue
		}
		plain = append(plain, col)
	}
	cr.plain = slices.Clip(plain)
	cr.selectPlain = selectList(cr.plain)
}

// selectFor is selectList(cols), made once per collection version when
// cols is one of c's shared column sets.
func selectFor(c *Collection, cols []column) string {
	switch {
	case sameColumns(cols, c.compiled.all):
		return c.compiled.selectAll
	case sameColumns(cols, c.compiled.plain):
		return c.compiled.selectPlain
	}
	return selectList(cols)
}

func sameColumns(a, b []column) bool { return len(a) > 0 && len(a) == len(b) && &a[0] == &b[0] }

// truthy reads a boolean SQL result: PostgreSQL returns a bool, SQLite an
// integer; NULL is false.
func truthy(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case int64:
		return v != 0
	}
	return false
}

// filter compiles a list filter for caller. A superuser's may reference every
// field; anyone else's only the fields they may read.
func (s *Service) filter(c *Collection, caller Caller, src string) (string, []any, error) {
	schema := c.accessSchema()
	if !caller.Superuser {
		// Names first, for a message that says why; the schema without
		// those fields is what guarantees that the SQL cannot read them.
		for _, name := range filterIdents(src) {
			if c.compiled.unreadable[name] {
				return "", nil, badRequest("filter: field %q cannot be filtered", name)
			}
		}
		schema = c.compiled.filter
	}
	p, err := access.Compile(src, schema, s.db.Dialect(), s.limits)
	if err != nil {
		var ce *access.CompileError
		if errors.As(err, &ce) {
			return "", nil, badRequest("filter: %s", ce.Msg)
		}
		return "", nil, err
	}
	cond, args, err := p.Bind(caller.Auth)
	if err != nil {
		return "", nil, badRequest("filter: %s", err.Error())
	}
	return cond, args, nil
}

// filterIdents returns the identifiers of a CEL expression that can name a
// field: those outside string literals and comments, not after a '.' (which
// makes them a member, as in auth.secret). It is a lexical scan, good enough
// for an error message; what a filter can read is bounded by the schema it is
// compiled against.
func filterIdents(src string) []string {
	var out []string
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '/' && strings.HasPrefix(src[i:], "//"):
			if j := strings.IndexByte(src[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				i = len(src)
			}
		case c == '"' || c == '\'':
			i = skipString(src, i, false)
		case c >= '0' && c <= '9':
			for i < len(src) && (isIdentByte(src[i]) || src[i] == '.') {
				i++
			}
		case isIdentByte(c):
			j := i
			for j < len(src) && isIdentByte(src[j]) {
				j++
			}
			word := src[i:j]
			if j < len(src) && (src[j] == '"' || src[j] == '\'') && isStringPrefix(word) {
				i = skipString(src, j, strings.ContainsAny(word, "rR"))
				continue
			}
			k := i - 1
			for k >= 0 && strings.IndexByte(" \t\r\n", src[k]) >= 0 {
				k--
			}
			if k < 0 || src[k] != '.' {
				out = append(out, word)
			}
			i = j
		default:
			i++
		}
	}
	return out
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// isStringPrefix reports whether w is a CEL string prefix: r (raw), b
// (bytes) or both, in any case and order.
func isStringPrefix(w string) bool {
	switch strings.ToLower(w) {
	case "r", "b", "rb", "br":
		return true
	}
	return false
}

// skipString returns the index after the string literal that starts at the
// quote src[i], single or triple quoted; raw strings have no escapes. An
// unterminated literal runs to the end.
func skipString(src string, i int, raw bool) int {
	q := src[i : i+1]
	if strings.HasPrefix(src[i:], q+q+q) {
		q = q + q + q
	}
	for j := i + len(q); j < len(src); j++ {
		switch {
		case !raw && src[j] == '\\':
			j++
		case strings.HasPrefix(src[j:], q):
			return j + len(q)
		}
	}
	return len(src)
}

// checkReadonly refuses a body that sets a readonly field, unless caller is
// a superuser. The error names the first such field in name order.
func checkReadonly(c *Collection, caller Caller, body Body) error {
	if caller.Superuser {
		return nil
	}
	names := make([]string, 0, len(body))
	for name := range body {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if f := c.Field(name); f != nil && f.Readonly {
			return &PublicError{Kind: ErrForbidden, Msg: fmt.Sprintf("field %q is read-only", name)}
		}
	}
	return nil
}

// checkWriteRules checks, inside the writing transaction, the write rule of
// every field that vals sets against row id as stored, in one query. The
// first field (in name order) whose rule does not hold is refused; the
// caller rolls the transaction back. Superusers are not checked.
func (s *Service) checkWriteRules(ctx context.Context, q store.Querier, caller Caller, c *Collection, id string, vals map[string]any) error {
	if caller.Superuser {
		return nil
	}
	var names, conds []string
	var args []any
	for _, name := range sortedKeys(vals) {
		p := c.compiled.write[name]
		if p == nil {
			continue
		}
		cond, condArgs, err := p.Bind(caller.Auth)
		switch {
		case err != nil:
			// Fail closed, as for the collection rules; the cause can quote
			// the caller's values, so it is not logged.
			s.log.Warn("write rule could not be bound; denying", "field", name, "rule", p.Source())
			return writeRefused(name)
		case cond == "(1=0)":
			return writeRefused(name)
		case cond == "(1=1)":
			continue
		}
		names, conds = append(names, name), append(conds, cond)
		args = append(args, condArgs...)
	}
	if len(conds) == 0 {
		return nil
	}
	got := make([]any, len(conds))
	ptrs := make([]any, len(conds))
	for i := range got {
		ptrs[i] = &got[i]
	}
	err := q.QueryRow(ctx, fmt.Sprintf("SELECT %s FROM %s WHERE id = ?", strings.Join(conds, ", "), store.QuoteIdent(c.Table())),
		append(args, id)...).Scan(ptrs...)
	if err != nil {
		return err
	}
	for i, v := range got {
		if !truthy(v) {
			return writeRefused(names[i])
		}
	}
	return nil
}

func writeRefused(name string) error {
	return &PublicError{Kind: ErrForbidden, Msg: fmt.Sprintf("field %q cannot be set: its write rule does not allow this change", name)}
}

// Profile returns the caller's own user record as they may see it: without
// hidden fields and with read rules applied, as a Get would return it but
// without the users view rule (a signed-in user may always see their own
// record). The /api/auth/me endpoint uses it; User, which identity loading
// uses, returns every field.
func (s *Service) Profile(ctx context.Context, caller Caller) (Record, error) {
	if caller.Anonymous() {
		return nil, ErrUnauthorized
	}
	c, err := s.Collection("users")
	if err != nil {
		return nil, err
	}
	return s.reload(ctx, s.db, c, s.readColumns(caller, c), caller.Auth.ID)
}
