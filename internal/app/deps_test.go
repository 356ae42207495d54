package app

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyDirection keeps the layering of STYLE.md true: imports point
// from cmd to app to the HTTP layer to domain packages to the store, only app
// reaches the concrete engines and drivers, and domain code never speaks
// HTTP.
func TestDependencyDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps=false", "-json=ImportPath,Deps", "github.com/keep-dev/keep/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/keep-dev/keep/"
	engines := []string{mod + "internal/store/sqlite", mod + "internal/store/postgres", "modernc.org/sqlite", "github.com/jackc/pgx/v5"}
	domain := []string{"records", "access", "auth", "accounts", "roles", "ids", "store", "config", "keyring", "audit", "secretbox", "mail"}
	upper := []string{mod + "internal/api", mod + "internal/server", mod + "internal/app"}

	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Deps       []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		seen++
		rel := strings.TrimPrefix(p.ImportPath, mod)
		isEngine := strings.HasPrefix(rel, "internal/store/sqlite") || strings.HasPrefix(rel, "internal/store/postgres")
		isTestHelper := strings.HasPrefix(rel, "internal/store/enginetest") || strings.HasPrefix(rel, "internal/store/storetest")
		isDomain := false
		for _, d := range domain {
			if rel == "internal/"+d {
				isDomain = true
			}
		}
		for _, dep := range p.Deps {
			if !isEngine && !isTestHelper && rel != "internal/app" && rel != "cmd/keep" {
				for _, e := range engines {
					if dep == e || strings.HasPrefix(dep, e+"/") {
						t.Errorf("%s depends on %s: only internal/app may reach the engines", rel, dep)
					}
				}
			}
			if isDomain {
				if dep == "net/http" {
					t.Errorf("domain package %s depends on net/http", rel)
				}
				for _, u := range upper {
					if dep == u {
						t.Errorf("domain package %s depends on %s (imports must point downward)", rel, dep)
					}
				}
			}
			if dep == mod+"internal/app" && rel != "cmd/keep" {
				t.Errorf("%s depends on internal/app; only cmd/keep may", rel)
			}
		}
	}
	if seen < 10 {
		t.Fatalf("go list saw only %d packages", seen)
	}
}
