package api

import (
	"context"
	"net/http"

	"github.com/keep-dev/keep/internal/accounts"
	"github.com/keep-dev/keep/internal/keyring"
	"github.com/keep-dev/keep/internal/roles"
)

// KeyManager manages the field-encryption keyring (package keyring, wired
// by internal/app).
type KeyManager interface {
	// KeyStatus lists the keys (never their material) and the latest
	// re-encryption jobs with their progress.
	KeyStatus(ctx context.Context) (keyring.Status, error)
	// RotateDataKey makes a new data key current at once and starts the
	// re-encryption job, which runs in the background.
	RotateDataKey(ctx context.Context) (keyring.Job, error)
}

// keyringStatus is GET /api/admin/keys (keys.manage).
func (a *API) keyringStatus(w http.ResponseWriter, r *http.Request) error {
	if err := a.requirePermission(r, roles.KeysManage); err != nil {
		return err
	}
	if a.keys == nil {
		return accounts.ErrNotImplemented
	}
	st, err := a.keys.KeyStatus(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// rotateDataKey is POST /api/admin/keys/rotate (keys.manage): 202 with the
// job, whose progress GET /api/admin/keys shows.
func (a *API) rotateDataKey(w http.ResponseWriter, r *http.Request) error {
	if err := a.requirePermission(r, roles.KeysManage); err != nil {
		return err
	}
	if a.keys == nil {
		return accounts.ErrNotImplemented
	}
	job, err := a.keys.RotateDataKey(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"job": job})
	return nil
}
