package api

import (
	"net/http"

	"github.com/keep-dev/keep/internal/accounts"
	"github.com/keep-dev/keep/internal/roles"
)

// adminRoutes is the permission each admin route needs; its handler checks
// it first with requirePermission. A route missing here must be in the
// public or signed-in list of TestEveryRouteHasAPermissionDecision, so a new
// route cannot ship without a decision.
//
// Metrics and profiles are settings.manage: they are about operating the
// server, and no narrower permission exists yet. Assigning and removing
// roles is users.manage (it changes what a user may do), not roles.manage
// (which defines roles); the roles service additionally refuses anyone but a
// superuser the superuser role, and anyone a role whose permissions they do
// not hold.
var adminRoutes = map[string]roles.Permission{
	"GET /metrics":                        roles.SettingsManage,
	"GET /debug/pprof/{name}":             roles.SettingsManage,
	"POST /api/admin/signing-keys/rotate": roles.KeysManage,
	"GET /api/admin/keys":                 roles.KeysManage,
	"POST /api/admin/keys/rotate":         roles.KeysManage,
	"POST /api/access/check":              roles.RolesManage,
	"GET /api/audit":                      roles.AuditRead,
	"GET /api/audit/verify":               roles.AuditRead,
	"POST /api/audit/checkpoints":         roles.AuditRead,
	"GET /api/collections":                roles.CollectionsManage,
	"POST /api/collections":               roles.CollectionsManage,
	"GET /api/collections/{name}":         roles.CollectionsManage,
	"PATCH /api/collections/{name}":       roles.CollectionsManage,
	"DELETE /api/collections/{name}":      roles.CollectionsManage,
	"GET /api/roles":                      roles.RolesManage,
	"POST /api/roles":                     roles.RolesManage,
	"GET /api/roles/{name}":               roles.RolesManage,
	"PATCH /api/roles/{name}":             roles.RolesManage,
	"DELETE /api/roles/{name}":            roles.RolesManage,
	"PUT /api/users/{id}/roles/{name}":    roles.UsersManage,
	"DELETE /api/users/{id}/roles/{name}": roles.UsersManage,
}

func (a *API) listRoles(w http.ResponseWriter, r *http.Request) error {
	if err := a.roleAdmin(r, roles.RolesManage); err != nil {
		return err
	}
	list, err := a.roles.List(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": list})
	return nil
}

func (a *API) createRole(w http.ResponseWriter, r *http.Request) error {
	if err := a.roleAdmin(r, roles.RolesManage); err != nil {
		return err
	}
	var in roles.Input
	if err := a.decodeStrict(w, r, &in); err != nil {
		return err
	}
	role, err := a.roles.Create(r.Context(), caller(r), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, role)
	return nil
}

func (a *API) getRole(w http.ResponseWriter, r *http.Request) error {
	if err := a.roleAdmin(r, roles.RolesManage); err != nil {
		return err
	}
	role, err := a.roles.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, role)
	return nil
}

func (a *API) updateRole(w http.ResponseWriter, r *http.Request) error {
	if err := a.roleAdmin(r, roles.RolesManage); err != nil {
		return err
	}
	var p roles.Patch
	if err := a.decodeStrict(w, r, &p); err != nil {
		return err
	}
	role, err := a.roles.Update(r.Context(), caller(r), r.PathValue("name"), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, role)
	return nil
}

func (a *API) deleteRole(w http.ResponseWriter, r *http.Request) error {
	if err := a.roleAdmin(r, roles.RolesManage); err != nil {
		return err
	}
	if err := a.roles.Delete(r.Context(), caller(r), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) assignRole(w http.ResponseWriter, r *http.Request) error {
	if err := a.roleAdmin(r, roles.UsersManage); err != nil {
		return err
	}
	if err := a.roles.Assign(r.Context(), caller(r), r.PathValue("id"), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) unassignRole(w http.ResponseWriter, r *http.Request) error {
	if err := a.roleAdmin(r, roles.UsersManage); err != nil {
		return err
	}
	if err := a.roles.Unassign(r.Context(), caller(r), r.PathValue("id"), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// roleAdmin checks permission p for a roles route, and answers 501 when the
// API was built without a roles service.
func (a *API) roleAdmin(r *http.Request, p roles.Permission) error {
	if err := a.requirePermission(r, p); err != nil {
		return err
	}
	if a.roles == nil {
		return accounts.ErrNotImplemented
	}
	return nil
}
