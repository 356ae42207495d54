package access

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

	"github.com/keep-dev/keep/internal/store"
)

// authVar is the name of the caller in expressions.
const authVar = "auth"

// The request in expressions: request.method and request.body are declared
// as two qualified variables, so the checker types them (a string and a
// map) and rejects any other request.x as an undeclared reference.
const (
	requestVar       = "request"
	requestMethodVar = "request.method"
	requestBodyVar   = "request.body"
)

// baseEnv is the CEL environment shared by every Compile: the standard
// library, cross-type numeric ordering (views > 500 on a double field) and
// the auth map. Building the standard library is the expensive part of
// cel.NewEnv, so it happens once; the result is immutable and cel.Env is safe
// for concurrent use, and each Compile extends it with its schema.
var baseEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.CrossTypeNumericComparisons(true),
		// Macro calls are recorded so an unsupported macro can be named in
		// the error instead of showing its expansion.
		cel.EnableMacroCallTracking(),
		cel.Variable(authVar, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(requestMethodVar, cel.StringType),
		cel.Variable(requestBodyVar, cel.MapType(cel.StringType, cel.DynType)),
	)
})

// celType is the CEL type a field of each kind has in expressions.
func celType(k FieldKind) *cel.Type {
	switch k {
	case KindText:
		return cel.StringType
	case KindNumber:
		return cel.DoubleType
	case KindBool:
		return cel.BoolType
	case KindDate:
		return cel.TimestampType
	case KindTextList:
		return cel.ListType(cel.StringType)
	default: // KindJSON
		return cel.DynType
	}
}

// Predicate is a compiled expression for one schema and dialect. Bind turns
// it into SQL for one caller. A Predicate is immutable and safe for
// concurrent use; the zero value is not usable (use Compile).
type Predicate struct {
	src     string
	dialect store.Dialect
	root    node
	// progs evaluate the request-time parts that read auth, one per slot,
	// planned at Compile time. Each is evaluated on its own so that an error
	// in one can be absorbed by && and || the way CEL absorbs it.
	progs []cel.Program
	// slotSrc is the source text of each slot, for error messages.
	slotSrc []string
	// authKeys are the custom auth fields the expression names; Bind sets
	// those the caller lacks to null.
	authKeys []string
	// readsRequest is set when some slot reads request.method or
	// request.body.
	readsRequest bool
	traversals   []Traversal
}

// Source returns the expression the predicate was compiled from.
func (p *Predicate) Source() string { return p.src }

// ReadsRequest reports whether the expression reads request.method or
// request.body. When it does not, Bind and BindRequest give the same result
// for every Request, so callers need not build one.
func (p *Predicate) ReadsRequest() bool { return p.readsRequest }

// Traversal is one relation lookup a predicate makes, as owner.team in
// `owner.team == auth.team`.
//
// Where the expression compares the traversal with request-time values or
// literals (owner.team == auth.team, owner.rank > 2, owner.team in [...],
// owner.title.startsWith("Go")), it compiles to a semi-join on the relation
// column, `"c_posts"."owner" IN (SELECT keep_rel1."id" FROM "c_users" AS
// keep_rel1 WHERE keep_rel1."team" = ?)`: an engine can find the matching
// targets through an index on the target's Column and then the records
// through the index on the relation column, so an index on Column bounds
// the cost. Elsewhere (a test for null such as owner.team == null, a
// comparison with a record field or another traversal) it compiles to a
// correlated subquery that finds the related record by its id, the target's
// primary key: one index probe per candidate row of the outer table, which
// an index on Column does not speed up; what bounds the cost there is how
// many outer rows the rest of the query leaves (LIMIT with an indexed ORDER
// BY stops early, a page that finds few matches reads the whole table). A
// caller that wants to warn about large scans can do so per Traversal.
type Traversal struct {
	// Relation is the relation field of the collection, as in "owner".
	Relation string
	// Table is the related collection's table (Target.Table), "c_users".
	Table string
	// Field and Column name the field read on the related record.
	Field  string
	Column string
}

// String returns "relation.field", as written in the expression.
func (t Traversal) String() string { return t.Relation + "." + t.Field }

// Traversals lists the relation lookups of the expression, each once,
// sorted by relation and field. It is nil for an expression that traverses
// no relation. The caller must not modify the result.
func (p *Predicate) Traversals() []Traversal { return p.traversals }

