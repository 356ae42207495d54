package auth

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestDependencies keeps auth a domain package: no HTTP (transport belongs to
// internal/api) and no concrete storage engine (only internal/app picks one).
func TestDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	for _, forbidden := range []string{
		"net/http",
		"github.com/keep-dev/keep/internal/store/sqlite",
		"github.com/keep-dev/keep/internal/store/postgres",
	} {
		if slices.Contains(deps, forbidden) {
			t.Errorf("auth depends on %s", forbidden)
		}
	}
}
