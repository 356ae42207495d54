package records

import (
	"fmt"

	"github.com/keep-dev/keep/internal/store"
)

// Columns are nullable whatever `required` says: required is enforced on
// every write by validation, so a field can be added to a populated table on
// both engines without inventing values for existing rows.
func columnType(d store.Dialect, f *Field) string {
	pg := d == store.Postgres
	switch {
	case f.Encrypted:
		return "TEXT" // base64 of the ciphertext
	case f.isList(), f.Type == TypeJSON:
		if pg {
			return "JSONB"
		}
		return "TEXT"
	case f.Type == TypeNumber:
		if pg {
			return "DOUBLE PRECISION"
		}
		return "REAL"
	case f.Type == TypeBool:
		if pg {
			return "BOOLEAN"
		}
		return "INTEGER"
	case f.Type == TypeDate:
		return dateType(d)
	case pg:
		// Byte order, as on SQLite, whatever the database's collation:
		// sorting, keyset cursors and unique checks agree on both engines.
		return `TEXT COLLATE "C"`
	default:
		return "TEXT"
	}
}

func dateType(d store.Dialect) string {
	if d == store.Postgres {
		return "TIMESTAMPTZ"
	}
	return "TEXT"
}

func indexName(c *Collection, f *Field) string { return "ix_" + c.ID + "_" + f.ID }

// wantsIndex reports whether f gets an index, and whether it is unique.
// Relations are always indexed: deletes look up the records that point at
// the deleted one.
func (f *Field) wantsIndex() (index, unique bool) {
	if f.Unique {
		return true, true
	}
	return f.Index || f.Type == TypeRelation, false
}

func createIndexSQL(d store.Dialect, c *Collection, f *Field) string {
	index, unique := f.wantsIndex()
	if !index {
		return ""
	}
	kind := "INDEX"
	if unique {
		kind = "UNIQUE INDEX"
	}
	using, col := "", store.QuoteIdent(f.Name)
	switch {
	case f.Encrypted:
		col = store.QuoteIdent(blindColumn(f)) // normalise refuses an index without searchable
	case d == store.Postgres && f.isList():
		using = " USING GIN"
	case d == store.Postgres:
		col += " NULLS FIRST" // the list order (see orderBy), so the index can serve it
	}
	return fmt.Sprintf("CREATE %s %s ON %s%s (%s)", kind, store.QuoteIdent(indexName(c, f)),
		store.QuoteIdent(c.Table()), using, col)
}

func dropIndexSQL(c *Collection, f *Field) string {
	return "DROP INDEX IF EXISTS " + store.QuoteIdent(indexName(c, f))
}

// createTableSQL is the DDL for a new collection.
func createTableSQL(d store.Dialect, c *Collection) []string {
	cols := fmt.Sprintf(`"id" TEXT PRIMARY KEY, "created" %[1]s NOT NULL, "updated" %[1]s NOT NULL`, dateType(d))
	for i := range c.Fields {
		f := &c.Fields[i]
		cols += fmt.Sprintf(", %s %s", store.QuoteIdent(f.Name), columnType(d, f))
		if f.Searchable {
			cols += fmt.Sprintf(", %s TEXT", store.QuoteIdent(blindColumn(f)))
		}
	}
	stmts := []string{fmt.Sprintf("CREATE TABLE %s (%s)", store.QuoteIdent(c.Table()), cols)}
	for i := range c.Fields {
		if s := createIndexSQL(d, c, &c.Fields[i]); s != "" {
			stmts = append(stmts, s)
		}
	}
	return stmts
}

// alterSQL is the DDL that turns the table of old into the table of next.
// Fields are matched by id: a known id under a new name is a rename, a
// missing id a drop, a new id an add. The order makes every combination
// work: indexes first (SQLite cannot drop an indexed column), then drops (a
// dropped name may be reused), renames through temporary names (so two
// fields can swap names), adds, and new indexes last.
func alterSQL(d store.Dialect, old, next *Collection) ([]string, error) {
	table := store.QuoteIdent(old.Table())
	oldByID := map[string]*Field{}
	for i := range old.Fields {
		oldByID[old.Fields[i].ID] = &old.Fields[i]
	}
	nextIDs := map[string]bool{}
	var dropIdx, drops, tmpRenames, renames, adds, indexes []string
	for i := range next.Fields {
		f := &next.Fields[i]
		nextIDs[f.ID] = true
		o, ok := oldByID[f.ID]
		if !ok {
			adds = append(adds, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", table, store.QuoteIdent(f.Name), columnType(d, f)))
			if f.Searchable {
				adds = append(adds, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s TEXT", table, store.QuoteIdent(blindColumn(f))))
			}
			if s := createIndexSQL(d, next, f); s != "" {
				indexes = append(indexes, s)
			}
			continue
		}
		if o.Type != f.Type || o.isList() != f.isList() {
			return nil, fmt.Errorf("%w: field %q: type and multiplicity cannot change; add a new field instead", ErrInvalidSchema, o.Name)
		}
		if o.Encrypted != f.Encrypted || o.Searchable != f.Searchable {
			return nil, fmt.Errorf("%w: field %q: encrypted and searchable cannot change; add a new field instead", ErrInvalidSchema, o.Name)
		}
		if o.Type == TypeRelation && o.Collection != f.Collection {
			return nil, fmt.Errorf("%w: field %q: the target collection cannot change", ErrInvalidSchema, o.Name)
		}
		if o.Name != f.Name {
			tmp := store.QuoteIdent("tmp_" + f.ID)
			tmpRenames = append(tmpRenames, fmt.Sprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", table, store.QuoteIdent(o.Name), tmp))
			renames = append(renames, fmt.Sprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", table, tmp, store.QuoteIdent(f.Name)))
		}
		oi, ou := o.wantsIndex()
		ni, nu := f.wantsIndex()
		if oi != ni || ou != nu {
			if oi {
				dropIdx = append(dropIdx, dropIndexSQL(old, o))
			}
			if s := createIndexSQL(d, next, f); s != "" {
				indexes = append(indexes, s)
			}
		}
	}
	for i := range old.Fields {
		o := &old.Fields[i]
		if nextIDs[o.ID] {
			continue
		}
		if oi, _ := o.wantsIndex(); oi {
			dropIdx = append(dropIdx, dropIndexSQL(old, o))
		}
		drops = append(drops, fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s", table, store.QuoteIdent(o.Name)))
		if o.Searchable {
			drops = append(drops, fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s", table, store.QuoteIdent(blindColumn(o))))
		}
	}
	var out []string
	for _, part := range [][]string{dropIdx, drops, tmpRenames, renames, adds, indexes} {
		out = append(out, part...)
	}
	return out, nil
}
