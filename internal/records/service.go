package records

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/keep-dev/keep/internal/access"
	"github.com/keep-dev/keep/internal/audit"
	"github.com/keep-dev/keep/internal/keyring"
	"github.com/keep-dev/keep/internal/store"
)

// PasswordHasher hashes and checks the strength of user passwords; package
// auth provides it. Declared here so that records needs nothing else of auth.
type PasswordHasher interface {
	Hash(ctx context.Context, password string) (string, error)
	Validate(password string) error
}

// Options configure a Service.
type Options struct {
	Hasher PasswordHasher
	Limits access.Limits // expression limits for rules and filters
	Logger *slog.Logger
	// Keyring seals encrypted fields; without it, collections with
	// encrypted fields are refused.
	Keyring *keyring.Ring
	// Audit records schema changes, writes to audited collections (and the
	// users collection) and reads of collections that ask for it, each in
	// the transaction of its change; nil records nothing.
	Audit *audit.Log
}

// Service is the collection and record service. It is safe for concurrent
// use. Collections are cached in memory and reloaded when this process
// changes them.
type Service struct {
	db     store.DB
	hasher PasswordHasher
	limits access.Limits
	log    *slog.Logger
	ring   *keyring.Ring
	audit  *audit.Log

	// onUserUpdate runs in the transaction that changes a user's system
	// fields (disabled, email, verified). Set once at start-up.
	onUserUpdate func(ctx context.Context, q store.Querier, userID string, changed map[string]any) error

	schemaMu sync.Mutex // serialises schema changes in this process
	mu       sync.RWMutex
	cols     map[string]*Collection
}

// New loads the collections of db and returns the service.
func New(ctx context.Context, db store.DB, opts Options) (*Service, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{db: db, hasher: opts.Hasher, limits: opts.Limits, log: opts.Logger, ring: opts.Keyring, audit: opts.Audit, cols: map[string]*Collection{}}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Caller is who is asking. The zero value is an anonymous caller.
type Caller struct {
	Auth      access.Auth
	Superuser bool
	Session   string // the session of the access token, if any
	APIKey    string // the id of the API key used, if any
}

// Anonymous reports whether the caller is not signed in.
func (c Caller) Anonymous() bool { return c.Auth.ID == "" }

// deny is the refusal for a caller: 401 for anonymous callers, 403 for
// signed-in ones.
func deny(c Caller) error {
	if c.Anonymous() {
		return ErrUnauthorized
	}
	return ErrForbidden
}

// ruleSQL returns the SQL condition that rule imposes on caller ("" for
// none), or the refusal when the rule is locked.
func (s *Service) ruleSQL(c Caller, rule access.CompiledRule) (string, []any, error) {
	return s.ruleSQLFor(c, rule, access.Request{})
}

// ruleSQLFor is ruleSQL for a rule that may read the request (method and
// submitted body), as create and update rules may.
func (s *Service) ruleSQLFor(c Caller, rule access.CompiledRule, req access.Request) (string, []any, error) {
	if c.Superuser {
		return "", nil, nil
	}
	switch rule.Kind {
	case access.RulePublic:
		return "", nil, nil
	case access.RuleExpr:
		cond, args, err := rule.Pred.BindRequest(c.Auth, req)
		if err != nil {
			// A value of the caller does not fit the rule: fail closed.
			// The cause is not logged: it can quote the caller's values.
			s.log.Warn("rule could not be bound; denying", "rule", rule.Pred.Source())
			return "1=0", nil, nil
		}
		return cond, args, nil
	}
	return "", nil, deny(c)
}

// column is one selected column and the field that decodes it (nil for id,
// created and updated). A column with a check is not a value but a field's
// read rule for the caller (see readColumns).
type column struct {
	name  string
	field *Field
	check *readCheck
}

// readCheck is a read rule bound for one caller, selected as a boolean
// column under alias: where it is false or NULL, the record is returned
// without the field.
type readCheck struct {
	sql, alias string
	args       []any
}

var (
	usersEmailField    = &Field{Name: "email", Type: TypeEmail, Required: true, Unique: true}
	usersVerifiedField = &Field{Name: "verified", Type: TypeBool}
	usersDisabledField = &Field{Name: "disabled", Type: TypeBool}
)

// columns lists what a record is made of, in order. The users password hash
// is never among them.
func (c *Collection) columns() []column {
	cols := []column{{name: "id"}, {name: "created"}, {name: "updated"}}
	if c.Name == "users" {
		cols = append(cols, column{name: "email", field: usersEmailField}, column{name: "verified", field: usersVerifiedField}, column{name: "disabled", field: usersDisabledField})
	}
	for i := range c.Fields {
		cols = append(cols, column{name: c.Fields[i].Name, field: &c.Fields[i]})
	}
	return cols
}

// fieldOrSystem finds a column by name, including system columns.
func (c *Collection) column(name string) (column, bool) {
	for _, col := range c.columns() {
		if col.name == name {
			return col, true
		}
	}
	return column{}, false
}

func selectList(cols []column) string {
	names := make([]string, len(cols))
	for i, col := range cols {
		if col.check != nil {
			names[i] = col.check.sql + " AS " + store.QuoteIdent(col.check.alias)
			continue
		}
		names[i] = store.QuoteIdent(col.name)
	}
	return strings.Join(names, ", ")
}

// selectArgs are the arguments of selectList(cols), which come before those
// of the rest of the query.
func selectArgs(cols []column) []any {
	var args []any
	for _, col := range cols {
		if col.check != nil {
			args = append(args, col.check.args...)
		}
	}
	return args
}

// Record is a record as the API returns it: flat field values plus id,
// created, updated and, when asked, "expand".
type Record map[string]any

// ID returns the record's id.
func (r Record) ID() string { s, _ := r["id"].(string); return s }

// scanRecords reads rows selected with cols.
func scanRecords(rows store.Rows, cols []column) ([]Record, error) {
	return scanRecordsInto(rows, cols, nil)
}

// scanRecordsInto is scanRecords for rows that select more after cols:
// those columns are scanned into extra, from every row, so it suits
// queries of one row.
func scanRecordsInto(rows store.Rows, cols []column, extra []any) ([]Record, error) {
	defer rows.Close()
	var out []Record
	raw := make([]any, len(cols))
	ptrs := make([]any, len(cols), len(cols)+len(extra))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	ptrs = append(ptrs, extra...)
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		rec := make(Record, len(cols))
		for i, col := range cols {
			if col.check != nil {
				continue
			}
			v, err := jsonValue(col.field, raw[i])
			if err != nil {
				return nil, err
			}
			rec[col.name] = v
		}
		for i, col := range cols {
			if col.check != nil && !truthy(raw[i]) {
				delete(rec, col.name)
			}
		}
		out = append(out, rec)
	}
	return out, rows.Err()
}

