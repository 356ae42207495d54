package records

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keep-dev/keep/internal/ids"
	"github.com/keep-dev/keep/internal/store"
)

// Limits of list requests.
const (
	DefaultLimit  = 20
	MaxLimit      = 500
	MaxSortTerms  = 8
	MaxCursorLen  = 8 << 10
	MaxFieldNames = 110
	MaxExpand     = 10
	MaxExpandRefs = 2000
	// QueryTimeout bounds one read request's queries, so no filter can
	// occupy a reader for long.
	QueryTimeout = 10 * time.Second
)

// ViewOptions shape the records returned by Get and List.
type ViewOptions struct {
	Fields []string // projection; id is always kept
	Expand []string // relation fields to expand, one level
}

// ListOptions are the query parameters of a list.
type ListOptions struct {
	ViewOptions
	Filter string
	Sort   string
	Limit  int // 0 means DefaultLimit
	Cursor string
}

// Page is one page of a list.
type Page struct {
	Items      []Record `json:"items"`
	NextCursor *string  `json:"next_cursor"`
}

// Get returns one record the caller may view; others are ErrNotFound.
func (s *Service) Get(ctx context.Context, caller Caller, coll, id string, opt ViewOptions) (Record, error) {
	ctx, cancel := context.WithTimeout(ctx, QueryTimeout)
	defer cancel()
	c, err := s.Collection(coll)
	if err != nil {
		return nil, err
	}
	cond, args, err := s.ruleSQL(caller, c.compiled.view)
	if err != nil {
		return nil, err
	}
	if err := checkView(c, opt); err != nil {
		return nil, err
	}
	if !ids.Valid(id) {
		return nil, ErrNotFound
	}
	cols := s.readColumns(caller, c)
	recs, err := s.queryRecords(ctx, s.db, c, cols, "SELECT "+selectFor(c, cols)+" FROM "+
		store.QuoteIdent(c.Table())+and("id = ?", cond), append([]any{id}, args...)...)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, ErrNotFound
	}
	if err := s.expand(ctx, caller, c, recs, opt.Expand); err != nil {
		return nil, err
	}
	if err := s.auditRead(ctx, c, "record.read", recordTarget(c, id), map[string]any{}); err != nil {
		return nil, err
	}
	project(recs, opt)
	return recs[0], nil
}

type sortTerm struct {
	col  column
	desc bool
}

// parseSort reads a sort specification. A caller other than a superuser may
// not sort by a hidden or read-ruled field: the order would reveal the
// values, and the cursor would carry them.
func parseSort(c *Collection, caller Caller, spec string) ([]sortTerm, error) {
	var terms []sortTerm
	seen := map[string]bool{}
	if strings.TrimSpace(spec) != "" {
		parts := strings.Split(spec, ",")
		if len(parts) > MaxSortTerms {
			return nil, badRequest("sort: at most %d terms", MaxSortTerms)
		}
		for _, p := range parts {
			p = strings.TrimSpace(p)
			desc := strings.HasPrefix(p, "-")
			p = strings.TrimPrefix(strings.TrimPrefix(p, "-"), "+")
			col, ok := c.column(p)
			switch {
			case !ok:
				return nil, badRequest("sort: unknown field %q", p)
			case !caller.Superuser && c.compiled.unreadable[p]:
				return nil, badRequest("sort: field %q cannot be sorted", p)
			case col.field != nil && col.field.Encrypted:
				return nil, badRequest("sort: field %q is encrypted and cannot be sorted", p)
			case col.field != nil && (col.field.Type == TypeJSON || col.field.isList()):
				return nil, badRequest("sort: field %q cannot be sorted", p)
			case seen[p]:
				return nil, badRequest("sort: field %q repeated", p)
			}
			seen[p] = true
			terms = append(terms, sortTerm{col: col, desc: desc})
		}
	}
	if !seen["id"] { // the tie-break that makes the order total
		terms = append(terms, sortTerm{col: column{name: "id"}})
	}
	return terms, nil
}

// notNull reports whether the column never holds NULL: id, created and
// updated, and the system fields of users, are NOT NULL on both engines;
// field columns are nullable (see columnType).
func (col column) notNull() bool { return col.field == nil || col.field.ID == "" }

// orderBy puts NULLs first in ascending order on both engines (SQLite's
// default; PostgreSQL indexes of fields are created NULLS FIRST to match).
//
// A column that is never NULL gets no NULLS clause: the order is the same,
// and only then can PostgreSQL read it from the primary key (or a unique
// index of users), which is ASC NULLS LAST. Its planner does not use NOT
// NULL to equate the two orders, so "id" ASC NULLS FIRST, the default
// sort, made every list read and sort all the rows the rule lets through
// instead of the first rows of the index (a list of 10,000 posts: 2.4 ms
// against 0.05 ms).
func orderBy(terms []sortTerm) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		var dir string
		switch {
		case t.col.notNull() && t.desc:
			dir = " DESC"
		case t.col.notNull():
			dir = " ASC"
		case t.desc:
			dir = " DESC NULLS LAST"
		default:
			dir = " ASC NULLS FIRST"
		}
		parts[i] = store.QuoteIdent(t.col.name) + dir
	}
	return " ORDER BY " + strings.Join(parts, ", ")
}

