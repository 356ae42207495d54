package store

import "testing"

func TestRebind(t *testing.T) {
	tests := []struct {
		name string
		d    Dialect
		in   string
		want string
	}{
		{"sqlite untouched", SQLite, "SELECT ? , ?", "SELECT ? , ?"},
		{"postgres numbered", Postgres, "SELECT a FROM t WHERE a = ? AND b IN (?, ?)", "SELECT a FROM t WHERE a = $1 AND b IN ($2, $3)"},
		{"quoted identifier kept", Postgres, `SELECT "a?" FROM t WHERE x = ?`, `SELECT "a?" FROM t WHERE x = $1`},
		{"no placeholders", Postgres, "SELECT 1", "SELECT 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.d.Rebind(tt.in); got != tt.want {
				t.Fatalf("Rebind(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestQuoteIdent(t *testing.T) {
	if got := QuoteIdent(`a"b`); got != `"a""b"` {
		t.Fatalf("QuoteIdent = %s", got)
	}
}