// compiler holds the state of one Compile call.
// MaxListTests bounds the `x in <list field>` tests in one expression.
const MaxListTests = 8

type compiler struct {
	listTests int // membership tests on list fields so far

	src     string
	fields  map[string]Field
	dialect store.Dialect
	lim     Limits
	env     *cel.Env
	ast     *celast.AST // parsed, then checked
	nextID  int64
	fac     celast.ExprFactory

	// refs records, per expression id, whether the subtree reads a record
	// field (and so must become SQL) or not (and so is a request-time value).
	refs map[int64]bool
	// readsCaller records, per expression id, whether the subtree reads auth
	// or request, and so must be evaluated per request.
	readsCaller map[int64]bool
	readsReq    bool

	authKeys map[string]bool
	dyn      []celast.Expr // request-time expressions that read auth or request, by slot

	schema Schema
	// trav maps the qualified name of each traversal used ("owner.team")
	// to the relation and target field; targets caches validated targets.
	trav    map[string]traversal
	targets map[string]map[string]Field
	aliases int // table aliases written so far
}

// traversal is one relation.field the expression reads.
type traversal struct {
	rel, target Field
	targetID    Field // the target's id field
}

// Compile parses and type-checks src against schema and translates it into a
// predicate for dialect d. Any problem with src is a *CompileError; an
// invalid schema or dialect is a plain error, since that is the caller's bug.
func Compile(src string, schema Schema, d store.Dialect, lim Limits) (*Predicate, error) {
	if d != store.SQLite && d != store.Postgres {
		return nil, fmt.Errorf("access: unsupported dialect %q", d)
	}
	fields, err := schema.index()
	if err != nil {
		return nil, err
	}
	lim = lim.withDefaults()
	// Checked before cel-go sees the text, so an oversized expression costs
	// nothing; the parser's own code point limit is a second line.
	if len(src) > lim.MaxLength {
		return nil, compileErrorf("expression longer than %d bytes", lim.MaxLength)
	}
	if strings.TrimSpace(src) == "" {
		return nil, compileErrorf("expression is empty")
	}
	base, err := baseEnv()
	if err != nil {
		return nil, fmt.Errorf("access: building CEL environment: %w", err)
	}
	opts := []cel.EnvOption{
		cel.ParserExpressionSizeLimit(lim.MaxLength),
		cel.ParserRecursionLimit(lim.MaxDepth),
	}
	for _, f := range schema.Fields {
		opts = append(opts, cel.Variable(f.Name, celType(f.Kind)))
	}
	env, err := base.Extend(opts...)
	if err != nil {
		return nil, fmt.Errorf("access: building CEL environment: %w", err)
	}

	parsed, iss := env.Parse(src)
	if iss.Err() != nil {
		return nil, issuesError(iss, lim)
	}
	c := &compiler{
		src:         src,
		fields:      fields,
		dialect:     d,
		lim:         lim,
		env:         env,
		ast:         parsed.NativeRep(),
		fac:         celast.NewExprFactory(),
		refs:        map[int64]bool{},
		readsCaller: map[int64]bool{},
		authKeys:    map[string]bool{},
		schema:      schema,
		trav:        map[string]traversal{},
		targets:     map[string]map[string]Field{},
	}
	c.nextID = celast.MaxID(c.ast) + 1
	if err := c.precheck(c.ast.Expr(), 1); err != nil {
		return nil, err
	}
	if len(c.trav) > 0 {
		if schema.Table == "" {
			return nil, errors.New("access: relation traversal needs Schema.Table")
		}
		// Each traversal is a qualified variable ("owner.team") of the
		// target field's type; the checker resolves owner.team to it before
		// it would try to select on the string owner.
		var vars []cel.EnvOption
		for name, t := range c.trav {
			vars = append(vars, cel.Variable(name, celType(t.target.Kind)))
		}
		if env, err = env.Extend(vars...); err != nil {
			return nil, fmt.Errorf("access: building CEL environment: %w", err)
		}
		c.env = env
	}
	checked, iss := env.Check(parsed)
	if iss.Err() != nil {
		return nil, issuesError(iss, lim)
	}
	c.ast = checked.NativeRep()
	out := checked.OutputType()
	if !out.IsExactType(types.BoolType) && !out.IsExactType(types.DynType) {
		return nil, compileErrorf("expression must be a condition (bool), not %s", out)
	}
	c.scan(c.ast.Expr())
	root, err := c.pred(c.ast.Expr())
	if err != nil {
		return nil, err
	}

	p := &Predicate{src: src, dialect: d, root: root, readsRequest: c.readsReq}
	for _, t := range c.trav {
		p.traversals = append(p.traversals, Traversal{Relation: t.rel.Name, Table: t.rel.Target.Table, Field: t.target.Name, Column: t.target.Column})
	}
	slices.SortFunc(p.traversals, func(a, b Traversal) int { return strings.Compare(a.String(), b.String()) })
	for _, e := range c.dyn {
		prog, err := c.program(e)
		if err != nil {
			return nil, fmt.Errorf("access: planning %q: %w", c.text(e), err)
		}
		p.progs = append(p.progs, prog)
		p.slotSrc = append(p.slotSrc, c.text(e))
	}
	for k := range c.authKeys {
		if k != "id" && k != "email" && k != "roles" {
			p.authKeys = append(p.authKeys, k)
		}
	}
	slices.Sort(p.authKeys)
	// A predicate without request-time values binds the same way for every
	// caller, so binding it once here surfaces any remaining problem as a
	// compile error rather than a per-request one.
	if len(p.progs) == 0 {
		if _, err := root.bind(&binder{d: d}); err != nil {
			var fe *fitError
			if errors.As(err, &fe) {
				return nil, &CompileError{Msg: fe.msg}
			}
			return nil, err
		}
	}
	return p, nil
}

