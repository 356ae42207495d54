package access

import (
	"fmt"
	"regexp"
	"strings"
)

// FieldKind is how the compiler sees a column: it decides which CEL type the
// field has in expressions, which operators apply and how values are bound.
type FieldKind int

// The kinds of columns the compiler understands.
const (
	// KindText is text, email, url, single select and single relation id:
	// SQL TEXT on both engines.
	KindText FieldKind = iota
	// KindNumber is SQLite REAL and PostgreSQL DOUBLE PRECISION.
	KindNumber
	// KindBool is SQLite INTEGER 0/1 and PostgreSQL BOOLEAN.
	KindBool
	// KindDate is SQLite TEXT in the fixed format DateLayout (UTC, so text
	// order is time order) and PostgreSQL TIMESTAMPTZ.
	KindDate
	// KindJSON is SQLite TEXT holding JSON and PostgreSQL JSONB. It can only
	// be compared with null.
	KindJSON
	// KindTextList is multi select and multi relation: a JSON array of
	// strings, SQLite TEXT and PostgreSQL JSONB.
	KindTextList
)

// kindInteger is the kind of size(...): an SQL integer. It never appears in
// a Schema; it lets the compiler bind comparisons with it correctly.
const kindInteger FieldKind = -1

// DateLayout is the text form of KindDate columns on SQLite. It has a fixed
// width and is always UTC so that comparing text compares time.
const DateLayout = "2006-01-02T15:04:05.000Z"

// String returns the kind's name as used in error messages.
func (k FieldKind) String() string {
	switch k {
	case KindText:
		return "text"
	case KindNumber, kindInteger:
		return "number"
	case KindBool:
		return "bool"
	case KindDate:
		return "date"
	case KindJSON:
		return "json"
	case KindTextList:
		return "list"
	}
	return fmt.Sprintf("FieldKind(%d)", int(k))
}

// Field is one column as expressions see it.
type Field struct {
	// Name is the field name as written in expressions.
	Name string
	// Column is the SQL column, unquoted. It must match [A-Za-z_][A-Za-z0-9_]*
	// (at most 63 bytes); Compile quotes it.
	Column string
	// Kind says how the column is typed and compared.
	Kind FieldKind
	// Target, when set, is the schema of the collection a relation field
	// points at. It lets expressions read one field of the related record,
	// as in owner.team (see Predicate.Traversals). Only single relations
	// (KindText) can be traversed; on a KindTextList field Target is allowed
	// but traversing it is a compile error. Target.Table must be set and
	// Target.Fields must include id. Fields of Target that carry their own
	// Target are not traversed further: traversal is one level deep, so
	// schemas may point at each other (users ↔ posts) without recursion.
	//
	// Every field listed in Target becomes readable through the relation,
	// whatever the target collection's view rule says. Leave out of Target
	// what the expression's author may not see (hidden fields, and for
	// filters written by API clients, any field the caller could not
	// otherwise read).
	Target *Schema

	// Encrypted marks a column that holds ciphertext (see package keyring):
	// SQL cannot compare or order it. Expressions may only test it against
	// null, and, when Blind is set, with == or != against a request-time
	// value, which compiles to a comparison of BlindColumn with Blind of the
	// value, computed in Go and bound as a parameter. Anything else that
	// names the field (ordering, another field, in, size, string functions)
	// is a compile error. Only KindText, KindNumber and KindJSON fields may
	// be encrypted; they cannot be traversal targets.
	Encrypted bool
	// BlindColumn is the column holding the blind index of a searchable
	// encrypted field, unquoted, with the pattern of Column.
	BlindColumn string
	// Blind computes the blind index of a value converted for Kind (a
	// string or a float64). It must be safe for concurrent use.
	Blind func(v any) (string, error)
}

// Schema lists the fields an expression may reference. The caller includes
// the system fields id (KindText), created and updated (KindDate).
type Schema struct {
	Fields []Field
	// Table is the collection's SQL table, unquoted, as in "c_posts". It is
	// needed only by relation traversal: the correlated subquery of
	// owner.team refers to the outer row as "c_posts"."owner", so the query
	// the predicate is used in must name the table without an alias. Empty
	// leaves every column unqualified; an expression that traverses a
	// relation then fails to compile with a plain (non-Compile) error.
	// Names beginning with keep_ are reserved for the compiler's aliases.
	Table string
}

// Limits bounds the size of expressions so that a hostile filter cannot make
// the parser, checker or database do unbounded work. The zero value means
// the defaults.
type Limits struct {
	// MaxLength is the longest accepted expression in bytes; 0 means 2048.
	MaxLength int
	// MaxDepth is the deepest accepted nesting of the expression tree;
	// 0 means 24.
	MaxDepth int
}

// Default limits, chosen to fit any hand-written rule with room to spare.
const (
	DefaultMaxLength = 2048
	DefaultMaxDepth  = 24
)

