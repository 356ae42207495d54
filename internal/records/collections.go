package records

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/keep-dev/keep/internal/access"
	"github.com/keep-dev/keep/internal/audit"
	"github.com/keep-dev/keep/internal/store"
)

// storedSchema is the JSON document kept in _keep_collections.schema.
type storedSchema struct {
	Fields     []Field      `json:"fields"`
	Rules      access.Rules `json:"rules"`
	Audited    bool         `json:"audited,omitempty"`
	AuditReads bool         `json:"audit_reads,omitempty"`
}

// CollectionInput is the body of a create. Unknown JSON keys are rejected by
// the caller's decoder.
type CollectionInput struct {
	Name       string       `json:"name"`
	Fields     []Field      `json:"fields"`
	Rules      access.Rules `json:"rules"`
	Audited    bool         `json:"audited"`
	AuditReads bool         `json:"audit_reads"`
}

// CollectionPatch is the body of an update: fields, when present, replace the
// list (matched by id); each rule present replaces that rule.
type CollectionPatch struct {
	Name       *string                `json:"name"`
	Fields     *[]Field               `json:"fields"`
	Rules      map[string]access.Rule `json:"rules"`
	Audited    *bool                  `json:"audited"`
	AuditReads *bool                  `json:"audit_reads"`
}

