package api

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestDataInFlight: data-API routes are counted while they run (the
// password hasher yields to them), other routes such as login are not.
func TestDataInFlight(t *testing.T) {
	a := &API{inFlight: new(atomic.Int64)}
	for _, tt := range []struct {
		pattern string
		want    int64
	}{
		{"GET /api/collections/{name}/records/{id}", 1},
		{"POST /api/collections/{name}/records", 1},
		{"POST /api/auth/login", 0},
		{"GET /healthz", 0},
	} {
		var seen int64 = -1
		h := a.route(tt.pattern, func(http.ResponseWriter, *http.Request) error {
			seen = a.inFlight.Load()
			return nil
		})
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		if seen != tt.want {
			t.Errorf("%s: %d in flight while it ran, want %d", tt.pattern, seen, tt.want)
		}
		if n := a.inFlight.Load(); n != 0 {
			t.Errorf("%s: %d still counted after it returned", tt.pattern, n)
		}
	}
}
