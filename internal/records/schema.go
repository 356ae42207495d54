package records

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"time"

	"github.com/keep-dev/keep/internal/access"
	"github.com/keep-dev/keep/internal/keyring"
)

// FieldType is the type of a collection field.
type FieldType string

// The field types.
const (
	TypeText     FieldType = "text"
	TypeNumber   FieldType = "number"
	TypeBool     FieldType = "bool"
	TypeEmail    FieldType = "email"
	TypeURL      FieldType = "url"
	TypeDate     FieldType = "date"
	TypeSelect   FieldType = "select"
	TypeJSON     FieldType = "json"
	TypeRelation FieldType = "relation"
)

// OnDelete says what happens to records that reference a deleted record.
type OnDelete string

// The relation delete behaviours.
const (
	OnDeleteRestrict OnDelete = "restrict"
	OnDeleteCascade  OnDelete = "cascade"
	OnDeleteSetNull  OnDelete = "set_null"
)

// Limits on schemas. They keep a collection definition, and every query
// built from it, bounded.
const (
	MaxFields         = 100
	MaxPatternLen     = 512
	MaxSelectValues   = 256
	MaxSelectValueLen = 255
	DefaultJSONBytes  = 64 << 10
	MaxJSONBytes      = 1 << 20
	MaxIndexedText    = 600
)

// Field is one field of a collection. Options apply to some types only: min,
// max and pattern to text (lengths in characters); min, max and integer to
// number; values and max_select to select; max_bytes to json; collection,
// multi and on_delete to relation.
//
// Hidden, Readonly, ReadRule and WriteRule are field-level access and apply
// to every type; superusers bypass all four (see fields.go):
//
//   - Hidden: the field is never returned to anyone but superusers, cannot be
//     filtered or sorted on by them, but rules may still use it.
//   - Readonly: only superusers may set it; a create or update by anyone
//     else that sets it is refused with 403 (not silently ignored).
//   - ReadRule: a CEL condition on the record and the caller; the field is
//     omitted from each record for which it is false. Like Hidden, such a
//     field cannot be filtered or sorted on by non-superusers.
//   - WriteRule: a CEL condition checked, inside the writing transaction,
//     against the row as stored after a create or update that sets the
//     field; when it is false the write is refused with 403.
//
// A rule is "" for none. Hidden with a ReadRule, and Readonly with a
// WriteRule, are refused: the second option would have no effect.
type Field struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Type     FieldType `json:"type"`
	Required bool      `json:"required"`
	Unique   bool      `json:"unique"`
	Index    bool      `json:"index"`

	Hidden    bool   `json:"hidden,omitempty"`
	Readonly  bool   `json:"readonly,omitempty"`
	ReadRule  string `json:"read_rule,omitempty"`
	WriteRule string `json:"write_rule,omitempty"`

	Min     *float64 `json:"min,omitempty"`
	Max     *float64 `json:"max,omitempty"`
	Pattern string   `json:"pattern,omitempty"`
	Integer bool     `json:"integer,omitempty"`

	Values    []string `json:"values,omitempty"`
	MaxSelect int      `json:"max_select,omitempty"`

	MaxBytes int `json:"max_bytes,omitempty"`

	Collection string   `json:"collection,omitempty"`
	Multi      bool     `json:"multi,omitempty"`
	OnDelete   OnDelete `json:"on_delete,omitempty"`

	// Encrypted fields (text, email, json, number) are stored only as
	// ciphertext; Searchable ones also get a keyed blind index that serves
	// == and != filters and unique constraints. See encrypted.go.
	Encrypted  bool `json:"encrypted,omitempty"`
	Searchable bool `json:"searchable,omitempty"`

	pattern *regexp.Regexp
}

// isList reports whether the field stores a JSON array of strings.
func (f *Field) isList() bool {
	return (f.Type == TypeRelation && f.Multi) || (f.Type == TypeSelect && f.MaxSelect > 1)
}

