package access

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"

	"github.com/keep-dev/keep/internal/store"
)

// This file holds the compiled form of a predicate: a tree of nodes whose
// SQL text is fixed at Compile time except for folding. Bind walks it once
// per caller: request-time values become `?` arguments, and conditions whose
// truth is known without the database (a false branch of &&, a null compared
// with a column) fold away. No value is ever written into the text.

// param is a request-time value: a constant known at Compile time (slot < 0)
// or the result of evaluating program slot for the caller.
type param struct {
	src   string
	slot  int
	value ref.Val
	// emptyIsNull is set when the value is auth.id or auth.email itself.
	// They are "" for anonymous callers, and a caller without an identity
	// must not match records whose column holds "" (an empty owner, say),
	// so against a column "" binds as NULL and matches nothing.
	emptyIsNull bool
}

// binder carries one Bind call: the dialect and the evaluated slots.
type binder struct {
	d    store.Dialect
	vals []ref.Val
}

func (b *binder) value(p *param) ref.Val {
	if p.slot < 0 {
		return p.value
	}
	v := b.vals[p.slot]
	if p.emptyIsNull && v == types.String("") {
		return types.NullValue
	}
	return v
}

// frag is a bound node: SQL with its arguments, or a truth value known
// without the database.
type frag struct {
	sql      string
	args     []any
	known    bool
	value    bool
	compound bool // sql is an AND/OR list: parenthesise inside other operators
}

func knownFrag(v bool) frag { return frag{known: true, value: v} }

// node is one part of a compiled predicate.
type node interface {
	bind(b *binder) (frag, error)
}

// fitError is a request-time value that does not fit where it is used.
// Bind reports it wrapped in ErrBind; for constants, Compile reports it as a
// CompileError.
type fitError struct{ msg string }

func (e *fitError) Error() string { return e.msg }

func fitErrorf(format string, args ...any) error {
	return &fitError{msg: fmt.Sprintf(format, args...)}
}

// constNode is a condition known at Compile time.
type constNode bool

func (n constNode) bind(*binder) (frag, error) { return knownFrag(bool(n)), nil }

// boolParam is a request-time condition such as "editor" in auth.roles.
type boolParam struct{ p *param }

func (n *boolParam) bind(b *binder) (frag, error) {
	v := b.value(n.p)
	if err := valueError(v, n.p.src); err != nil {
		return frag{}, err
	}
	bv, ok := valueToBool(v)
	if !ok {
		return frag{}, fitErrorf("%s is %s, not a condition (bool)", n.p.src, typeName(v))
	}
	return knownFrag(bv), nil
}

// notNode is !kid. A NULL inside counts as false, so that !(views > 500)
// holds for rows where views is NULL, as "not more than 500" should.
type notNode struct{ kid node }

func (n *notNode) bind(b *binder) (frag, error) {
	f, err := n.kid.bind(b)
	if err != nil {
		return frag{}, err
	}
	if f.known {
		return knownFrag(!f.value), nil
	}
	return frag{sql: "NOT COALESCE(" + f.sql + ", FALSE)", args: f.args}, nil
}

// logicNode is a flattened chain of && or ||. Known children fold: false
// decides an AND, true decides an OR. As in CEL, a deciding child wins
// over an error in another child, whichever comes first.
type logicNode struct {
	and  bool
	kids []node
}

func (n *logicNode) bind(b *binder) (frag, error) {
	var parts []frag
	var firstErr error
	for _, k := range n.kids {
		f, err := k.bind(b)
		switch {
		case err != nil:
			if firstErr == nil {
				firstErr = err
			}
		case f.known && f.value != n.and:
			return f, nil // false in an AND, true in an OR
		case f.known:
			// true in an AND, false in an OR: no effect
		default:
			parts = append(parts, f)
		}
	}
	if firstErr != nil {
		return frag{}, firstErr
	}
	switch len(parts) {
	case 0:
		return knownFrag(n.and), nil
	case 1:
		return parts[0], nil
	}
	sep := " OR "
	if n.and {
		sep = " AND "
	}
	var sb strings.Builder
	var args []any
	for i, p := range parts {
		if i > 0 {
			sb.WriteString(sep)
		}
		if p.compound {
			sb.WriteString("(" + p.sql + ")")
		} else {
			sb.WriteString(p.sql)
		}
		args = append(args, p.args...)
	}
	return frag{sql: sb.String(), args: args, compound: true}, nil
}

