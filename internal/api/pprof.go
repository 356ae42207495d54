package api

import (
	"net/http"
	"net/http/pprof"
	rpprof "runtime/pprof"

	"github.com/keep-dev/keep/internal/roles"
)

// profile serves Go's profiles to holders of settings.manage only: they
// reveal memory contents and code paths, so they are never public. CPU
// profiles and traces are bounded by the server's write timeout.
func (a *API) profile(w http.ResponseWriter, r *http.Request) error {
	if err := a.requirePermission(r, roles.SettingsManage); err != nil {
		return err
	}
	switch name := r.PathValue("name"); name {
	case "profile":
		pprof.Profile(w, r)
	case "trace":
		pprof.Trace(w, r)
	case "cmdline":
		pprof.Cmdline(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	default:
		if rpprof.Lookup(name) == nil {
			return newError(http.StatusNotFound, "not_found", "no such profile")
		}
		pprof.Handler(name).ServeHTTP(w, r)
	}
	return nil
}