// Collection is a user-defined (or the built-in users) collection.
type Collection struct {
	ID     string       `json:"id"`
	Name   string       `json:"name"`
	System bool         `json:"system"`
	Fields []Field      `json:"fields"`
	Rules  access.Rules `json:"rules"`
	// Audited collections record every create, update and delete in the
	// audit log; AuditReads records gets and lists too. The users
	// collection's writes are always recorded.
	Audited    bool      `json:"audited"`
	AuditReads bool      `json:"audit_reads"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"updated"`
	Version    int       `json:"-"`

	compiled compiledRules
	byName   map[string]*Field
	ring     *keyring.Ring // set by compile; encrypted fields need it
}

type compiledRules struct {
	list, view, create, update, delete access.CompiledRule

	// Field-level access, compiled with the rules (see fields.go).
	read, write map[string]*access.Predicate // read_rule and write_rule, by field name
	unreadable  map[string]bool              // hidden or read-ruled: no filter or sort by non-superusers
	filter      access.Schema                // what a non-superuser's filter may reference

	// The columns a superuser reads, and those any other caller reads
	// when no field has a read rule (else nil: they depend on the caller),
	// each with its select list (see readColumns and selectFor).
	all, plain             []column
	selectAll, selectPlain string
}

// Table is the SQL table that holds the collection's records.
func (c *Collection) Table() string { return "c_" + c.Name }

