package access

import "strings"

// reservedNames are the names IsReservedName reports, all lower case.
var reservedNames = map[string]bool{
	// CEL literals and reserved words: the parser does not accept them as
	// identifiers, so a field with such a name could never be referenced.
	"true": true, "false": true, "null": true, "in": true, "as": true,
	"break": true, "const": true, "continue": true, "else": true,
	"for": true, "function": true, "if": true, "import": true, "let": true,
	"loop": true, "package": true, "namespace": true, "return": true,
	"var": true, "void": true, "while": true,
	// Keep's own names: auth is the caller, request and expand are kept for
	// the API, and id, created and updated are system fields every
	// collection has.
	"auth": true, "request": true, "id": true, "created": true,
	"updated": true, "expand": true,
	// Column names the engines keep for themselves: PostgreSQL's system
	// columns and SQLite's rowid aliases.
	"xmin": true, "xmax": true, "cmin": true, "cmax": true, "ctid": true,
	"tableoid": true, "oid": true, "rowid": true, "_rowid_": true,
}

// IsReservedName reports whether name cannot be used as a field name because
// the expression language reserves it (CEL reserved words and literals) or
// Keep does (auth, request, id, created, updated, expand).
//
// The comparison ignores case: SQLite column names are case-insensitive, so
// a field "ID" would collide with the system column id, and names that
// differ only in case from reserved ones invite mistakes in rules.
func IsReservedName(name string) bool {
	return reservedNames[strings.ToLower(name)]
}
