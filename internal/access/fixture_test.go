package access

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	neturl "net/url"
	"os"
	"sort"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/keep-dev/keep/internal/store"
)

// The fixture: one collection "sample" with a field of every kind. Some
// columns differ from their field names, and labels lives in a column named
// "json" and key in "key", names json_each also uses, to catch scoping
// mistakes in the SQLite list SQL.
//
// owner, editor and tags are relations to the collection usersSchema
// describes (table sample_users); tags, a list, cannot be traversed.
var sampleSchema = Schema{Table: "sample", Fields: []Field{
	{Name: "id", Column: "id", Kind: KindText},
	{Name: "created", Column: "created", Kind: KindDate},
	{Name: "updated", Column: "updated", Kind: KindDate},
	{Name: "title", Column: "title", Kind: KindText},
	{Name: "body", Column: "body_text", Kind: KindText},
	{Name: "views", Column: "view_count", Kind: KindNumber},
	{Name: "score", Column: "score", Kind: KindNumber},
	{Name: "public", Column: "is_public", Kind: KindBool},
	{Name: "owner", Column: "owner", Kind: KindText, Target: &usersSchema},
	{Name: "editor", Column: "editor", Kind: KindText, Target: &usersSchema},
	{Name: "meta", Column: "meta", Kind: KindJSON},
	{Name: "tags", Column: "tags", Kind: KindTextList, Target: &usersSchema},
	{Name: "labels", Column: "json", Kind: KindTextList},
	{Name: "key", Column: "key", Kind: KindText},
}}

// usersSchema is the target of the sample relations. Its columns title and
// owner have the names of sample's own columns, so a traversal that failed
// to qualify the outer column would compare the user's columns instead;
// skills lives in a column named "json" like sample's labels. Its relation
// manager has a Target of its own, which traversal (one level) ignores.
var usersSchema = Schema{
	Table: "sample_users",
	Fields: []Field{
		{Name: "id", Column: "id", Kind: KindText},
		{Name: "created", Column: "created", Kind: KindDate},
		{Name: "updated", Column: "updated", Kind: KindDate},
		{Name: "team", Column: "team", Kind: KindText},
		{Name: "rank", Column: "rank_value", Kind: KindNumber},
		{Name: "admin", Column: "is_admin", Kind: KindBool},
		{Name: "joined", Column: "joined", Kind: KindDate},
		{Name: "skills", Column: "json", Kind: KindTextList},
		{Name: "title", Column: "title", Kind: KindText},
		{Name: "manager", Column: "owner", Kind: KindText, Target: &Schema{Table: "sample_users", Fields: []Field{{Name: "id", Column: "id"}}}},
		{Name: "bio", Column: "bio", Kind: KindJSON},
	},
}

type userRow struct {
	id, team, title, manager *string
	rank                     *float64
	admin                    *bool
	joined                   *string // DateLayout
	skills, bio              *string // JSON
}

// There is no user "" (r05's owner) and no u9: traversals through them, and
// through NULL owners, find no record.
var userRows = []userRow{
	{s("u1"), s("a"), s("Lead"), s("u2"), f(5), b(true), s("2024-01-01T00:00:00.000Z"), s(`["go","sql"]`), s(`{"x":1}`)},
	{s("u2"), s("b"), s("Go dev"), nil, f(1), b(false), s("2023-01-01T00:00:00.000Z"), s(`[]`), nil},
	{s("u3"), s("a"), nil, s("u1"), nil, nil, nil, nil, nil},
	{s("u4"), nil, s("x"), s("u4"), f(10), b(false), s("2025-01-01T00:00:00.000Z"), s(`["go"]`), nil},
}

const usersDDL = `CREATE TABLE sample_users (
	id TEXT PRIMARY KEY, created %[1]s, updated %[1]s, team TEXT, rank_value %[2]s, is_admin %[3]s,
	joined %[1]s, "json" %[4]s, title TEXT, owner TEXT, bio %[4]s)`

const usersInsert = `INSERT INTO sample_users (id, team, rank_value, is_admin, joined, "json", title, owner, bio) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`

// sampleRequest is the request of the expression cases that set req.
var sampleRequest = Request{
	Method: "PATCH",
	Body: map[string]any{
		"status":  "draft",
		"title":   "GoLang",
		"views":   42.0,
		"cleared": nil,
		"owners":  []any{"u2", "u3"},
		"meta":    map[string]any{"a": 1},
	},
}

