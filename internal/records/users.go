package records

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"

	"github.com/keep-dev/keep/internal/store"
)

// UserQuery is what UserWith adds to the query that loads a user record, so
// that identity loading can read what it needs about the user (roles, a
// session) in the same statement. Its SQL is the caller's own constant text:
// every value is an argument of UserWith, and in the SQL the users table is
// named u.
//
// Build one per shape and reuse it: it keeps the SQL it builds for the
// current users collection, which would otherwise be rebuilt on every
// request. It is safe for concurrent use; its fields must not change once
// it has been used.
type UserQuery struct {
	// Select are expressions selected after the record's columns, scanned
	// into the dest of UserWith in order, as store.Row.Scan scans.
	Select []string
	// Where, when set, is a condition the user's row must also meet.
	Where string

	built atomic.Pointer[userSQL]
}

// userSQL is a UserQuery's statement for one version of the users
// collection (a schema change makes a new *Collection).
type userSQL struct {
	coll *Collection
	cols []column
	sql  string
}

func (q *UserQuery) statement(c *Collection) *userSQL {
	if b := q.built.Load(); b != nil && b.coll == c {
		return b
	}
	cols := c.columns()
	var b strings.Builder
	b.WriteString("SELECT ")
	b.WriteString(selectList(cols))
	for _, e := range q.Select {
		b.WriteString(", ")
		b.WriteString(e)
	}
	b.WriteString(" FROM ")
	b.WriteString(store.QuoteIdent(c.Table()))
	b.WriteString(" AS u WHERE ")
	if q.Where != "" {
		b.WriteString("(")
		b.WriteString(q.Where)
		b.WriteString(") AND ")
	}
	b.WriteString("u.id = ?")
	built := &userSQL{coll: c, cols: cols, sql: b.String()}
	q.built.Store(built)
	return built
}

// UserWith is User with more in the same query: the record is decoded
// (encrypted fields opened) exactly as User decodes it, and q.Select is
// scanned into dest, one each. args are the arguments of q.Select and then
// of q.Where. A user that does not exist or fails q.Where is ErrNotFound,
// and then dest is left as it was.
func (s *Service) UserWith(ctx context.Context, id string, q *UserQuery, dest []any, args ...any) (Record, error) {
	if len(q.Select) != len(dest) {
		return nil, errors.New("records: UserWith needs one dest per selected expression")
	}
	c, err := s.Collection("users")
	if err != nil {
		return nil, err
	}
	st := q.statement(c)
	recs, err := s.queryRecordsInto(ctx, s.db, c, st.cols, dest, st.sql, append(args[:len(args):len(args)], id)...)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, ErrNotFound
	}
	return recs[0], nil
}
