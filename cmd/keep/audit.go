package main

import (
	"context"
	"fmt"
	"io"
)

// auditCommand runs `keep audit verify|export|checkpoint`.
func auditCommand(ctx context.Context, sub string, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	return fmt.Errorf("audit %s: not implemented yet", sub)
}
