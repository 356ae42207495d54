//go:build tools

package internal

import (
	_ "cel.dev/cel-go/cel"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "golang.org/x/crypto/argon2"
	_ "modernc.org/sqlite"
)