var (
	sampleUser = Auth{
		ID:    "u1",
		Email: "alice@corp.com",
		Roles: []string{"editor"},
		Fields: map[string]any{
			"teams":    []string{"u2", "u3"},
			"nums":     []any{5, 42.0},
			"level":    3,
			"verified": true,
			"name":     "Go",
			"since":    time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
			"flags":    []bool{false},
			"dates":    []time.Time{time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)},
			"sizes":    []int{2, 3},
			"titles":   []any{"GoLang", nil, "xgo"},
			"empty":    []string{},
			"team":     "a",
		},
	}
	anonymous = Auth{}
)

type sampleRow struct {
	id            string
	title, body   *string
	views, score  *float64
	public        *bool
	owner, editor *string
	created       *string // DateLayout
	meta          *string // JSON
	tags, labels  *string // JSON arrays
	key           *string
}

func s(v string) *string   { return &v }
func f(v float64) *float64 { return &v }
func b(v bool) *bool       { return &v }

// Rows cover NULLs, %, _, \, *, [, mixed case, non-ASCII text and dates a
// millisecond apart. Expected results in the tests are worked out by hand
// from this table.
var sampleRows = []sampleRow{
	{"r01", s("Go tips"), s("Learn Go"), f(600), f(1), b(true), s("u1"), s("u2"), s("2024-03-01T10:00:00.000Z"), s(`{"a":1}`), s(`["go","db"]`), s(`["x"]`), s("go")},
	{"r02", s("go lower"), s("lower case"), f(10), f(2), b(false), s("u2"), s("u1"), s("2023-06-01T00:00:00.000Z"), nil, s(`[]`), s(`[]`), s("u2")},
	{"r03", s("G%wild"), s("percent g"), nil, nil, nil, nil, nil, nil, nil, nil, nil, nil},
	{"r04", s("100% sure"), s("has % sign"), f(500), f(500), b(true), s("u1"), nil, s("2024-01-01T00:00:00.000Z"), s(`{}`), s(`["x","y"]`), s(`["u1"]`), s("x")},
	{"r05", s("under_score"), s("a_b"), f(5), f(6), b(false), s(""), s(""), s("2024-01-01T00:00:00.001Z"), nil, s(`["Go"]`), nil, s("")},
	{"r06", s("GoLang"), s("GOLANG"), f(1.5), f(1.5), b(true), s("u3"), s("u3"), s("2025-05-05T05:05:05.555Z"), s(`[1,2]`), s(`["go"]`), s(`["go"]`), s("go")},
	{"r07", nil, nil, f(0), f(0), b(false), s("u1"), s("u1"), s("2022-01-01T00:00:00.000Z"), nil, s(`["u1"]`), s(`["r07"]`), nil},
	{"r08", s(`back\slash`), s("star*[x]"), f(1000), f(999.5), b(true), s("u2"), nil, s("2024-06-30T23:59:59.999Z"), nil, s(`["a","b","c"]`), nil, s("a")},
	{"r09", s(""), s(""), f(-5), f(-5), b(false), nil, s("u2"), s("2024-02-29T12:00:00.000Z"), nil, s(`[]`), s(`[]`), s("")},
	{"r10", s("Ünïcode gö"), s("naïve café"), f(42), f(42), b(true), s("u1"), s("u1"), s("2024-01-01T00:00:00.000Z"), s(`{"b":2}`), s(`["ü"]`), nil, s("ü")},
	{"r11", s("xgo"), s("Go"), f(7), f(8), nil, s("u4"), s("u1"), s("2023-12-31T23:59:59.999Z"), nil, nil, s(`["xgo"]`), s("xgo")},
}

const sqliteDDL = `CREATE TABLE sample (
	id TEXT PRIMARY KEY, created TEXT, updated TEXT, title TEXT, body_text TEXT,
	view_count REAL, score REAL, is_public INTEGER, owner TEXT, editor TEXT,
	meta TEXT, tags TEXT, "json" TEXT, "key" TEXT)`

const postgresDDL = `CREATE TABLE %s (
	id TEXT PRIMARY KEY, created TIMESTAMPTZ, updated TIMESTAMPTZ, title TEXT, body_text TEXT,
	view_count DOUBLE PRECISION, score DOUBLE PRECISION, is_public BOOLEAN, owner TEXT, editor TEXT,
	meta JSONB, tags JSONB, "json" JSONB, "key" TEXT)`