type leafKind int

const (
	leafBoolColumn leafKind = iota // a bool field used as a condition
	leafNull                       // x == null, x != null
	leafCompare                    // x op value, x op y
	leafInValues                   // x in [a, b, c]
	leafInList                     // x in <request-time list>
	leafListHas                    // value in <list field>
	leafString                     // startsWith, endsWith, contains
)

// leaf is a condition that reads record fields. Which fields are used
// depends on kind; see the constructors in translate.go.
type leaf struct {
	kind  leafKind
	left  string    // SQL of the field side (the target for string functions)
	right string    // SQL of a second field side, if any
	vkind FieldKind // kind of left, for binding values
	op    string    // SQL comparison operator
	not   bool      // IS NOT NULL rather than IS NULL
	fn    string    // startsWith, endsWith or contains

	param         *param   // the request-time side, if any
	params        []*param // elements of a list literal
	paramIsTarget bool     // for string functions: param is the target
	// blind, for a comparison with an encrypted field, turns the value into
	// the blind index that left (the blind-index column) holds.
	blind func(any) (string, error)

	// semi, when set, makes the leaf a semi-join on a traversal: its field
	// side (left, or right when paramIsTarget) is written on the target
	// column, and bind wraps the condition in semi.
	semi *semiJoin
}

// semiJoin is how a leaf that compares one traversal with request-time
// values is written: `owner.team == auth.team` becomes
//
//	"c_posts"."owner" IN (SELECT keep_rel1."id" FROM "c_users" AS keep_rel1 WHERE keep_rel1."team" = ?)
//
// rather than the correlated scalar subquery of compiler.ref compared with
// ?, so an engine can look the matching targets up in an index on the
// target column and the records by the index on the relation column,
// instead of probing the target once per outer row.
//
// The two forms differ only where one is NULL and the other FALSE: for a
// record whose relation is NULL the semi-join is NULL (or FALSE when no
// target matches), where the scalar form is the condition on NULL, which is
// NULL or FALSE for every leaf that uses a semi-join. They agree on every
// row where either is TRUE: the target's id is its primary key, so the
// relation matches at most one target, and the semi-join is TRUE exactly
// when that target exists and the condition on its column is TRUE, which is
// when the scalar form is TRUE. A dangling relation finds no target in
// either form. Keep's predicates only ever ask whether a condition is TRUE:
// AND and OR give TRUE for the same rows whether a part is NULL or FALSE,
// and ! is NOT COALESCE(e, FALSE), which maps NULL and FALSE alike.
//
// Tests for NULL (owner.team == null is TRUE for a record without an
// owner, which the semi-join could not be) and comparisons between two
// fields keep the scalar form.
type semiJoin struct {
	outer string // the relation column, "c_posts"."owner"
	from  string // keep_rel1."id" FROM "c_users" AS keep_rel1
}

// wrap puts a bound condition on the target column inside the semi-join.
// A known condition stays as it is: the scalar form would not read the
// column either.
func (s *semiJoin) wrap(f frag) frag {
	if f.known {
		return f
	}
	return frag{sql: s.outer + " IN (SELECT " + s.from + " WHERE " + f.sql + ")", args: f.args}
}

const ms = time.Millisecond

func (l *leaf) bind(b *binder) (frag, error) {
	f, err := l.bindLeaf(b)
	if err != nil || l.semi == nil {
		return f, err
	}
	return l.semi.wrap(f), nil
}

func (l *leaf) bindLeaf(b *binder) (frag, error) {
	switch l.kind {
	case leafBoolColumn:
		return frag{sql: l.left + " = TRUE"}, nil
	case leafNull:
		if l.not {
			return frag{sql: l.left + " IS NOT NULL"}, nil
		}
		return frag{sql: l.left + " IS NULL"}, nil
	case leafCompare:
		return l.bindCompare(b)
	case leafInValues:
		return l.bindInValues(b)
	case leafInList:
		return l.bindInList(b)
	case leafListHas:
		return l.bindListHas(b)
	case leafString:
		return l.bindString(b)
	}
	return frag{}, fmt.Errorf("access: unknown leaf kind %d", l.kind)
}