// Collections lists every collection, by name.
func (s *Service) Collections() []*Collection {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Collection, 0, len(s.cols))
	for _, c := range s.cols {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Collection returns the named collection or ErrNotFound.
func (s *Service) Collection(name string) (*Collection, error) {
	s.mu.RLock()
	c := s.cols[name]
	s.mu.RUnlock()
	if c == nil {
		return nil, &PublicError{Kind: ErrNotFound, Msg: "collection not found"}
	}
	return c, nil
}

func (s *Service) lookupLocked(name string) *Collection { return s.cols[name] }

// lookup finds a collection by name, taking the read lock.
func (s *Service) lookup(name string) *Collection {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cols[name]
}

// load reads every collection from the database and compiles its rules.
func (s *Service) load(ctx context.Context) error {
	rows, err := s.db.Query(ctx, `SELECT id, name, system, schema, version, created, updated FROM _keep_collections`)
	if err != nil {
		return fmt.Errorf("load collections: %w", err)
	}
	defer rows.Close()
	var all []*Collection
	for rows.Next() {
		var (
			col              = &Collection{}
			system           any
			schema           string
			created, updated any
		)
		if err := rows.Scan(&col.ID, &col.Name, &system, &schema, &col.Version, &created, &updated); err != nil {
			return fmt.Errorf("load collections: %w", err)
		}
		col.System = system == true || system == int64(1)
		var st storedSchema
		if err := json.Unmarshal([]byte(schema), &st); err != nil {
			return fmt.Errorf("collection %q: bad stored schema: %w", col.Name, err)
		}
		col.Fields, col.Rules, col.Audited, col.AuditReads = st.Fields, st.Rules, st.Audited, st.AuditReads
		col.Created, _ = scanTime(created)
		col.Updated, _ = scanTime(updated)
		all = append(all, col)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load collections: %w", err)
	}
	cols := make(map[string]*Collection, len(all))
	for _, c := range all {
		cols[c.Name] = c
	}
	lookup := func(n string) *Collection { return cols[n] }
	for _, c := range all {
		var verr ValidationError
		c.normalise(&verr, lookup)
		if err := verr.err(); err != nil {
			return fmt.Errorf("collection %q: stored schema no longer valid: %w", c.Name, err)
		}
		if err := s.compile(c, lookup, &verr); err != nil {
			return fmt.Errorf("collection %q: %w", c.Name, err)
		}
	}
	s.mu.Lock()
	s.cols = cols
	s.mu.Unlock()
	return nil
}

// compile compiles the five rules of c and the read and write rules of its
// fields; problems go to verr under rules.X and fields[i].read_rule or
// fields[i].write_rule.
func (s *Service) compile(c *Collection, lookup func(string) *Collection, verr *ValidationError) error {
	c.ring = s.ring
	if s.ring == nil {
		for i := range c.Fields {
			if c.Fields[i].Encrypted {
				verr.add(fmt.Sprintf("fields[%d].encrypted", i), "encrypted fields need the keyring, which this process has not loaded")
			}
		}
	}
	schema := c.ruleSchema(lookup)
	for _, r := range []struct {
		name string
		rule access.Rule
		dst  *access.CompiledRule
	}{
		{"list", c.Rules.List, &c.compiled.list},
		{"view", c.Rules.View, &c.compiled.view},
		{"create", c.Rules.Create, &c.compiled.create},
		{"update", c.Rules.Update, &c.compiled.update},
		{"delete", c.Rules.Delete, &c.compiled.delete},
	} {
		cr, err := r.rule.Compile(schema, s.db.Dialect(), s.limits)
		if err != nil {
			var ce *access.CompileError
			if errors.As(err, &ce) {
				verr.add("rules."+r.name, ce.Msg)
				continue
			}
			return err
		}
		if cr.Pred != nil && (r.name == "list" || r.name == "view") {
			for _, tr := range cr.Pred.Traversals() {
				// Comparisons with a value compile to a semi-join driven by
				// the relation's index; the cost grows with the matching
				// rows, which a large collection can make many.
				s.log.Warn("rule traverses a relation; a list over a large table may scan it",
					"collection", c.Name, "rule", r.name, "traversal", tr.String())
			}
		}
		*r.dst = cr
	}
	if err := s.compileFields(c, schema, verr); err != nil {
		return err
	}
	compileColumns(c)
	return verr.err()
}

func scanTime(v any) (time.Time, error) {
	switch t := v.(type) {
	case time.Time:
		return t.UTC(), nil
	case string:
		return time.Parse(time.RFC3339Nano, t)
	case []byte:
		return time.Parse(time.RFC3339Nano, string(t))
	}
	return time.Time{}, fmt.Errorf("unexpected time %T", v)
}

func (s *Service) timeArg(t time.Time) any { return sqlValue(s.db.Dialect(), t) }

func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

func newCollectionID() string {
	var b [7]byte
	_, _ = rand.Read(b[:])
	return "c" + hex.EncodeToString(b[:])
}

func encodeSchema(c *Collection) (string, error) {
	b, err := json.Marshal(storedSchema{Fields: c.Fields, Rules: c.Rules, Audited: c.Audited, AuditReads: c.AuditReads})
	return string(b), err
}

// CreateCollection validates in, creates the table and its indexes and
// records the collection, all in one transaction.
func (s *Service) CreateCollection(ctx context.Context, in CollectionInput) (*Collection, error) {
	s.schemaMu.Lock()
	defer s.schemaMu.Unlock()

	c := &Collection{ID: newCollectionID(), Name: in.Name, Fields: in.Fields, Rules: in.Rules, Version: 1,
		Audited: in.Audited, AuditReads: in.AuditReads}
	if c.Fields == nil {
		c.Fields = []Field{}
	}
	for i := range c.Fields {
		c.Fields[i].ID = "" // ids are assigned by the server on create
	}
	var verr ValidationError
	s.mu.RLock()
	c.normalise(&verr, s.lookupLocked)
	exists := s.cols[c.Name] != nil
	s.mu.RUnlock()
	if err := verr.err(); err != nil {
		return nil, err
	}
	if exists {
		return nil, conflict("collection %q already exists", c.Name)
	}
	if err := s.compile(c, s.lookup, &verr); err != nil {
		return nil, err
	}
	doc, err := encodeSchema(c)
	if err != nil {
		return nil, err
	}
	c.Created, c.Updated = now(), now()
	err = s.db.Tx(ctx, func(q store.Querier) error {
		if _, err := q.Exec(ctx, `INSERT INTO _keep_collections (id, name, system, schema, version, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.Name, sqlValue(s.db.Dialect(), false), doc, c.Version, s.timeArg(c.Created), s.timeArg(c.Updated)); err != nil {
			return err
		}
		for _, stmt := range createTableSQL(s.db.Dialect(), c) {
			if _, err := q.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		return s.audit.Append(ctx, q, audit.Event{Action: "collection.create", Target: "collection:" + c.Name,
			Details: schemaDetails(c)})
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, conflict("collection %q already exists", c.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("create collection: %w", err)
	}
	s.put(c)
	return c, nil
}

func (s *Service) put(c *Collection) {
	s.mu.Lock()
	s.cols[c.Name] = c
	s.mu.Unlock()
}

// UpdateCollection applies p to the named collection: a transactional
// migration of its table (add, rename, drop fields; index changes) together
// with the new definition.
func (s *Service) UpdateCollection(ctx context.Context, name string, p CollectionPatch) (*Collection, error) {
	s.schemaMu.Lock()
	defer s.schemaMu.Unlock()

	old, err := s.Collection(name)
	if err != nil {
		return nil, err
	}
	next := &Collection{ID: old.ID, Name: old.Name, System: old.System, Fields: old.Fields, Rules: old.Rules,
		Audited: old.Audited, AuditReads: old.AuditReads, Created: old.Created, Updated: now(), Version: old.Version + 1}
	if p.Audited != nil {
		next.Audited = *p.Audited
	}
	if p.AuditReads != nil {
		next.AuditReads = *p.AuditReads
	}
	var verr ValidationError
	if p.Name != nil && *p.Name != old.Name {
		verr.add("name", "collections cannot be renamed")
	}
	if p.Fields != nil {
		next.Fields = *p.Fields
		if next.Fields == nil {
			next.Fields = []Field{}
		}
		known := map[string]bool{}
		for _, f := range old.Fields {
			known[f.ID] = true
		}
		for i, f := range next.Fields {
			if f.ID != "" && !known[f.ID] {
				verr.add(fmt.Sprintf("fields[%d].id", i), "unknown field id; leave it out to add a field")
			}
		}
	} else {
		next.Fields = append([]Field(nil), old.Fields...)
	}
	for key, rule := range p.Rules {
		switch key {
		case "list":
			next.Rules.List = rule
		case "view":
			next.Rules.View = rule
		case "create":
			next.Rules.Create = rule
		case "update":
			next.Rules.Update = rule
		case "delete":
			next.Rules.Delete = rule
		default:
			verr.add("rules."+key, "unknown rule; rules are list, view, create, update and delete")
		}
	}
	s.mu.RLock()
	next.normalise(&verr, func(n string) *Collection {
		if n == next.Name {
			return next
		}
		return s.cols[n]
	})
	s.mu.RUnlock()
	if err := verr.err(); err != nil {
		return nil, err
	}
	if err := s.compile(next, func(n string) *Collection {
		if n == next.Name {
			return next
		}
		return s.lookup(n)
	}, &verr); err != nil {
		return nil, err
	}
	stmts, err := alterSQL(s.db.Dialect(), old, next)
	if err != nil {
		return nil, &ValidationError{Fields: map[string]string{"fields": errors.Unwrap(err).Error()}}
	}
	doc, err := encodeSchema(next)
	if err != nil {
		return nil, err
	}
	err = s.db.Tx(ctx, func(q store.Querier) error {
		n, err := q.Exec(ctx, `UPDATE _keep_collections SET schema = ?, version = ?, updated = ? WHERE id = ? AND version = ?`,
			doc, next.Version, s.timeArg(next.Updated), next.ID, old.Version)
		if err != nil {
			return err
		}
		if n != 1 {
			return conflict("collection %q was changed concurrently; reload and retry", name)
		}
		for _, stmt := range stmts {
			if _, err := q.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		details := schemaDetails(next)
		details["version"] = next.Version
		details["before"] = schemaDetails(old)
		return s.audit.Append(ctx, q, audit.Event{Action: "collection.update", Target: "collection:" + name, Details: details})
	})
	if errors.Is(err, store.ErrConflict) {
		var pe *PublicError
		if errors.As(err, &pe) {
			return nil, err
		}
		return nil, conflict("existing records violate the new unique constraint")
	}
	if errors.Is(err, store.ErrInvalidValue) {
		return nil, badRequest("existing records hold values the new index cannot take")
	}
	if err != nil {
		return nil, fmt.Errorf("update collection: %w", err)
	}
	s.put(next)
	return next, nil
}

// DeleteCollection drops the collection's table and definition. The users
// collection and collections that are relation targets cannot be deleted.
func (s *Service) DeleteCollection(ctx context.Context, name string) error {
	s.schemaMu.Lock()
	defer s.schemaMu.Unlock()

	c, err := s.Collection(name)
	if err != nil {
		return err
	}
	if c.System {
		return &PublicError{Kind: ErrForbidden, Msg: "system collections cannot be deleted"}
	}
	for _, other := range s.Collections() {
		if other.Name == name {
			continue
		}
		for _, f := range other.Fields {
			if f.Type == TypeRelation && f.Collection == name {
				return conflict("collection %q is the target of %s.%s", name, other.Name, f.Name)
			}
		}
	}
	err = s.db.Tx(ctx, func(q store.Querier) error {
		if _, err := q.Exec(ctx, `DELETE FROM _keep_collections WHERE id = ?`, c.ID); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, "DROP TABLE "+store.QuoteIdent(c.Table())); err != nil {
			return err
		}
		return s.audit.Append(ctx, q, audit.Event{Action: "collection.delete", Target: "collection:" + c.Name,
			Details: schemaDetails(c)})
	})
	if err != nil {
		return fmt.Errorf("delete collection: %w", err)
	}
	s.mu.Lock()
	delete(s.cols, name)
	s.mu.Unlock()
	return nil
}