// queryRecords runs a SELECT of selectList(cols) and scans the records.
// args are the arguments of the query after the select list: those of the
// select list itself (read checks) are put before them here.
// Encrypted values of c are opened once the rows are closed.
func (s *Service) queryRecords(ctx context.Context, q store.Querier, c *Collection, cols []column, query string, args ...any) ([]Record, error) {
	return s.queryRecordsInto(ctx, q, c, cols, nil, query, args...)
}

// queryRecordsInto is queryRecords for a query that selects more after
// cols, scanned into extra (see scanRecordsInto).
func (s *Service) queryRecordsInto(ctx context.Context, q store.Querier, c *Collection, cols []column, extra []any, query string, args ...any) ([]Record, error) {
	if sel := selectArgs(cols); len(sel) > 0 {
		args = append(sel, args...)
	}
	rows, err := q.Query(ctx, query, args...)
	if err == nil {
		var recs []Record
		if recs, err = scanRecordsInto(rows, cols, extra); err == nil {
			if err = s.openRecords(ctx, q, c, recs); err == nil {
				return recs, nil
			}
			if errors.Is(err, keyring.ErrIntegrity) {
				return nil, err
			}
		}
	}
	if ctx.Err() != nil {
		// The engine's own error for an interrupted query varies; the
		// deadline is what happened.
		return nil, fmt.Errorf("query records: %w (%w)", ctx.Err(), err)
	}
	return nil, fmt.Errorf("query records: %w", err)
}

func and(conds ...string) string {
	var parts []string
	for _, c := range conds {
		if c != "" {
			parts = append(parts, c)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(parts, " AND ")
}

func placeholders(n int) string {
	if n == 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// OnUserUpdate sets what runs, inside the writing transaction, when a
// superuser changes a user's system fields; changed holds the new values of
// those among disabled, email and verified that the update sets. Call it
// before serving.
func (s *Service) OnUserUpdate(fn func(ctx context.Context, q store.Querier, userID string, changed map[string]any) error) {
	s.onUserUpdate = fn
}

// User returns a user record without applying any rule; identity loading
// uses it to learn a caller's own fields.
func (s *Service) User(ctx context.Context, id string) (Record, error) {
	c, err := s.Collection("users")
	if err != nil {
		return nil, err
	}
	return s.reload(ctx, s.db, c, c.columns(), id)
}

// TimeArg is t as a query argument for a timestamp column of dialect d.
func TimeArg(d store.Dialect, t time.Time) any {
	return sqlValue(d, t.UTC().Truncate(time.Millisecond))
}