// placeholder is `?`, typed where PostgreSQL could not infer a type the
// value fits: size() is an integer, but may be compared with 2.5.
func (l *leaf) placeholder(b *binder) string {
	if l.vkind == kindInteger && b.d == store.Postgres {
		return "CAST(? AS DOUBLE PRECISION)"
	}
	return "?"
}

func (l *leaf) bindCompare(b *binder) (frag, error) {
	lhs := l.left
	if l.vkind == KindText && l.op != "=" && l.op != "<>" && b.d == store.Postgres {
		// CEL orders strings by code point; "C" is byte order, which for
		// UTF-8 is code point order. The database default collation is not.
		lhs += ` COLLATE "C"`
	}
	if l.param == nil {
		return frag{sql: lhs + " " + l.op + " " + l.right}, nil
	}
	arg, null, err := convert(b.value(l.param), l.vkind, l.param.src)
	if err != nil {
		return frag{}, err
	}
	if null {
		// A comparison with NULL is never true.
		return knownFrag(false), nil
	}
	if l.blind != nil {
		idx, err := l.blind(arg)
		if err != nil {
			return frag{}, fitErrorf("%s: %v", l.param.src, err)
		}
		return frag{sql: l.left + " " + l.op + " ?", args: []any{idx}}, nil
	}
	if l.vkind == KindDate && b.d == store.SQLite {
		t := arg.(time.Time).UTC()
		aligned := t.Truncate(ms).Equal(t)
		// The column holds milliseconds; round the bound so that the text
		// comparison gives the same answer as comparing instants.
		switch l.op {
		case "=":
			if !aligned {
				return knownFrag(false), nil
			}
		case "<>":
			if !aligned {
				return frag{sql: l.left + " IS NOT NULL"}, nil
			}
		case ">=", "<":
			if !aligned {
				t = t.Truncate(ms).Add(ms)
			}
		}
		arg = t.Truncate(ms).Format(DateLayout)
	}
	return frag{sql: lhs + " " + l.op + " " + l.placeholder(b), args: []any{arg}}, nil
}

// sqliteDate formats t for a SQLite date column, reporting false when t has
// sub-millisecond precision and so cannot equal any stored value.
func sqliteDate(t time.Time) (string, bool) {
	t = t.UTC()
	if !t.Truncate(ms).Equal(t) {
		return "", false
	}
	return t.Format(DateLayout), true
}

func (l *leaf) bindInValues(b *binder) (frag, error) {
	var args []any
	for _, p := range l.params {
		arg, null, err := convert(b.value(p), l.vkind, p.src)
		if err != nil {
			return frag{}, err
		}
		if null {
			continue // null equals no column value
		}
		if l.vkind == KindDate && b.d == store.SQLite {
			s, ok := sqliteDate(arg.(time.Time))
			if !ok {
				continue
			}
			arg = s
		}
		args = append(args, arg)
	}
	switch len(args) {
	case 0:
		return knownFrag(false), nil
	case 1:
		return frag{sql: l.left + " = " + l.placeholder(b), args: args}, nil
	}
	ph := l.placeholder(b)
	return frag{sql: l.left + " IN (" + ph + strings.Repeat(", "+ph, len(args)-1) + ")", args: args}, nil
}

func (l *leaf) bindInList(b *binder) (frag, error) {
	vals, err := convertList(b.value(l.param), l.vkind, l.param.src)
	if err != nil {
		return frag{}, err
	}
	if b.d == store.SQLite {
		enc, n := sqliteJSONList(vals, l.vkind)
		if n == 0 {
			return knownFrag(false), nil
		}
		return frag{sql: l.left + " IN (SELECT value FROM json_each(?))", args: []any{enc}}, nil
	}
	if len(vals) == 0 {
		return knownFrag(false), nil
	}
	// PostgreSQL: one array parameter. pgx encodes Go slices as arrays and
	// the server infers the element type from the column.
	var arg any
	ph := "?"
	switch l.vkind {
	case KindText:
		s := make([]string, len(vals))
		for i, v := range vals {
			s[i] = v.(string)
		}
		arg = s
	case KindNumber, kindInteger:
		s := make([]float64, len(vals))
		for i, v := range vals {
			s[i] = v.(float64)
		}
		arg = s
		if l.vkind == kindInteger {
			ph = "CAST(? AS DOUBLE PRECISION[])"
		}
	case KindBool:
		s := make([]bool, len(vals))
		for i, v := range vals {
			s[i] = v.(bool)
		}
		arg = s
	case KindDate:
		s := make([]time.Time, len(vals))
		for i, v := range vals {
			s[i] = v.(time.Time)
		}
		arg = s
	}
	return frag{sql: l.left + " = ANY(" + ph + ")", args: []any{arg}}, nil
}