// Field returns the named field, or nil.
func (c *Collection) Field(name string) *Field { return c.byName[name] }

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// collectionNamePattern is shorter than namePattern by the "c_" of the table
// name: PostgreSQL truncates identifiers to 63 bytes, so longer names would
// share a table with any name that has the same first 61 characters.
var collectionNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,60}$`)

// Collection names Keep keeps for itself or for routes under /api.
var reservedCollectionNames = map[string]bool{
	"users": true, "collections": true, "auth": true, "roles": true, "admins": true,
	"superusers": true, "audit": true, "keys": true, "settings": true, "backups": true,
	"records": true, "system": true,
}

// Field names of the users collection that its system columns use.
var usersSystemFields = map[string]bool{"email": true, "password": true, "password_hash": true, "verified": true, "disabled": true, "roles": true}

func newFieldID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "f" + hex.EncodeToString(b[:])
}

// normalise fills defaults and validates the definition of c, appending
// problems to verr. lookup finds other collections for relation targets.
func (c *Collection) normalise(verr *ValidationError, lookup func(name string) *Collection) {
	if !c.System {
		if !collectionNamePattern.MatchString(c.Name) {
			verr.add("name", "must match ^[a-z][a-z0-9_]{0,60}$")
		} else if reservedCollectionNames[c.Name] {
			verr.add("name", "is reserved")
		}
	}
	if len(c.Fields) > MaxFields {
		verr.add("fields", fmt.Sprintf("at most %d fields", MaxFields))
		return
	}
	seen := map[string]bool{}
	seenIDs := map[string]bool{}
	c.byName = make(map[string]*Field, len(c.Fields))
	for i := range c.Fields {
		f := &c.Fields[i]
		key := fmt.Sprintf("fields[%d]", i)
		switch {
		case !namePattern.MatchString(f.Name):
			verr.add(key+".name", "must match ^[a-z][a-z0-9_]{0,62}$")
		case access.IsReservedName(f.Name):
			verr.add(key+".name", fmt.Sprintf("%q is reserved", f.Name))
		case c.Name == "users" && usersSystemFields[f.Name]:
			verr.add(key+".name", fmt.Sprintf("%q is a system field of users", f.Name))
		case seen[f.Name]:
			verr.add(key+".name", "duplicate field name")
		}
		seen[f.Name] = true
		if f.ID == "" {
			f.ID = newFieldID()
		} else if seenIDs[f.ID] {
			verr.add(key+".id", "duplicate field id")
		}
		seenIDs[f.ID] = true
		f.normalise(key, verr, lookup)
		f.normaliseAccess(key, verr)
		f.normaliseEncryption(key, verr)
		c.byName[f.Name] = f
	}
}

// optionsOf lists the type options each field type accepts.
var optionsOf = map[FieldType]map[string]bool{
	TypeText:     {"min": true, "max": true, "pattern": true},
	TypeNumber:   {"min": true, "max": true, "integer": true},
	TypeSelect:   {"values": true, "max_select": true},
	TypeJSON:     {"max_bytes": true},
	TypeRelation: {"collection": true, "multi": true, "on_delete": true},
}

// setOptions names the type options that f has set.
func (f *Field) setOptions() []string {
	var set []string
	for name, on := range map[string]bool{
		"min": f.Min != nil, "max": f.Max != nil, "pattern": f.Pattern != "", "integer": f.Integer,
		"values": f.Values != nil, "max_select": f.MaxSelect != 0, "max_bytes": f.MaxBytes != 0,
		"collection": f.Collection != "", "multi": f.Multi, "on_delete": f.OnDelete != "",
	} {
		if on {
			set = append(set, name)
		}
	}
	return set
}

func (f *Field) normalise(key string, verr *ValidationError, lookup func(string) *Collection) {
	for _, opt := range f.setOptions() {
		if !optionsOf[f.Type][opt] {
			verr.add(key+"."+opt, fmt.Sprintf("not an option of %s fields", f.Type))
		}
	}
	checkMinMax := func(nonNegative bool) {
		for _, v := range []struct {
			name string
			p    *float64
		}{{"min", f.Min}, {"max", f.Max}} {
			if v.p == nil {
				continue
			}
			if math.IsNaN(*v.p) || math.IsInf(*v.p, 0) {
				verr.add(key+"."+v.name, "must be a finite number")
			} else if nonNegative && *v.p < 0 {
				verr.add(key+"."+v.name, "must not be negative")
			}
		}
		if f.Min != nil && f.Max != nil && *f.Min > *f.Max {
			verr.add(key+".min", "must not exceed max")
		}
	}

	switch f.Type {
	case TypeText:
		checkMinMax(true)
		// PostgreSQL cannot index a text value over ~2,700 bytes: indexed
		// text gets a bound that fits at 4 bytes a character.
		if index, _ := f.wantsIndex(); index {
			if f.Max == nil {
				m := float64(MaxIndexedText)
				f.Max = &m
			} else if *f.Max > MaxIndexedText {
				verr.add(key+".max", fmt.Sprintf("indexed and unique text fields allow at most %d characters", MaxIndexedText))
			}
		}
		if f.Pattern != "" {
			if len(f.Pattern) > MaxPatternLen {
				verr.add(key+".pattern", fmt.Sprintf("at most %d bytes", MaxPatternLen))
			} else if re, err := regexp.Compile(f.Pattern); err != nil {
				verr.add(key+".pattern", "is not a valid regular expression")
			} else {
				f.pattern = re
			}
		}
	case TypeNumber:
		checkMinMax(false)
	case TypeBool, TypeEmail, TypeURL, TypeDate:
		if f.Type == TypeBool && f.Unique {
			verr.add(key+".unique", "bool fields cannot be unique")
		}
	case TypeSelect:
		if len(f.Values) == 0 || len(f.Values) > MaxSelectValues {
			verr.add(key+".values", fmt.Sprintf("needs 1 to %d values", MaxSelectValues))
		}
		dup := map[string]bool{}
		for _, v := range f.Values {
			if v == "" || len(v) > MaxSelectValueLen {
				verr.add(key+".values", fmt.Sprintf("values must be 1 to %d bytes", MaxSelectValueLen))
			}
			if dup[v] {
				verr.add(key+".values", "duplicate value")
			}
			dup[v] = true
		}
		if f.MaxSelect == 0 {
			f.MaxSelect = 1
		}
		if f.MaxSelect < 1 || (len(f.Values) > 0 && f.MaxSelect > len(f.Values)) {
			verr.add(key+".max_select", "must be between 1 and the number of values")
		}
		if f.isList() && f.Unique {
			verr.add(key+".unique", "multi select fields cannot be unique")
		}
	case TypeJSON:
		if f.MaxBytes == 0 {
			f.MaxBytes = DefaultJSONBytes
		}
		if f.MaxBytes < 1 || f.MaxBytes > MaxJSONBytes {
			verr.add(key+".max_bytes", fmt.Sprintf("must be between 1 and %d", MaxJSONBytes))
		}
		if f.Unique || f.Index {
			verr.add(key+".unique", "json fields cannot be unique or indexed")
		}
	case TypeRelation:
		if f.Collection == "" || lookup(f.Collection) == nil {
			verr.add(key+".collection", "must name an existing collection")
		}
		switch f.OnDelete {
		case "":
			f.OnDelete = OnDeleteRestrict
		case OnDeleteRestrict, OnDeleteCascade, OnDeleteSetNull:
		default:
			verr.add(key+".on_delete", "must be cascade, restrict or set_null")
		}
		if f.Multi && f.Unique {
			verr.add(key+".unique", "multi relations cannot be unique")
		}
	default:
		verr.add(key+".type", "must be one of text, number, bool, email, url, date, select, json, relation")
	}
}

// ruleSchema is accessSchema plus one level of relation traversal for the
// collection's own rules (owner.team == auth.team): each single relation
// carries its target's schema. Only rules, written by whoever manages the
// collection, get it; a client's filter never does, since a traversal reads
// the target without the target's view rule.
func (c *Collection) ruleSchema(lookup func(string) *Collection) access.Schema {
	s := c.accessSchema()
	for i := range s.Fields {
		f := c.Field(s.Fields[i].Name)
		if f == nil || f.Type != TypeRelation || f.Multi {
			continue
		}
		if t := lookup(f.Collection); t != nil {
			ts := t.accessSchema()
			// An encrypted field cannot be read through a relation: its
			// blind index is per record, not a column a subquery compares.
			plain := ts.Fields[:0:0]
			for _, af := range ts.Fields {
				if !af.Encrypted {
					plain = append(plain, af)
				}
			}
			ts.Fields = plain
			s.Fields[i].Target = &ts
		}
	}
	return s
}

// accessSchema describes the collection's columns to the rule compiler.
// Table names the table so that traversals can refer to the outer row.
func (c *Collection) accessSchema() access.Schema {
	s := access.Schema{Table: c.Table(), Fields: []access.Field{
		{Name: "id", Column: "id", Kind: access.KindText},
		{Name: "created", Column: "created", Kind: access.KindDate},
		{Name: "updated", Column: "updated", Kind: access.KindDate},
	}}
	if c.Name == "users" {
		s.Fields = append(s.Fields,
			access.Field{Name: "email", Column: "email", Kind: access.KindText},
			access.Field{Name: "verified", Column: "verified", Kind: access.KindBool},
			access.Field{Name: "disabled", Column: "disabled", Kind: access.KindBool})
	}
	for i := range c.Fields {
		f := &c.Fields[i]
		af := access.Field{Name: f.Name, Column: f.Name, Kind: f.accessKind(), Encrypted: f.Encrypted}
		if f.Encrypted && f.Searchable && c.ring != nil {
			af.BlindColumn = blindColumn(f)
			af.Blind = c.blindFunc(f)
		}
		s.Fields = append(s.Fields, af)
	}
	return s
}

func (f *Field) accessKind() access.FieldKind {
	switch {
	case f.isList():
		return access.KindTextList
	case f.Type == TypeNumber:
		return access.KindNumber
	case f.Type == TypeBool:
		return access.KindBool
	case f.Type == TypeDate:
		return access.KindDate
	case f.Type == TypeJSON:
		return access.KindJSON
	default:
		return access.KindText
	}
}