// issuesError turns cel-go parse and check issues into a CompileError,
// reporting the first one with its position and operators in source form.
func issuesError(iss *cel.Issues, lim Limits) error {
	errs := iss.Errors()
	if len(errs) == 0 {
		return compileErrorf("%s", iss.Err())
	}
	e := errs[0]
	msg := e.Message
	switch {
	case strings.Contains(msg, "recursion limit exceeded"), strings.Contains(msg, "recursion depth exceeded"):
		return compileErrorf("expression nested deeper than %d levels", lim.MaxDepth)
	case strings.Contains(msg, "code point size exceeds limit"):
		return compileErrorf("expression longer than %d bytes", lim.MaxLength)
	case strings.Contains(msg, "expression count exceeds limit"):
		return compileErrorf("expression too large")
	}
	msg = strings.TrimPrefix(msg, "Syntax error: ")
	for _, op := range []string{
		operators.Equals, operators.NotEquals, operators.Less, operators.LessEquals,
		operators.Greater, operators.GreaterEquals, operators.Add, operators.Subtract,
		operators.Multiply, operators.Divide, operators.Modulo, operators.Negate,
		operators.LogicalAnd, operators.LogicalOr, operators.LogicalNot,
		operators.Conditional, operators.Index, operators.In,
	} {
		msg = strings.ReplaceAll(msg, "'"+op+"'", "'"+opName(op)+"'")
	}
	if loc := e.Location; loc != nil && loc.Line() > 0 {
		return compileErrorf("%s (line %d, column %d)", msg, loc.Line(), loc.Column()+1)
	}
	return compileErrorf("%s", msg)
}

// opName is how an operator is written in source, for error messages.
func opName(fn string) string {
	switch fn {
	case operators.In:
		return "in"
	case operators.Conditional:
		return "? :"
	case operators.Index:
		return "[]"
	case operators.Negate:
		return "-"
	case operators.LogicalNot:
		return "!"
	}
	if s, ok := operators.FindReverse(fn); ok {
		return s
	}
	return fn
}

// text returns the source text of e, for error messages about it. cel-go
// records only the position of each node's own token (the dot of a select,
// the parenthesis of a call), so the span is widened to cover the names and
// closing brackets around it.
func (c *compiler) text(e celast.Expr) string {
	runes := []rune(c.src)
	start, end := c.span(e, runes)
	if start < 0 || end > len(runes) || start >= end {
		return "expression"
	}
	return strings.TrimSpace(string(runes[start:end]))
}

