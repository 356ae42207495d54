package api

import (
	"net/http"

	"github.com/keep-dev/keep/internal/ids"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/roles"
)

type accessCheckBody struct {
	UserID     string `json:"user_id"`
	Collection string `json:"collection"`
	Action     string `json:"action"`
	RecordID   string `json:"record_id"`
}

// accessCheck explains, for a user, collection, action and record, whether
// the action is allowed and which rule decided. It reveals every record's
// rule outcome, so it needs roles.manage (superusers hold it).
func (a *API) accessCheck(w http.ResponseWriter, r *http.Request) error {
	if err := a.requirePermission(r, roles.RolesManage); err != nil {
		return err
	}
	var in accessCheckBody
	if err := a.decodeStrict(w, r, &in); err != nil {
		return err
	}
	if !ids.Valid(in.UserID) {
		return &records.ValidationError{Fields: map[string]string{"user_id": "must be a user id"}}
	}
	c, err := a.accounts.CallerFor(r.Context(), in.UserID)
	if err != nil {
		return err
	}
	d, err := a.records.Check(r.Context(), c, in.Collection, in.Action, in.RecordID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}
