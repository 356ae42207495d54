package access

import (
	"strconv"

	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"

	"github.com/keep-dev/keep/internal/store"
)

// This file walks the checked AST and builds the node tree of sql.go. Every
// construct that reads a record field is matched explicitly; anything else
// is an error, so a new CEL feature can never slip through untranslated.

// pred translates e in condition position.
func (c *compiler) pred(e celast.Expr) (node, error) {
	if !c.refs[e.ID()] {
		p, err := c.param(e)
		if err != nil {
			return nil, err
		}
		if p.slot < 0 {
			b, ok := valueToBool(p.value)
			if !ok {
				return nil, compileErrorf("%s is not a condition (bool)", p.src)
			}
			return constNode(b), nil
		}
		return &boolParam{p: p}, nil
	}
	switch e.Kind() {
	case celast.IdentKind:
		sql, f, inner, sj := c.ref(e.AsIdent())
		if f.Kind == KindJSON {
			return nil, compileErrorf("json fields can only be compared with null (%s)", f.Name)
		}
		if f.Kind != KindBool {
			return nil, compileErrorf("field %q is a %s field, not a condition; compare it with a value", f.Name, f.Kind)
		}
		if sj != nil {
			return &leaf{kind: leafBoolColumn, left: inner, semi: sj}, nil
		}
		return &leaf{kind: leafBoolColumn, left: sql}, nil
	case celast.CallKind:
		call := e.AsCall()
		switch fn := call.FunctionName(); fn {
		case operators.LogicalAnd, operators.LogicalOr:
			return c.logical(e, fn)
		case operators.LogicalNot:
			kid, err := c.pred(call.Args()[0])
			if err != nil {
				return nil, err
			}
			return &notNode{kid: kid}, nil
		case operators.Equals, operators.NotEquals, operators.Less, operators.LessEquals,
			operators.Greater, operators.GreaterEquals:
			return c.comparison(e, fn)
		case operators.In:
			return c.in(e)
		case "startsWith", "endsWith", "contains":
			return c.stringFunc(e, fn)
		case "dyn":
			if len(call.Args()) == 1 {
				return c.pred(call.Args()[0])
			}
		}
	}
	return nil, c.unsupported(e)
}

// logical flattens chains of && or || (the parser balances them) into one
// n-ary node.
func (c *compiler) logical(e celast.Expr, fn string) (node, error) {
	var kids []node
	var walk func(e celast.Expr) error
	walk = func(e celast.Expr) error {
		if e.Kind() == celast.CallKind && e.AsCall().FunctionName() == fn && c.refs[e.ID()] {
			for _, a := range e.AsCall().Args() {
				if err := walk(a); err != nil {
					return err
				}
			}
			return nil
		}
		n, err := c.pred(e)
		if err != nil {
			return err
		}
		kids = append(kids, n)
		return nil
	}
	if err := walk(e); err != nil {
		return nil, err
	}
	return &logicNode{and: fn == operators.LogicalAnd, kids: kids}, nil
}

// operand is one side of a comparison: SQL for something that reads record
// fields, or a request-time value, or the null literal.
type operand struct {
	sql   string // set when the operand reads record fields
	kind  FieldKind
	name  string // field name, or source text of size(...), for messages
	param *param // set for request-time values
	null  bool
	// For an operand that reads one traversal (owner.team, size(owner.team)),
	// semi is the semi-join that finds the related record and inner the
	// operand's SQL on the target column, for use inside it.
	semi  *semiJoin
	inner string
	// enc is the field, when the operand is an encrypted field.
	enc *Field
}

func (o operand) isSQL() bool { return o.sql != "" }

// semiLeaf sets lf to test o inside o's semi-join, if o reads a traversal:
// lf's SQL side becomes o.inner and *side is where that side goes. It is
// only used where o is the leaf's one SQL side, compared with a request-time
// value; see semiJoin for why that is equivalent.
func semiLeaf(lf *leaf, side *string, o operand) {
	if o.semi == nil {
		return
	}
	lf.semi = o.semi
	*side = o.inner
}

func (c *compiler) column(f Field) string { return store.QuoteIdent(f.Column) }