func (c *compiler) span(e celast.Expr, runes []rune) (start, end int) {
	start, end = -1, -1
	if r, ok := c.ast.SourceInfo().GetOffsetRange(e.ID()); ok {
		start, end = int(r.Start), int(r.Stop)
	}
	for _, k := range children(e) {
		s, t := c.span(k, runes)
		if s >= 0 && (start < 0 || s < start) {
			start = s
		}
		if t > end {
			end = t
		}
	}
	if start < 0 || end > len(runes) {
		return -1, -1
	}
	isIdent := func(r rune) bool {
		return r == '_' || r == '`' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
	}
	closeAt := func(end int, close rune) int {
		for end < len(runes) && runes[end] != close {
			end++
		}
		return min(end+1, len(runes))
	}
	switch e.Kind() {
	case celast.IdentKind:
		// The checker turns request.body and owner.team into identifiers
		// with qualified names, positioned at their last dot.
		if strings.Contains(e.AsIdent(), ".") {
			for start > 0 && (isIdent(runes[start-1]) || runes[start-1] == '.') {
				start--
			}
			for end < len(runes) && (runes[end] == '.' || isIdent(runes[end])) {
				end++
			}
		}
	case celast.SelectKind:
		for end < len(runes) && (runes[end] == ' ' || runes[end] == '.') {
			end++
		}
		for end < len(runes) && isIdent(runes[end]) {
			end++
		}
	case celast.CallKind:
		call := e.AsCall()
		switch fn := call.FunctionName(); {
		case fn == operators.Index:
			end = closeAt(end, ']')
		case isOperator(fn):
		default:
			if !call.IsMemberFunction() {
				for start > 0 && (isIdent(runes[start-1]) || runes[start-1] == '.') {
					start--
				}
			}
			end = closeAt(end, ')')
		}
	case celast.ListKind:
		end = closeAt(end, ']')
	case celast.MapKind:
		end = closeAt(end, '}')
	}
	return start, end
}

func isOperator(fn string) bool {
	return strings.HasPrefix(fn, "_") || strings.HasSuffix(fn, "_") || fn == operators.In
}

// children lists the direct subexpressions of e.
func children(e celast.Expr) []celast.Expr {
	switch e.Kind() {
	case celast.CallKind:
		call := e.AsCall()
		if call.IsMemberFunction() {
			return append([]celast.Expr{call.Target()}, call.Args()...)
		}
		return call.Args()
	case celast.SelectKind:
		return []celast.Expr{e.AsSelect().Operand()}
	case celast.ListKind:
		return e.AsList().Elements()
	case celast.MapKind:
		var out []celast.Expr
		for _, en := range e.AsMap().Entries() {
			me := en.AsMapEntry()
			out = append(out, me.Key(), me.Value())
		}
		return out
	case celast.StructKind:
		var out []celast.Expr
		for _, f := range e.AsStruct().Fields() {
			out = append(out, f.AsStructField().Value())
		}
		return out
	case celast.ComprehensionKind:
		comp := e.AsComprehension()
		return []celast.Expr{comp.IterRange(), comp.AccuInit(), comp.LoopCondition(), comp.LoopStep(), comp.Result()}
	}
	return nil
}

