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
}

// Source returns the expression the predicate was compiled from.
func (p *Predicate) Source() string { return p.src }

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
	// readsAuth records, per expression id, whether the subtree reads auth.
	readsAuth map[int64]bool

	authKeys map[string]bool
	dyn      []celast.Expr // request-time expressions that read auth, by slot
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
		src:       src,
		fields:    fields,
		dialect:   d,
		lim:       lim,
		env:       env,
		ast:       parsed.NativeRep(),
		fac:       celast.NewExprFactory(),
		refs:      map[int64]bool{},
		readsAuth: map[int64]bool{},
		authKeys:  map[string]bool{},
	}
	c.nextID = celast.MaxID(c.ast) + 1
	if err := c.precheck(c.ast.Expr(), 1); err != nil {
		return nil, err
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

	p := &Predicate{src: src, dialect: d, root: root}
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
		if _, ok := c.fields[name]; !ok {
			return compileErrorf("unknown field %q", name)
		}
		return nil
	case celast.SelectKind:
		sel := e.AsSelect()
		if sel.IsTestOnly() {
			return compileErrorf("has() is not supported; compare with null instead, as in auth.%s != null", sel.FieldName())
		}
		if op := sel.Operand(); op.Kind() == celast.IdentKind && op.AsIdent() == authVar {
			c.authKeys[sel.FieldName()] = true
			return nil
		}
		return c.precheck(sel.Operand(), depth+1)
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

// rewrite applies the two rewrites described at precheck to a call's
// arguments, in place.
func (c *compiler) rewrite(fn string, args []celast.Expr) {
	if len(args) != 2 {
		return
	}
	switch fn {
	case operators.Equals, operators.NotEquals:
		for i := range 2 {
			if _, ok := c.fieldIdent(args[i]); ok && isNullLiteral(args[1-i]) {
				ident := c.fac.NewIdent(c.newID(), args[i].AsIdent())
				args[i].SetKindCase(c.fac.NewCall(c.newID(), "dyn", ident))
				return
			}
		}
		fallthrough
	case operators.Less, operators.LessEquals, operators.Greater, operators.GreaterEquals:
		for i := range 2 {
			if f, ok := c.fieldIdent(args[i]); ok && f.Kind == KindNumber {
				c.toDouble(args[1-i])
			}
		}
	case operators.In:
		if f, ok := c.fieldIdent(args[0]); ok && f.Kind == KindNumber && args[1].Kind() == celast.ListKind {
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

// scan fills c.refs and c.readsAuth for the checked AST.
func (c *compiler) scan(e celast.Expr) (refs, auth bool) {
	switch e.Kind() {
	case celast.IdentKind:
		name := e.AsIdent()
		_, refs = c.fields[name]
		auth = name == authVar
	default:
		for _, k := range children(e) {
			r, a := c.scan(k)
			refs = refs || r
			auth = auth || a
		}
	}
	c.refs[e.ID()] = refs
	c.readsAuth[e.ID()] = auth
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
	if c.readsAuth[e.ID()] {
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