// cursor is the opaque position after the last record of a page: the sort it
// belongs to and the last record's values of every sort term.
type cursor struct {
	Sort   string `json:"s"`
	Values []any  `json:"v"`
}

func encodeCursor(sortSpec string, terms []sortTerm, last Record) (string, error) {
	cur := cursor{Sort: sortSpec, Values: make([]any, len(terms))}
	for i, t := range terms {
		cur.Values[i] = last[t.col.name]
	}
	b, err := json.Marshal(cur)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// keyset returns the condition selecting rows strictly after the cursor.
// With NULLs sorted first, "after v" in ascending order is `col > v`, or any
// non-NULL after a NULL; in descending order NULLs come last.
func (s *Service) keyset(sortSpec string, terms []sortTerm, token string) (string, []any, error) {
	if len(token) > MaxCursorLen {
		return "", nil, badRequest("cursor is too long")
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return "", nil, badRequest("cursor is not valid")
	}
	var cur cursor
	if err := json.Unmarshal(raw, &cur); err != nil || len(cur.Values) != len(terms) {
		return "", nil, badRequest("cursor is not valid")
	}
	if cur.Sort != sortSpec {
		return "", nil, badRequest("cursor belongs to a different sort")
	}
	d := s.db.Dialect()
	vals := make([]any, len(terms))
	for i, t := range terms {
		v, ok := t.col.field.fromJSONValue(cur.Values[i])
		if str, isStr := v.(string); isStr && strings.IndexByte(str, 0) >= 0 {
			ok = false // no stored value has one, and PostgreSQL refuses it as an argument
		}
		if !ok || (t.col.field == nil && v == nil) {
			return "", nil, badRequest("cursor is not valid")
		}
		if t.col.field == nil && t.col.name != "id" { // created, updated
			v, ok = (&Field{Type: TypeDate}).fromJSONValue(cur.Values[i])
			if !ok {
				return "", nil, badRequest("cursor is not valid")
			}
		}
		if v != nil {
			vals[i] = sqlValue(d, v)
		}
	}
	// Build from the last term outwards: cond_i = after_i OR (equal_i AND cond_{i+1}).
	cond, args := "", []any(nil)
	for i := len(terms) - 1; i >= 0; i-- {
		col := store.QuoteIdent(terms[i].col.name)
		v := vals[i]
		var after, equal string
		var afterArgs, equalArgs []any
		switch {
		case v == nil && !terms[i].desc:
			after, equal = col+" IS NOT NULL", col+" IS NULL"
		case v == nil && terms[i].desc:
			after, equal = "1=0", col+" IS NULL"
		case !terms[i].desc:
			after, equal, afterArgs, equalArgs = col+" > ?", col+" = ?", []any{v}, []any{v}
		case terms[i].col.notNull():
			// No NULLs to come after v: a plain range the index serves.
			after, equal, afterArgs, equalArgs = col+" < ?", col+" = ?", []any{v}, []any{v}
		default:
			after, equal, afterArgs, equalArgs = "("+col+" < ? OR "+col+" IS NULL)", col+" = ?", []any{v}, []any{v}
		}
		if cond == "" {
			cond, args = after, afterArgs
			continue
		}
		cond = fmt.Sprintf("(%s OR (%s AND %s))", after, equal, cond)
		args = append(append(afterArgs, equalArgs...), args...)
	}
	return cond, args, nil
}

// List returns one page of the records the caller may list. The list rule and
// the filter are both compiled to SQL and ANDed into the WHERE clause.
func (s *Service) List(ctx context.Context, caller Caller, coll string, opt ListOptions) (*Page, error) {
	ctx, cancel := context.WithTimeout(ctx, QueryTimeout)
	defer cancel()
	c, err := s.Collection(coll)
	if err != nil {
		return nil, err
	}
	cond, args, err := s.ruleSQL(caller, c.compiled.list)
	if err != nil {
		return nil, err
	}
	if err := checkView(c, opt.ViewOptions); err != nil {
		return nil, err
	}
	limit := opt.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 1 || limit > MaxLimit {
		return nil, badRequest("limit must be between 1 and %d", MaxLimit)
	}
	terms, err := parseSort(c, caller, opt.Sort)
	if err != nil {
		return nil, err
	}
	var filter string
	var filterArgs []any
	if strings.TrimSpace(opt.Filter) != "" {
		if filter, filterArgs, err = s.filter(c, caller, opt.Filter); err != nil {
			return nil, err
		}
	}
	var keyset string
	var keysetArgs []any
	if opt.Cursor != "" {
		if keyset, keysetArgs, err = s.keyset(opt.Sort, terms, opt.Cursor); err != nil {
			return nil, err
		}
	}
	cols := s.readColumns(caller, c)
	query := fmt.Sprintf("SELECT %s FROM %s%s%s LIMIT %d", selectFor(c, cols), store.QuoteIdent(c.Table()),
		and(cond, filter, keyset), orderBy(terms), limit+1)
	all := slices.Concat(args, filterArgs, keysetArgs)
	recs, err := s.queryRecords(ctx, s.db, c, cols, query, all...)
	if err != nil {
		return nil, err
	}
	page := &Page{Items: recs}
	if len(recs) > limit {
		page.Items = recs[:limit]
		next, err := encodeCursor(opt.Sort, terms, page.Items[limit-1])
		if err != nil {
			return nil, err
		}
		page.NextCursor = &next
	}
	if page.Items == nil {
		page.Items = []Record{}
	}
	if err := s.expand(ctx, caller, c, page.Items, opt.Expand); err != nil {
		return nil, err
	}
	if c.AuditReads {
		if err := s.auditRead(ctx, c, "record.list", "collection:"+c.Name, listDetails(s.audit, opt, page)); err != nil {
			return nil, err
		}
	}
	project(page.Items, opt.ViewOptions)
	return page, nil
}

// checkView validates fields and expand against the collection. A hidden
// or read-ruled field may be named in either: like any field the caller may
// not read, it is then simply absent from the records (and from expand).
func checkView(c *Collection, opt ViewOptions) error {
	if len(opt.Fields) > MaxFieldNames {
		return badRequest("fields: too many names")
	}
	for _, f := range opt.Fields {
		if _, ok := c.column(f); !ok {
			return badRequest("fields: unknown field %q", f)
		}
	}
	if len(opt.Expand) > MaxExpand {
		return badRequest("expand: at most %d relations", MaxExpand)
	}
	seen := map[string]bool{}
	for _, e := range opt.Expand {
		if f := c.Field(e); f == nil || f.Type != TypeRelation {
			return badRequest("expand: %q is not a relation field", e)
		}
		if seen[e] {
			return badRequest("expand: %q repeated", e)
		}
		seen[e] = true
	}
	return nil
}

// project keeps only the requested fields (and id, and expand).
func project(recs []Record, opt ViewOptions) {
	if len(opt.Fields) == 0 {
		return
	}
	keep := map[string]bool{"id": true, "expand": true}
	for _, f := range opt.Fields {
		keep[f] = true
	}
	for _, r := range recs {
		for k := range r {
			if !keep[k] {
				delete(r, k)
			}
		}
	}
}

// expand loads the related records of each expanded field with one query
// per field (never one per record), applying the target's view rule: a
// related record the caller may not view is left out.
func (s *Service) expand(ctx context.Context, caller Caller, c *Collection, recs []Record, names []string) error {
	if len(names) == 0 || len(recs) == 0 {
		return nil
	}
	// Every reference is encoded once per record that holds it, so the
	// references of the page, not the distinct targets, bound the cost.
	refs := 0
	for _, name := range names {
		for _, r := range recs {
			refs += len(relatedIDs(r[name]))
		}
	}
	if refs > MaxExpandRefs {
		return badRequest("expand: the page holds more than %d references; ask for fewer records", MaxExpandRefs)
	}
	for _, r := range recs {
		r["expand"] = map[string]any{}
	}
	for _, name := range names {
		f := c.Field(name)
		target, err := s.Collection(f.Collection)
		if err != nil {
			return err
		}
		cond, condArgs, err := s.ruleSQL(caller, target.compiled.view)
		if errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrForbidden) {
			continue
		}
		if err != nil {
			return err
		}
		var want []any
		seen := map[string]bool{}
		for _, r := range recs {
			for _, id := range relatedIDs(r[name]) {
				if !seen[id] {
					seen[id] = true
					want = append(want, id)
				}
			}
		}
		// With no ids there is nothing to query, but multi relations still
		// expand to an empty list: a record's expand must not depend on the
		// other records of its page.
		var related []Record
		if len(want) > 0 {
			cols := s.readColumns(caller, target)
			related, err = s.queryRecords(ctx, s.db, target, cols, fmt.Sprintf("SELECT %s FROM %s%s", selectList(cols),
				store.QuoteIdent(target.Table()), and("id IN ("+placeholders(len(want))+")", cond)), append(want, condArgs...)...)
			if err != nil {
				return err
			}
		}
		byID := make(map[string]Record, len(related))
		for _, rr := range related {
			byID[rr.ID()] = rr
		}
		for _, r := range recs {
			if _, ok := r[name]; !ok {
				continue // a field the caller may not read of this record
			}
			ex := r["expand"].(map[string]any)
			if f.Multi {
				list := []Record{}
				for _, id := range relatedIDs(r[name]) {
					if rr, ok := byID[id]; ok {
						list = append(list, rr)
					}
				}
				ex[name] = list
			} else if rr, ok := byID[fmt.Sprint(r[name])]; ok {
				ex[name] = rr
			}
		}
	}
	return nil
}

func relatedIDs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []string:
		return v
	}
	return nil
}
