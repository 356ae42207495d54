package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/keep-dev/keep/internal/accounts"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
)

// TestClassify pins the mapping from domain errors to statuses and codes,
// and that an unknown error reveals nothing.
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{&records.ValidationError{Fields: map[string]string{"a": "b"}}, 422, "validation_failed"},
		{fmt.Errorf("wrapped: %w", records.ErrNotFound), 404, "not_found"},
		{records.ErrUnauthorized, 401, "unauthorized"},
		{records.ErrForbidden, 403, "forbidden"},
		{&records.PublicError{Kind: records.ErrConflict, Msg: "taken"}, 409, "conflict"},
		{&records.PublicError{Kind: records.ErrBadRequest, Msg: "bad sort"}, 400, "bad_request"},
		{accounts.ErrInvalidCredentials, 401, "invalid_credentials"},
		{fmt.Errorf("%w: expired", accounts.ErrUnauthenticated), 401, "invalid_token"},
		{fmt.Errorf("hash: %w", context.DeadlineExceeded), 503, "unavailable"},
		{fmt.Errorf("tx: %w", store.ErrBusy), 503, "unavailable"},
		{fmt.Errorf("query: %w", context.Canceled), 499, "canceled"},
		{errors.New("pq: relation c_x does not exist SELECT secret"), 500, "internal_error"},
	} {
		e := classify(tc.err)
		if e.Status != tc.status || e.Code != tc.code {
			t.Errorf("%v: got %d %s, want %d %s", tc.err, e.Status, e.Code, tc.status, tc.code)
		}
		if e.Status == http.StatusInternalServerError && e.Msg != "internal error" {
			t.Errorf("500 message leaks: %q", e.Msg)
		}
	}
	if e := classify(&records.PublicError{Kind: records.ErrConflict, Msg: "taken"}); e.Msg != "taken" {
		t.Errorf("public message lost: %q", e.Msg)
	}
}
