// Package access compiles Keep's access rules and list filters into
// parameterised SQL predicates.
//
// SECURITY-CRITICAL: this package decides which records a caller may list,
// view, create, update and delete. Every change needs extra care in review:
// a mistake here is a data leak or an SQL injection, not a wrong answer.
//
// Rules and filters are CEL expressions (https://cel.dev). Compile parses and
// type-checks an expression against a collection's Schema with cel-go, then
// walks the checked AST and builds a small tree of SQL fragments for one
// dialect. Two invariants hold for every predicate:
//
//   - No value taken from an expression or from the caller ever appears in
//     SQL text. The text is made only of fixed keywords and functions and of
//     column names that were validated against a strict pattern and quoted
//     with store.QuoteIdent; every value travels as a `?` argument.
//   - Parts of an expression that read no record field (auth.id,
//     "editor" in auth.roles, literals) are evaluated in memory by a cel-go
//     program planned once at Compile time, and each result is bound as a
//     single argument. Bind folds results that are plain booleans, so a rule
//     such as `auth.id != "" && owner == auth.id` becomes `(1=0)` for an
//     anonymous caller.
//
// The language is deliberately a subset of CEL: what cannot be translated
// faithfully to both SQLite and PostgreSQL is rejected with a *CompileError
// rather than approximated. Semantics follow CEL (strings compare by code
// point and are case-sensitive; startsWith, endsWith and contains treat %, _
// and \ literally) with one addition CEL does not have: SQL NULL. A
// comparison that involves a NULL column is false, and so is its negation
// written as !(...): `!e` compiles to NOT COALESCE(e, FALSE), which is true for
// rows where e is NULL.
//
// The caller is the map auth (see Auth). An anonymous caller's auth.id and
// auth.email are "" in expressions, so `auth.id != ""` tests for a signed-in
// caller; but where auth.id or auth.email is compared directly with a column,
// "" binds as NULL and matches no record, not even one whose owner column
// holds "". A caller with no identity never owns anything.
//
// Besides record fields and auth, expressions may read request.method and
// request.body (see Request and Predicate.BindRequest), which are
// request-time values like auth, and one level of relation traversal:
// owner.team, where owner is a single relation whose Field.Target describes
// the related collection, compiles to a correlated subquery that looks the
// related record up by its primary key (see Traversal). has() is accepted on
// fields of request.body and auth only.
//
// Rule models a collection rule as Locked, Public or Expr, so "superusers
// only" and "everyone" are never encoded in string conventions.
package access