// sqliteJSONList encodes converted values as the JSON array json_each reads,
// returning how many elements it holds.
func sqliteJSONList(vals []any, k FieldKind) (string, int) {
	var sb strings.Builder
	sb.WriteByte('[')
	n := 0
	for _, v := range vals {
		var item string
		switch x := v.(type) {
		case string:
			enc, _ := json.Marshal(x) // a string always encodes
			item = string(enc)
		case float64:
			switch {
			case math.IsNaN(x):
				continue // NaN equals nothing
			case math.IsInf(x, 1):
				item = "9e999" // SQLite reads this as +Inf
			case math.IsInf(x, -1):
				item = "-9e999"
			default:
				item = strconv.FormatFloat(x, 'g', -1, 64)
			}
		case bool:
			item = strconv.FormatBool(x)
		case time.Time:
			s, ok := sqliteDate(x)
			if !ok {
				continue
			}
			enc, _ := json.Marshal(s)
			item = string(enc)
		}
		if n > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(item)
		n++
	}
	sb.WriteByte(']')
	return sb.String(), n
}

// sqliteListValues lists the elements of a SQLite JSON list column. The
// column goes through a derived table because json_each has columns named
// id, key, value, json, root and more, and an unqualified column name inside
// its scope would resolve to those instead of the record's.
func sqliteListValues(col string) string {
	return "(SELECT value FROM (SELECT " + col + " AS l) AS keep_list, json_each(keep_list.l))"
}

func (l *leaf) bindListHas(b *binder) (frag, error) {
	if l.param == nil {
		if b.d == store.SQLite {
			return frag{sql: l.right + " IN " + sqliteListValues(l.left)}, nil
		}
		return frag{sql: "jsonb_exists(" + l.left + ", " + l.right + ")"}, nil
	}
	arg, null, err := convert(b.value(l.param), KindText, l.param.src)
	if err != nil {
		return frag{}, err
	}
	if null {
		return knownFrag(false), nil
	}
	if b.d == store.SQLite {
		return frag{sql: "? IN " + sqliteListValues(l.left), args: []any{arg}}, nil
	}
	// @> can use a GIN index on the column; the cast tells PostgreSQL the
	// type of an argument of the variadic jsonb_build_array.
	return frag{sql: l.left + " @> jsonb_build_array(CAST(? AS TEXT))", args: []any{arg}}, nil
}

