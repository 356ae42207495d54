package access

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/keep-dev/keep/internal/store"
)

const benchRule = `public || owner == auth.id || ("editor" in auth.roles && title.startsWith("Go") && views > 5)`

func BenchmarkCompile(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Compile(benchRule, sampleSchema, d, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkBind(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		p, err := Compile(benchRule, sampleSchema, d, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(string(d), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := p.Bind(sampleUser); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTraversalRule measures a list query under the rule
// `owner.team == auth.team` on SQLite: 10,000 posts owned by 100 users in 10
// teams, one page of 20 ordered by id. member is a caller whose team owns a
// tenth of the posts, so the page fills after about 200 rows; no_match is a
// team that owns nothing, the worst case, where every row is read and
// looked up. Run with -v to see the query plan.
func BenchmarkTraversalRule(b *testing.B) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	b.Cleanup(func() { db.Close() })
	for _, q := range []string{
		`CREATE TABLE c_users (id TEXT PRIMARY KEY, created TEXT, updated TEXT, team TEXT)`,
		`CREATE TABLE c_posts (id TEXT PRIMARY KEY, created TEXT, updated TEXT, title TEXT, owner TEXT)`,
		`CREATE INDEX ix_posts_owner ON c_posts (owner)`,
	} {
		if _, err := db.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	for u := range 100 {
		if _, err := tx.Exec(`INSERT INTO c_users (id, team) VALUES (?, ?)`, fmt.Sprintf("u%03d", u), fmt.Sprintf("t%02d", u%10)); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 10000 {
		if _, err := tx.Exec(`INSERT INTO c_posts (id, title, owner) VALUES (?, ?, ?)`, fmt.Sprintf("p%05d", i), "post", fmt.Sprintf("u%03d", i%100)); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(`ANALYZE`); err != nil {
		b.Fatal(err)
	}
	id := Field{Name: "id", Column: "id", Kind: KindText}
	users := &Schema{Table: "c_users", Fields: []Field{id, {Name: "team", Column: "team", Kind: KindText}}}
	posts := Schema{Table: "c_posts", Fields: []Field{id, {Name: "title", Column: "title", Kind: KindText}, {Name: "owner", Column: "owner", Kind: KindText, Target: users}}}
	p, err := Compile(`owner.team == auth.team`, posts, store.SQLite, Limits{})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name, team string
		want       int
	}{{"member", "t03", 20}, {"no_match", "t99", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			a := Auth{ID: "u003", Fields: map[string]any{"team": bc.team}}
			pred, args, err := p.Bind(a)
			if err != nil {
				b.Fatal(err)
			}
			q := "SELECT id, title FROM c_posts WHERE " + pred + " ORDER BY id LIMIT 20"
			b.Logf("%s\nargs %v\n%s", q, args, explain(b, db, q, args))
			b.ReportAllocs()
			for b.Loop() {
				pred, args, err := p.Bind(a)
				if err != nil {
					b.Fatal(err)
				}
				rows, err := db.Query("SELECT id, title FROM c_posts WHERE "+pred+" ORDER BY id LIMIT 20", args...)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for rows.Next() {
					var id, title string
					if err := rows.Scan(&id, &title); err != nil {
						b.Fatal(err)
					}
					n++
				}
				if err := rows.Err(); err != nil {
					b.Fatal(err)
				}
				rows.Close()
				if n != bc.want {
					b.Fatalf("got %d rows, want %d", n, bc.want)
				}
			}
		})
	}
}

func explain(tb testing.TB, db *sql.DB, q string, args []any) string {
	rows, err := db.Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var out strings.Builder
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			tb.Fatal(err)
		}
		fmt.Fprintf(&out, "%d %d %s\n", id, parent, detail)
	}
	return out.String()
}