// precheck walks the parsed (unchecked) AST. It enforces the depth limit,
// rejects what the translation never supports with messages that name the
// construct, collects the auth fields used and rewrites two spots where CEL's
// static types are stricter than Keep's columns:
//
//   - An int literal compared with a number field becomes a double literal,
//     so `views == 5` type-checks (CEL has no int == double overload) and is
//     bound as float64.
//   - A field compared with null is wrapped in dyn(), since CEL's string,
//     double, bool and list types have no null but Keep's columns do.
func (c *compiler) precheck(e celast.Expr, depth int) error {
	if depth > c.lim.MaxDepth {
		return compileErrorf("expression nested deeper than %d levels", c.lim.MaxDepth)
	}
	switch e.Kind() {
	case celast.IdentKind:
		name := e.AsIdent()
		if name == authVar {
			return compileErrorf(`auth can only be used with a field name, as in auth.id or auth["name"]`)
		}
		if name == requestVar {
			return compileErrorf(`request can only be used as request.method or request.body`)
		}
		if _, ok := c.fields[name]; !ok {
			return compileErrorf("unknown field %q", name)
		}
		return nil
	case celast.SelectKind:
		sel := e.AsSelect()
		op := sel.Operand()
		if sel.IsTestOnly() {
			return c.precheckHas(e, depth)
		}
		if isIdent(op, authVar) {
			c.authKeys[sel.FieldName()] = true
			return nil
		}
		if isIdent(op, requestVar) {
			if f := sel.FieldName(); f != "method" && f != "body" {
				return compileErrorf("unknown request field %q: expressions can read request.method and request.body", f)
			}
			return nil
		}
		if rel, ok := c.fieldIdent(op); ok && rel.Target != nil {
			return c.traverse(e, rel)
		}
		if op.Kind() == celast.SelectKind {
			if rel, ok := c.fieldIdent(op.AsSelect().Operand()); ok && rel.Target != nil {
				return compileErrorf("only one level of relation traversal is supported (in %s)", c.text(e))
			}
		}
		return c.precheck(op, depth+1)
	case celast.ComprehensionKind:
		if call, ok := c.ast.SourceInfo().GetMacroCall(e.ID()); ok && call.Kind() == celast.CallKind {
			return compileErrorf("macro %q is not supported", call.AsCall().FunctionName())
		}
		return compileErrorf("macros are not supported")
	case celast.StructKind:
		return compileErrorf("message literals are not supported")
	case celast.CallKind:
		call := e.AsCall()
		fn := call.FunctionName()
		if fn == "matches" {
			return compileErrorf(`function "matches" is not supported`)
		}
		if !c.env.HasFunction(fn) {
			return compileErrorf("unknown function %q", fn)
		}
		args := call.Args()
		if fn == operators.Index && len(args) == 2 && args[0].Kind() == celast.IdentKind && args[0].AsIdent() == authVar {
			key, ok := stringLiteral(args[1])
			if !ok {
				return compileErrorf(`auth fields must be named by a string literal, as in auth["name"]`)
			}
			c.authKeys[key] = true
			return nil
		}
		switch fn {
		case operators.Add, operators.Subtract, operators.Multiply, operators.Divide,
			operators.Modulo, operators.Negate, operators.Conditional, operators.Index:
			// Caught here because the checker would otherwise report
			// `views + 1` as a missing (double, int) overload.
			for _, a := range args {
				if c.mentionsField(a) {
					return c.unsupported(e)
				}
			}
		}
		c.rewrite(fn, args)
	}
	for _, k := range children(e) {
		if err := c.precheck(k, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func isIdent(e celast.Expr, name string) bool {
	return e.Kind() == celast.IdentKind && e.AsIdent() == name
}

// precheckHas checks has(e). It is supported where presence means something
// a rule needs: a field of request.body (was it submitted?) and auth
// fields. Record fields have no presence apart from null.
//
// has(auth.x) is rewritten to auth.x != null. Auth fields the caller lacks
// read as null (see Auth), so for auth, present and non-null are the same.
// has(auth.id), has(auth.email) and has(auth.roles) are always true.
func (c *compiler) precheckHas(e celast.Expr, depth int) error {
	sel := e.AsSelect()
	op := sel.Operand()
	if isIdent(op, authVar) {
		c.authKeys[sel.FieldName()] = true
		field := c.fac.NewSelect(c.newID(), c.fac.NewIdent(c.newID(), authVar), sel.FieldName())
		e.SetKindCase(c.fac.NewCall(e.ID(), operators.NotEquals, field, c.fac.NewLiteral(c.newID(), types.NullValue)))
		return nil
	}
	if inBody(op) {
		return c.precheck(op, depth+1)
	}
	return compileErrorf("has() is only supported on fields of request.body and auth, as in has(request.body.status); compare record fields with null instead")
}

// inBody reports whether a parsed expression is request.body or selects or
// indexes inside it.
func inBody(e celast.Expr) bool {
	for {
		switch e.Kind() {
		case celast.SelectKind:
			sel := e.AsSelect()
			if sel.IsTestOnly() {
				return false
			}
			if isIdent(sel.Operand(), requestVar) {
				return sel.FieldName() == "body"
			}
			e = sel.Operand()
		case celast.CallKind:
			call := e.AsCall()
			if call.FunctionName() != operators.Index || len(call.Args()) != 2 {
				return false
			}
			e = call.Args()[0]
		default:
			return false
		}
	}
}

// traverse checks rel.x, where rel is a relation field with a Target, and
// records the traversal. rel.id is rewritten to rel itself: the relation
// column holds the target's id, so no lookup is needed.
func (c *compiler) traverse(e celast.Expr, rel Field) error {
	sel := e.AsSelect()
	if rel.Kind != KindText {
		return compileErrorf("only single relations can be traversed; %s is a list (in %s)", rel.Name, c.text(e))
	}
	fields, ok := c.targets[rel.Name]
	if !ok {
		var err error
		if fields, err = targetIndex(rel); err != nil {
			return err
		}
		c.targets[rel.Name] = fields
	}
	name := sel.FieldName()
	f, ok := fields[name]
	if !ok {
		return compileErrorf("unknown field %q in relation %s", name, rel.Name)
	}
	if name == "id" {
		e.SetKindCase(c.fac.NewIdent(e.ID(), rel.Name))
		return nil
	}
	c.trav[rel.Name+"."+name] = traversal{rel: rel, target: f, targetID: fields["id"]}
	return nil
}

// mentionsField reports whether a parsed subexpression names a record field.
func (c *compiler) mentionsField(e celast.Expr) bool {
	if _, ok := c.fieldIdent(e); ok {
		return true
	}
	for _, k := range children(e) {
		if c.mentionsField(k) {
			return true
		}
	}
	return false
}

// authField returns the name of the auth field e reads, if e is exactly
// auth.name or auth["name"].
func authField(e celast.Expr) (string, bool) {
	isAuth := func(e celast.Expr) bool { return e.Kind() == celast.IdentKind && e.AsIdent() == authVar }
	switch e.Kind() {
	case celast.SelectKind:
		if sel := e.AsSelect(); !sel.IsTestOnly() && isAuth(sel.Operand()) {
			return sel.FieldName(), true
		}
	case celast.CallKind:
		if call := e.AsCall(); call.FunctionName() == operators.Index && len(call.Args()) == 2 && isAuth(call.Args()[0]) {
			return stringLiteral(call.Args()[1])
		}
	}
	return "", false
}

func stringLiteral(e celast.Expr) (string, bool) {
	if e.Kind() != celast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}

// fieldIdent returns the field e names, if e is a bare field reference.
func (c *compiler) fieldIdent(e celast.Expr) (Field, bool) {
	if e.Kind() != celast.IdentKind {
		return Field{}, false
	}
	f, ok := c.fields[e.AsIdent()]
	return f, ok
}

func isNullLiteral(e celast.Expr) bool {
	return e.Kind() == celast.LiteralKind && e.AsLiteral() == types.NullValue
}

// fieldRef returns the field a parsed expression reads, if it is a bare
// field reference or a traversal rel.x of a relation with a Target (then
// the field is the target's; the traversal itself is checked by precheck).
func (c *compiler) fieldRef(e celast.Expr) (Field, bool) {
	if f, ok := c.fieldIdent(e); ok {
		return f, true
	}
	if e.Kind() != celast.SelectKind || e.AsSelect().IsTestOnly() {
		return Field{}, false
	}
	sel := e.AsSelect()
	rel, ok := c.fieldIdent(sel.Operand())
	if !ok || rel.Target == nil {
		return Field{}, false
	}
	for _, f := range rel.Target.Fields {
		if f.Name == sel.FieldName() {
			return f, true
		}
	}
	return Field{}, false
}

// copyRef copies a field reference made of idents and selects, for the dyn()
// rewrite.
func (c *compiler) copyRef(e celast.Expr) celast.Expr {
	if e.Kind() == celast.SelectKind {
		return c.fac.NewSelect(c.newID(), c.copyRef(e.AsSelect().Operand()), e.AsSelect().FieldName())
	}
	return c.fac.NewIdent(c.newID(), e.AsIdent())
}

// rewrite applies the two rewrites described at precheck to a call's
// arguments, in place.
func (c *compiler) rewrite(fn string, args []celast.Expr) {
	if len(args) != 2 {
		return
	}
	switch fn {
	case operators.Equals, operators.NotEquals:
		for i := range 2 {
			if _, ok := c.fieldRef(args[i]); ok && isNullLiteral(args[1-i]) {
				args[i].SetKindCase(c.fac.NewCall(c.newID(), "dyn", c.copyRef(args[i])))
				return
			}
		}
		fallthrough
	case operators.Less, operators.LessEquals, operators.Greater, operators.GreaterEquals:
		for i := range 2 {
			if f, ok := c.fieldRef(args[i]); ok && f.Kind == KindNumber {
				c.toDouble(args[1-i])
			}
		}
	case operators.In:
		if f, ok := c.fieldRef(args[0]); ok && f.Kind == KindNumber && args[1].Kind() == celast.ListKind {
			for _, el := range args[1].AsList().Elements() {
				c.toDouble(el)
			}
		}
	}
}

// toDouble turns an int or uint literal into the equal double literal.
func (c *compiler) toDouble(e celast.Expr) {
	if e.Kind() != celast.LiteralKind {
		return
	}
	var d types.Double
	switch v := e.AsLiteral().(type) {
	case types.Int:
		d = types.Double(v)
	case types.Uint:
		d = types.Double(v)
	default:
		return
	}
	e.SetKindCase(c.fac.NewLiteral(e.ID(), d))
}

func (c *compiler) newID() int64 {
	id := c.nextID
	c.nextID++
	return id
}

// scan fills c.refs and c.readsCaller for the checked AST. In the checked
// AST, request.method, request.body and traversals such as owner.team are
// identifiers with qualified names.
func (c *compiler) scan(e celast.Expr) (refs, auth bool) {
	switch e.Kind() {
	case celast.IdentKind:
		name := e.AsIdent()
		_, refs = c.fields[name]
		if _, ok := c.trav[name]; ok {
			refs = true
		}
		switch name {
		case authVar:
			auth = true
		case requestMethodVar, requestBodyVar:
			auth = true
			c.readsReq = true
		}
	default:
		for _, k := range children(e) {
			r, a := c.scan(k)
			refs = refs || r
			auth = auth || a
		}
	}
	c.refs[e.ID()] = refs
	c.readsCaller[e.ID()] = auth
	return refs, auth
}

// subAST makes a checked AST of one subexpression, sharing the type and
// reference maps of the whole, so it can be planned as its own program.
func (c *compiler) subAST(e celast.Expr) *celast.AST {
	return celast.NewCheckedAST(celast.NewAST(e, c.ast.SourceInfo()), c.ast.TypeMap(), c.ast.ReferenceMap())
}

func (c *compiler) program(e celast.Expr) (cel.Program, error) {
	return c.env.PlanProgram(c.subAST(e))
}

// param makes a request-time value of e, which reads no record field. Values
// that do not read auth either are constants: literals are taken as they
// are and anything else is evaluated now, so `timestamp("junk")` fails at
// Compile rather than at every request.
func (c *compiler) param(e celast.Expr) (*param, error) {
	p := &param{src: c.text(e), slot: -1}
	if e.Kind() == celast.LiteralKind {
		p.value = e.AsLiteral()
		return p, nil
	}
	if c.readsCaller[e.ID()] {
		key, ok := authField(e)
		p.emptyIsNull = ok && (key == "id" || key == "email")
		p.slot = len(c.dyn)
		c.dyn = append(c.dyn, e)
		return p, nil
	}
	prog, err := c.program(e)
	if err != nil {
		return nil, fmt.Errorf("access: planning %q: %w", p.src, err)
	}
	v, _, err := prog.Eval(cel.NoVars())
	if err != nil {
		return nil, compileErrorf("%s: %v", p.src, err)
	}
	p.value = v
	return p, nil
}

// unsupported explains why a subexpression that reads record fields cannot
// be translated.
func (c *compiler) unsupported(e celast.Expr) error {
	switch e.Kind() {
	case celast.CallKind:
		fn := e.AsCall().FunctionName()
		switch fn {
		case operators.Conditional:
			return compileErrorf(`the conditional operator "? :" is not supported on record fields`)
		case operators.Index:
			return compileErrorf("indexing record fields is not supported (in %s)", c.text(e))
		}
		if isOperator(fn) {
			return compileErrorf("operator %q is not supported on record fields (in %s)", opName(fn), c.text(e))
		}
		return compileErrorf("function %q is not supported on record fields (in %s)", fn, c.text(e))
	case celast.SelectKind:
		return compileErrorf("selecting inside record fields is not supported (in %s)", c.text(e))
	case celast.ListKind, celast.MapKind:
		return compileErrorf("list and map literals may not contain record fields (in %s)", c.text(e))
	}
	return compileErrorf("%s is not supported", c.text(e))
}

// valueToBool is used for request-time values in condition position.
func valueToBool(v ref.Val) (bool, bool) {
	b, ok := v.(types.Bool)
	return bool(b), ok
}