// bindString translates startsWith, endsWith and contains. LIKE is never
// used: it is case-insensitive on SQLite and treats % and _ as wildcards,
// where CEL compares exactly. Where the argument is known, its length in
// characters is computed here and bound as a number.
func (l *leaf) bindString(b *binder) (frag, error) {
	pg := b.d == store.Postgres
	if l.param == nil { // both sides are fields
		a, x := l.left, l.right
		switch {
		case l.fn == "startsWith" && pg:
			return frag{sql: "starts_with(" + a + ", " + x + ")"}, nil
		case l.fn == "startsWith":
			return frag{sql: "substr(" + a + ", 1, length(" + x + ")) = " + x}, nil
		case l.fn == "endsWith" && pg:
			return frag{sql: "right(" + a + ", char_length(" + x + ")) = " + x}, nil
		case l.fn == "endsWith":
			return frag{sql: "substr(" + a + ", length(" + a + ") - length(" + x + ") + 1) = " + x}, nil
		case pg:
			return frag{sql: "strpos(" + a + ", " + x + ") > 0"}, nil
		default:
			return frag{sql: "instr(" + a + ", " + x + ") > 0"}, nil
		}
	}
	arg, null, err := convert(b.value(l.param), KindText, l.param.src)
	if err != nil {
		return frag{}, err
	}
	if null {
		return knownFrag(false), nil
	}
	s := arg.(string)
	n := int64(utf8.RuneCountInString(s))
	if l.paramIsTarget { // "literal".fn(field)
		x := l.right
		switch {
		case l.fn == "startsWith" && pg:
			return frag{sql: "starts_with(CAST(? AS TEXT), " + x + ")", args: []any{s}}, nil
		case l.fn == "startsWith":
			return frag{sql: "substr(?, 1, length(" + x + ")) = " + x, args: []any{s}}, nil
		case l.fn == "endsWith" && pg:
			return frag{sql: "right(CAST(? AS TEXT), char_length(" + x + ")) = " + x, args: []any{s}}, nil
		case l.fn == "endsWith":
			return frag{sql: "substr(?, ? - length(" + x + ") + 1) = " + x, args: []any{s, n}}, nil
		case pg:
			return frag{sql: "strpos(CAST(? AS TEXT), " + x + ") > 0", args: []any{s}}, nil
		default:
			return frag{sql: "instr(?, " + x + ") > 0", args: []any{s}}, nil
		}
	}
	a := l.left
	if s == "" {
		// Every string starts with, ends with and contains "", but a NULL
		// column is not a string.
		return frag{sql: a + " IS NOT NULL"}, nil
	}
	switch {
	case l.fn == "startsWith" && pg:
		return frag{sql: "starts_with(" + a + ", ?)", args: []any{s}}, nil
	case l.fn == "startsWith":
		return frag{sql: "substr(" + a + ", 1, ?) = ?", args: []any{n, s}}, nil
	case l.fn == "endsWith" && pg:
		return frag{sql: "right(" + a + ", ?) = ?", args: []any{n, s}}, nil
	case l.fn == "endsWith":
		return frag{sql: "substr(" + a + ", -?) = ?", args: []any{n, s}}, nil
	case pg:
		return frag{sql: "strpos(" + a + ", ?) > 0", args: []any{s}}, nil
	default:
		return frag{sql: "instr(" + a + ", ?) > 0", args: []any{s}}, nil
	}
}

// valueError reports an evaluation error of a request-time value.
func valueError(v ref.Val, src string) error {
	if types.IsError(v) {
		return fitErrorf("%s: %v", src, v)
	}
	if types.IsUnknown(v) {
		return fitErrorf("%s: value unknown", src)
	}
	return nil
}

func typeName(v ref.Val) string {
	switch v.Type() {
	case types.StringType:
		return "text"
	case types.DoubleType, types.IntType, types.UintType:
		return "a number"
	case types.BoolType:
		return "a bool"
	case types.TimestampType:
		return "a timestamp"
	case types.NullType:
		return "null"
	case types.ListType:
		return "a list"
	case types.MapType:
		return "a map"
	}
	return v.Type().TypeName()
}

// convert turns a request-time value into the Go argument for a column of
// kind k: string, float64, bool or time.Time. Null converts to (nil, true).
// Ints become float64 so that they compare with REAL and DOUBLE PRECISION
// columns as numbers.
func convert(v ref.Val, k FieldKind, src string) (any, bool, error) {
	if err := valueError(v, src); err != nil {
		return nil, false, err
	}
	if v == types.NullValue {
		return nil, true, nil
	}
	switch k {
	case KindText:
		if s, ok := v.(types.String); ok {
			return string(s), false, nil
		}
	case KindNumber, kindInteger:
		switch x := v.(type) {
		case types.Double:
			return float64(x), false, nil
		case types.Int:
			return float64(x), false, nil
		case types.Uint:
			return float64(x), false, nil
		}
	case KindBool:
		if x, ok := v.(types.Bool); ok {
			return bool(x), false, nil
		}
	case KindDate:
		if x, ok := v.(types.Timestamp); ok {
			return x.Time, false, nil
		}
	}
	want := "a " + k.String()
	if k == KindText {
		want = "text"
	}
	return nil, false, fitErrorf("%s is %s, not %s", src, typeName(v), want)
}

// convertList converts each element of a request-time list, dropping nulls,
// which equal no column value.
func convertList(v ref.Val, k FieldKind, src string) ([]any, error) {
	if err := valueError(v, src); err != nil {
		return nil, err
	}
	list, ok := v.(traits.Lister)
	if !ok || v.Type() != types.ListType {
		return nil, fitErrorf("%s is %s, not a list", src, typeName(v))
	}
	var out []any
	for it := list.Iterator(); it.HasNext() == types.True; {
		el := it.Next()
		arg, null, err := convert(el, k, src+" element")
		if err != nil {
			return nil, err
		}
		if !null {
			out = append(out, arg)
		}
	}
	return out, nil
}
