package records

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestOrderBySQL pins the ORDER BY of lists. A column that is never NULL
// (id, created, updated, the system fields of users) must not carry a NULLS
// clause, so that PostgreSQL can read its order from the primary key or a
// unique index (ASC NULLS LAST); see TestListOrderFromIndex for the plans.
// Field columns are nullable and keep NULLs first ascending on both engines.
func TestOrderBySQL(t *testing.T) {
	views := &Field{ID: "f1", Name: "views", Type: TypeNumber}
	id := column{name: "id"}
	created := column{name: "created"}
	email := column{name: "email", field: usersEmailField}
	tests := []struct {
		name  string
		terms []sortTerm
		want  string
	}{
		{"default", []sortTerm{{col: id}}, ` ORDER BY "id" ASC`},
		{"id desc", []sortTerm{{col: id, desc: true}}, ` ORDER BY "id" DESC`},
		{"created desc", []sortTerm{{col: created, desc: true}, {col: id}}, ` ORDER BY "created" DESC, "id" ASC`},
		{"users email", []sortTerm{{col: email}, {col: id}}, ` ORDER BY "email" ASC, "id" ASC`},
		{"field", []sortTerm{{col: column{name: "views", field: views}}, {col: id}}, ` ORDER BY "views" ASC NULLS FIRST, "id" ASC`},
		{"field desc", []sortTerm{{col: column{name: "views", field: views}, desc: true}, {col: id}}, ` ORDER BY "views" DESC NULLS LAST, "id" ASC`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, orderBy(tt.terms)); diff != "" {
				t.Errorf("orderBy (-want +got):\n%s", diff)
			}
		})
	}
}