// ref returns the SQL and the field of a checked identifier that reads the
// record: a field's column, or for a traversal such as owner.team (then the
// field is the target's, named "owner.team" for messages) a correlated
// subquery that finds the related record by its id:
//
//	(SELECT keep_rel1."team" FROM "c_users" AS keep_rel1 WHERE keep_rel1."id" = "c_posts"."owner")
//
// The subquery is NULL when the relation is empty or dangling, like an
// unset field. Each traversal gets its own alias, and tables may not begin
// with keep_ (see Schema.Table), so the alias never shadows the outer table
// and the outer column is always the record's, even when the target has a
// column of the same name.
//
// For a traversal, ref also returns the target column under the alias
// (keep_rel1."team") and the semi-join it belongs to, which leaves that
// compare the traversal with a request-time value use instead of the
// scalar subquery (see semiJoin).
func (c *compiler) ref(name string) (string, Field, string, *semiJoin) {
	if f, ok := c.fields[name]; ok {
		return c.column(f), f, "", nil
	}
	t := c.trav[name]
	c.aliases++
	a := aliasPrefix + "rel" + strconv.Itoa(c.aliases)
	q := store.QuoteIdent
	sj := &semiJoin{
		outer: q(c.schema.Table) + "." + q(t.rel.Column),
		from:  a + "." + q(t.targetID.Column) + " FROM " + q(t.rel.Target.Table) + " AS " + a,
	}
	inner := a + "." + q(t.target.Column)
	sql := "(SELECT " + inner + " FROM " + q(t.rel.Target.Table) + " AS " + a +
		" WHERE " + a + "." + q(t.targetID.Column) + " = " + sj.outer + ")"
	f := t.target
	f.Name = name
	return sql, f, inner, sj
}

func (c *compiler) operand(e celast.Expr) (operand, error) {
	if !c.refs[e.ID()] {
		if isNullLiteral(e) {
			return operand{null: true}, nil
		}
		p, err := c.param(e)
		if err != nil {
			return operand{}, err
		}
		if p.slot < 0 && p.value == types.NullValue {
			return operand{null: true}, nil
		}
		return operand{param: p}, nil
	}
	switch e.Kind() {
	case celast.IdentKind:
		sql, f, inner, sj := c.ref(e.AsIdent())
		o := operand{sql: sql, kind: f.Kind, name: f.Name, semi: sj, inner: inner}
		if f.Encrypted {
			o.enc = &f
		}
		return o, nil
	case celast.CallKind:
		call := e.AsCall()
		var arg celast.Expr
		switch {
		case len(call.Args()) == 1 && !call.IsMemberFunction():
			arg = call.Args()[0]
		case len(call.Args()) == 0 && call.IsMemberFunction():
			arg = call.Target()
		}
		if arg == nil {
			break
		}
		switch call.FunctionName() {
		case "dyn":
			if !call.IsMemberFunction() {
				return c.operand(arg)
			}
		case "size":
			inner, err := c.operand(arg)
			if err != nil {
				return operand{}, err
			}
			return c.size(inner, e)
		}
	}
	return operand{}, c.unsupported(e)
}

// size translates size(x) for a text or list field.
func (c *compiler) size(o operand, e celast.Expr) (operand, error) {
	out := operand{kind: kindInteger, name: c.text(e)}
	if err := notEncrypted(o); err != nil {
		return operand{}, err
	}
	var fn string
	switch {
	case o.kind == KindText && c.dialect == store.Postgres:
		fn = "char_length"
	case o.kind == KindText:
		// length() counts characters of TEXT, as CEL's size() counts code
		// points.
		fn = "length"
	case o.kind == KindTextList && c.dialect == store.Postgres:
		fn = "jsonb_array_length"
	case o.kind == KindTextList:
		fn = "json_array_length"
	default:
		return operand{}, compileErrorf("size() is only supported on text and list fields (in %s)", out.name)
	}
	out.sql = fn + "(" + o.sql + ")"
	if o.semi != nil {
		out.semi, out.inner = o.semi, fn+"("+o.inner+")"
	}
	return out, nil
}

// flip mirrors an ordering operator, for moving the column to the left.
var flip = map[string]string{
	operators.Less: operators.Greater, operators.Greater: operators.Less,
	operators.LessEquals: operators.GreaterEquals, operators.GreaterEquals: operators.LessEquals,
	operators.Equals: operators.Equals, operators.NotEquals: operators.NotEquals,
}

var sqlOp = map[string]string{
	operators.Equals: "=", operators.NotEquals: "<>",
	operators.Less: "<", operators.LessEquals: "<=",
	operators.Greater: ">", operators.GreaterEquals: ">=",
}