func (l Limits) withDefaults() Limits {
	if l.MaxLength <= 0 {
		l.MaxLength = DefaultMaxLength
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	return l
}

// Auth is the caller a predicate is bound for, seen in expressions as the
// map auth: auth.id, auth.email, auth.roles and the custom user fields.
//
// For anonymous callers ID and Email are "" and Roles is empty; compared
// directly with a column, an empty ID or Email matches nothing (see the
// package documentation). A custom field that an expression names but Fields
// lacks reads as null, as an unset field of a record would. Fields keys "id",
// "email" and "roles" are shadowed by the fixed fields. Values should be the
// types CEL understands: string, bool, ints, floats, time.Time, slices and
// maps of those, or nil; others make Bind fail with ErrBind where used.
type Auth struct {
	ID     string
	Email  string
	Roles  []string
	Fields map[string]any
}

// Request is the request a predicate is bound for, seen in expressions as
// request.method (a string) and request.body (a map(string, dyn)).
//
// Method is the HTTP method ("GET", "POST", "PATCH", "DELETE"). Body is the
// submitted fields on create and update, exactly as submitted: a key that is
// present with a nil value is a field being cleared, and has() is true for
// it. The zero value is an empty method and an empty body, which is what
// Predicate.Bind uses. Values should be the types Auth.Fields allows.
//
// Reading a key the body lacks is an evaluation error, as in CEL: the
// error is absorbed by && and || where they decide without it, and
// otherwise Bind fails with ErrBind (a deny). Guard with has(), as in
// `!has(request.body.status) || "editor" in auth.roles`.
type Request struct {
	Method string
	Body   map[string]any
}

// identPattern is what field names and columns must look like. It is the
// CEL identifier syntax, which is also safe (after quoting) in both SQL
// dialects; 63 bytes is PostgreSQL's identifier limit.
var identPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// systemFields are reserved names the caller itself supplies in every
// Schema, so Compile accepts them there.
var systemFields = map[string]bool{"id": true, "created": true, "updated": true}

// index validates the schema and maps field names to fields. Problems here
// are programming errors in the caller, not user errors, so they are plain
// errors rather than *CompileError.
func (s Schema) index() (map[string]Field, error) {
	if err := checkTable(s.Table); err != nil {
		return nil, err
	}
	byName := make(map[string]Field, len(s.Fields))
	for _, f := range s.Fields {
		if !identPattern.MatchString(f.Name) {
			return nil, fmt.Errorf("access: invalid schema: field name %q is not an identifier", f.Name)
		}
		if IsReservedName(f.Name) && !systemFields[f.Name] {
			return nil, fmt.Errorf("access: invalid schema: field name %q is reserved", f.Name)
		}
		if !identPattern.MatchString(f.Column) {
			return nil, fmt.Errorf("access: invalid schema: column %q of field %q is not an identifier", f.Column, f.Name)
		}
		if f.Kind < KindText || f.Kind > KindTextList {
			return nil, fmt.Errorf("access: invalid schema: field %q has unknown kind %d", f.Name, int(f.Kind))
		}
		if f.Target != nil && f.Kind != KindText && f.Kind != KindTextList {
			return nil, fmt.Errorf("access: invalid schema: field %q has a Target but is a %s field, not a relation", f.Name, f.Kind)
		}
		if f.Encrypted {
			switch {
			case f.Kind != KindText && f.Kind != KindNumber && f.Kind != KindJSON:
				return nil, fmt.Errorf("access: invalid schema: field %q: a %s field cannot be encrypted", f.Name, f.Kind)
			case f.Target != nil:
				return nil, fmt.Errorf("access: invalid schema: encrypted field %q cannot have a Target", f.Name)
			case (f.Blind == nil) != (f.BlindColumn == ""):
				return nil, fmt.Errorf("access: invalid schema: field %q: set both Blind and BlindColumn, or neither", f.Name)
			case f.BlindColumn != "" && !identPattern.MatchString(f.BlindColumn):
				return nil, fmt.Errorf("access: invalid schema: blind column %q of field %q is not an identifier", f.BlindColumn, f.Name)
			}
		} else if f.Blind != nil || f.BlindColumn != "" {
			return nil, fmt.Errorf("access: invalid schema: field %q has a blind index but is not encrypted", f.Name)
		}
		if _, dup := byName[f.Name]; dup {
			return nil, fmt.Errorf("access: invalid schema: duplicate field %q", f.Name)
		}
		byName[f.Name] = f
	}
	return byName, nil
}

// aliasPrefix starts every table alias the compiler writes. Tables may not
// begin with it, so an alias can never shadow the outer table.
const aliasPrefix = "keep_"

func checkTable(t string) error {
	if t == "" {
		return nil
	}
	if !identPattern.MatchString(t) {
		return fmt.Errorf("access: invalid schema: table %q is not an identifier", t)
	}
	if strings.HasPrefix(strings.ToLower(t), aliasPrefix) {
		return fmt.Errorf("access: invalid schema: table %q: names beginning with %s are reserved", t, aliasPrefix)
	}
	return nil
}

// targetIndex validates the target schema of relation field rel and maps its
// field names to fields. Its own targets are ignored (one level only).
func targetIndex(rel Field) (map[string]Field, error) {
	t := rel.Target
	if t.Table == "" {
		return nil, fmt.Errorf("access: invalid schema: the Target of field %q has no Table", rel.Name)
	}
	flat := Schema{Table: t.Table, Fields: make([]Field, len(t.Fields))}
	for i, f := range t.Fields {
		f.Target = nil
		flat.Fields[i] = f
	}
	byName, err := flat.index()
	if err != nil {
		return nil, fmt.Errorf("%w (in the Target of field %q)", err, rel.Name)
	}
	if id, ok := byName["id"]; !ok || id.Kind != KindText {
		return nil, fmt.Errorf("access: invalid schema: the Target of field %q has no text field id", rel.Name)
	}
	return byName, nil
}