const insertColumns = `(id, created, updated, title, body_text, view_count, score, is_public, owner, editor, meta, tags, "json", "key")`

// engine is a database holding the sample table.
type engine struct {
	dialect store.Dialect
	db      *sql.DB
	table   string // possibly schema-qualified
}

// ids runs the predicate and returns the matching row ids, sorted.
func (e *engine) ids(ctx context.Context, pred string, args []any) ([]string, error) {
	q := e.dialect.Rebind("SELECT id FROM " + e.table + " WHERE " + pred + " ORDER BY id")
	rows, err := e.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", q, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	sort.Strings(out)
	return out, rows.Err()
}

func newSQLite(tb testing.TB) *engine {
	tb.Helper()
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(1) // one connection, one in-memory database
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Exec(sqliteDDL); err != nil {
		tb.Fatal(err)
	}
	if _, err := db.Exec(fmt.Sprintf(usersDDL, "TEXT", "REAL", "INTEGER", "TEXT")); err != nil {
		tb.Fatal(err)
	}
	for _, u := range userRows {
		var admin any
		if u.admin != nil {
			admin = 0
			if *u.admin {
				admin = 1
			}
		}
		if _, err := db.Exec(usersInsert, u.id, u.team, u.rank, admin, u.joined, u.skills, u.title, u.manager, u.bio); err != nil {
			tb.Fatal(err)
		}
	}
	for _, r := range sampleRows {
		var public any
		if r.public != nil {
			public = 0
			if *r.public {
				public = 1
			}
		}
		_, err := db.Exec(`INSERT INTO sample `+insertColumns+` VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.id, r.created, r.created, r.title, r.body, r.views, r.score, public, r.owner, r.editor, r.meta, r.tags, r.labels, r.key)
		if err != nil {
			tb.Fatal(err)
		}
	}
	return &engine{dialect: store.SQLite, db: db, table: "sample"}
}

// newPostgres creates the sample table in a fresh schema of the database
// named by KEEP_TEST_POSTGRES_URL and drops the schema afterwards.
func newPostgres(tb testing.TB) *engine {
	tb.Helper()
	url := os.Getenv("KEEP_TEST_POSTGRES_URL")
	if url == "" {
		tb.Skip("KEEP_TEST_POSTGRES_URL not set")
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		tb.Fatal(err)
	}
	schema := "keep_access_test_" + hex.EncodeToString(rnd[:])
	if _, err := db.Exec("CREATE SCHEMA " + store.QuoteIdent(schema)); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if _, err := db.Exec("DROP SCHEMA " + store.QuoteIdent(schema) + " CASCADE"); err != nil {
			tb.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	// Traversals name the target table unqualified, as records does, so
	// the connections that run predicates search the test schema first.
	// pgx sends unknown URL parameters as run-time parameters.
	u, err := neturl.Parse(url)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	run, err := sql.Open("pgx", u.String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { run.Close() })
	if _, err := run.Exec(fmt.Sprintf(usersDDL, "TIMESTAMPTZ", "DOUBLE PRECISION", "BOOLEAN", "JSONB")); err != nil {
		tb.Fatal(err)
	}
	for _, u := range userRows {
		var joined any
		if u.joined != nil {
			t, err := time.Parse(DateLayout, *u.joined)
			if err != nil {
				tb.Fatal(err)
			}
			joined = t
		}
		if _, err := run.Exec(store.Postgres.Rebind(usersInsert), u.id, u.team, u.rank, u.admin, joined, u.skills, u.title, u.manager, u.bio); err != nil {
			tb.Fatal(err)
		}
	}
	table := store.QuoteIdent(schema) + ".sample"
	if _, err := run.Exec(fmt.Sprintf(postgresDDL, table)); err != nil {
		tb.Fatal(err)
	}
	for _, r := range sampleRows {
		var created any
		if r.created != nil {
			t, err := time.Parse(DateLayout, *r.created)
			if err != nil {
				tb.Fatal(err)
			}
			created = t
		}
		q := store.Postgres.Rebind(`INSERT INTO ` + table + ` ` + insertColumns + ` VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		_, err := run.Exec(q, r.id, created, created, r.title, r.body, r.views, r.score, r.public, r.owner, r.editor, r.meta, r.tags, r.labels, r.key)
		if err != nil {
			tb.Fatal(err)
		}
	}
	return &engine{dialect: store.Postgres, db: run, table: table}
}