func (c *compiler) comparison(e celast.Expr, fn string) (node, error) {
	args := e.AsCall().Args()
	l, err := c.operand(args[0])
	if err != nil {
		return nil, err
	}
	r, err := c.operand(args[1])
	if err != nil {
		return nil, err
	}
	if !l.isSQL() {
		l, r = r, l
		fn = flip[fn]
	}
	equality := fn == operators.Equals || fn == operators.NotEquals
	if r.enc != nil && l.enc == nil {
		l, r = r, l
		fn = flip[fn]
	}
	if l.enc != nil {
		return c.encryptedComparison(e, fn, l, r)
	}
	if r.null {
		if !equality {
			return nil, compileErrorf("null can only be compared with == or != (in %s)", c.text(e))
		}
		return &leaf{kind: leafNull, left: l.sql, not: fn == operators.NotEquals}, nil
	}
	if err := checkComparable(l, equality); err != nil {
		return nil, err
	}
	lf := &leaf{kind: leafCompare, left: l.sql, vkind: l.kind, op: sqlOp[fn]}
	if r.isSQL() {
		if err := checkComparable(r, equality); err != nil {
			return nil, err
		}
		if !sameFamily(l.kind, r.kind) {
			return nil, compileErrorf("cannot compare %s field %s with %s field %s", l.kind, l.name, r.kind, r.name)
		}
		lf.right = r.sql
		return lf, nil
	}
	lf.param = r.param
	if err := c.checkStatic(r.param, l.kind); err != nil {
		return nil, err
	}
	semiLeaf(lf, &lf.left, l)
	return lf, nil
}

// encryptedComparison translates a comparison whose left side l is an
// encrypted field: == null and != null test the ciphertext column; == and
// != with a request-time value compare the blind index, computed at Bind;
// everything else is refused, since SQL sees only ciphertext.
func (c *compiler) encryptedComparison(e celast.Expr, fn string, l, r operand) (node, error) {
	equality := fn == operators.Equals || fn == operators.NotEquals
	switch {
	case !equality:
		return nil, compileErrorf("ordering comparisons are not supported on encrypted field %s", l.name)
	case r.null:
		return &leaf{kind: leafNull, left: l.sql, not: fn == operators.NotEquals}, nil
	case r.isSQL():
		return nil, compileErrorf("encrypted field %s can only be compared with a value, not with a field", l.name)
	case l.enc.Blind == nil:
		return nil, compileErrorf("field %s is encrypted and not searchable: it cannot be filtered on (only compared with null)", l.name)
	case l.kind == KindJSON:
		return nil, compileErrorf("json fields can only be compared with null (%s)", l.name)
	}
	if err := c.checkStatic(r.param, l.kind); err != nil {
		return nil, err
	}
	return &leaf{kind: leafCompare, left: store.QuoteIdent(l.enc.BlindColumn), vkind: l.kind, op: sqlOp[fn],
		param: r.param, blind: l.enc.Blind}, nil
}

// notEncrypted refuses an encrypted operand where only plaintext would do.
func notEncrypted(os ...operand) error {
	for _, o := range os {
		if o.enc != nil {
			return compileErrorf("encrypted field %s can only be compared with == or != (or null)", o.name)
		}
	}
	return nil
}

// checkComparable rejects comparisons CEL allows on dyn values but the
// columns cannot answer meaningfully.
func checkComparable(o operand, equality bool) error {
	switch o.kind {
	case KindJSON:
		if !equality {
			return compileErrorf("ordering comparisons are not supported on json fields (%s)", o.name)
		}
		return compileErrorf("json fields can only be compared with null (%s)", o.name)
	case KindTextList:
		if !equality {
			return compileErrorf("ordering comparisons are not supported on list fields (%s)", o.name)
		}
		return compileErrorf("list fields can only be compared with null; use in or size() (%s)", o.name)
	case KindBool:
		if !equality {
			return compileErrorf("ordering comparisons are not supported on bool fields (%s)", o.name)
		}
	}
	return nil
}

// sameFamily reports whether two column kinds compare meaningfully in SQL.
func sameFamily(a, b FieldKind) bool {
	num := func(k FieldKind) bool { return k == KindNumber || k == kindInteger }
	return a == b || num(a) && num(b)
}

// checkStatic converts a constant now so that a literal of the wrong type
// is a compile error rather than a per-request one.
func (c *compiler) checkStatic(p *param, k FieldKind) error {
	if p.slot >= 0 {
		return nil
	}
	if _, _, err := convert(p.value, k, p.src); err != nil {
		return &CompileError{Msg: err.Error()}
	}
	return nil
}

