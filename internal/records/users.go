package records

import (
	"context"
	"errors"
	"strings"

	"github.com/keep-dev/keep/internal/store"
)

// UserQuery is what UserWith adds to the query that loads a user record, so
// that identity loading can read what it needs about the user (roles, a
// session) in the same statement. Its SQL is the caller's own constant text:
// every value goes in Args, and in the SQL the users table is named u.
type UserQuery struct {
	// Select are expressions selected after the record's columns, scanned
	// into Dest in order, as store.Row.Scan scans.
	Select []string
	Dest   []any
	// Where, when set, is a condition the user's row must also meet.
	Where string
	// Args are the arguments of Select and then those of Where.
	Args []any
}

// UserWith is User with more in the same query: the record is decoded
// (encrypted fields opened) exactly as User decodes it, and q.Select is
// scanned into q.Dest. A user that does not exist or fails q.Where is
// ErrNotFound, and then Dest is left as it was.
func (s *Service) UserWith(ctx context.Context, id string, q UserQuery) (Record, error) {
	if len(q.Select) != len(q.Dest) {
		return nil, errors.New("records: UserWith needs one Dest per Select")
	}
	c, err := s.Collection("users")
	if err != nil {
		return nil, err
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
	args := append(q.Args[:len(q.Args):len(q.Args)], id)
	recs, err := s.queryRecordsInto(ctx, s.db, c, cols, q.Dest, b.String(), args...)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, ErrNotFound
	}
	return recs[0], nil
}