func (c *compiler) in(e celast.Expr) (node, error) {
	args := e.AsCall().Args()
	elem, list := args[0], args[1]
	// x in <list field>
	if c.refs[list.ID()] {
		lo, err := c.operand(list)
		if err != nil {
			return nil, err
		}
		if err := notEncrypted(lo); err != nil {
			return nil, err
		}
		switch lo.kind {
		case KindTextList:
			// Each test scans the JSON array of every candidate row; a cap
			// keeps one request from occupying a reader for seconds.
			if c.listTests++; c.listTests > MaxListTests {
				return nil, compileErrorf("at most %d membership tests on list fields per expression", MaxListTests)
			}
		case KindJSON:
			return nil, compileErrorf("json fields can only be compared with null (%s)", lo.name)
		default:
			return nil, compileErrorf("in needs a list on its right, not %s field %s", lo.kind, lo.name)
		}
		eo, err := c.operand(elem)
		if err != nil {
			return nil, err
		}
		if err := notEncrypted(eo); err != nil {
			return nil, err
		}
		if eo.null {
			return constNode(false), nil
		}
		lf := &leaf{kind: leafListHas, left: lo.sql}
		if eo.isSQL() {
			if eo.kind != KindText {
				return nil, compileErrorf("list fields hold text; %s is a %s field", eo.name, eo.kind)
			}
			lf.right = eo.sql
			return lf, nil
		}
		if err := c.checkStatic(eo.param, KindText); err != nil {
			return nil, err
		}
		lf.param = eo.param
		semiLeaf(lf, &lf.left, lo)
		return lf, nil
	}
	// <field> in <request-time list>
	eo, err := c.operand(elem)
	if err != nil {
		return nil, err
	}
	if err := notEncrypted(eo); err != nil {
		return nil, err
	}
	if err := checkComparable(eo, true); err != nil {
		return nil, err
	}
	if list.Kind() == celast.ListKind {
		lf := &leaf{kind: leafInValues, left: eo.sql, vkind: eo.kind}
		for _, el := range list.AsList().Elements() {
			p, err := c.param(el)
			if err != nil {
				return nil, err
			}
			if err := c.checkStatic(p, eo.kind); err != nil {
				return nil, err
			}
			lf.params = append(lf.params, p)
		}
		semiLeaf(lf, &lf.left, eo)
		return lf, nil
	}
	if list.Kind() == celast.MapKind {
		return nil, compileErrorf("in with a map literal is not supported (in %s)", c.text(e))
	}
	p, err := c.param(list)
	if err != nil {
		return nil, err
	}
	if p.slot < 0 {
		if _, err := convertList(p.value, eo.kind, p.src); err != nil {
			return nil, &CompileError{Msg: err.Error()}
		}
	}
	lf := &leaf{kind: leafInList, left: eo.sql, vkind: eo.kind, param: p}
	semiLeaf(lf, &lf.left, eo)
	return lf, nil
}

func (c *compiler) stringFunc(e celast.Expr, fn string) (node, error) {
	call := e.AsCall()
	if !call.IsMemberFunction() || len(call.Args()) != 1 {
		return nil, c.unsupported(e)
	}
	target, err := c.operand(call.Target())
	if err != nil {
		return nil, err
	}
	arg, err := c.operand(call.Args()[0])
	if err != nil {
		return nil, err
	}
	if err := notEncrypted(target, arg); err != nil {
		return nil, err
	}
	lf := &leaf{kind: leafString, fn: fn}
	for _, o := range []operand{target, arg} {
		switch {
		case o.null:
			return nil, compileErrorf("%s needs text, not null (in %s)", fn, c.text(e))
		case o.isSQL() && o.kind != KindText:
			return nil, compileErrorf("%s needs text; %s is a %s field", fn, o.name, o.kind)
		case !o.isSQL():
			if err := c.checkStatic(o.param, KindText); err != nil {
				return nil, err
			}
		}
	}
	lf.left, lf.right = target.sql, arg.sql
	switch {
	case target.isSQL() && !arg.isSQL():
		lf.param = arg.param
		semiLeaf(lf, &lf.left, target)
	case !target.isSQL():
		lf.param, lf.paramIsTarget = target.param, true
		semiLeaf(lf, &lf.right, arg)
	}
	return lf, nil
}
