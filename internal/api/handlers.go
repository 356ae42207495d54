package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/roles"
)

func (a *API) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) error {
	if a.ready != nil {
		if err := a.ready(r.Context()); err != nil {
			state(r).logger().Warn("not ready", "err", err)
			return newError(http.StatusServiceUnavailable, "unavailable", "the database is not reachable")
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

// metricsRoute serves metrics on the main listener to holders of
// settings.manage (operating the server); a scraper uses the separate
// --metrics-http listener.
func (a *API) metricsRoute(w http.ResponseWriter, r *http.Request) error {
	if err := a.requirePermission(r, roles.SettingsManage); err != nil {
		return err
	}
	if a.metrics == nil {
		return newError(http.StatusNotFound, "not_found", "metrics are disabled")
	}
	a.metrics.Handler().ServeHTTP(w, r)
	return nil
}

func (a *API) jwksRoute(w http.ResponseWriter, r *http.Request) error {
	b, err := a.jwks()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(b)
	return nil
}

func (a *API) signup(w http.ResponseWriter, r *http.Request) error {
	body, err := a.decodeRecordBody(w, r)
	if err != nil {
		return err
	}
	rec, err := a.accounts.Signup(r.Context(), body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, rec)
	return nil
}

type loginBody struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (a *API) login(w http.ResponseWriter, r *http.Request) error {
	var in loginBody
	if err := a.decodeStrict(w, r, &in); err != nil {
		return err
	}
	res, err := a.accounts.Login(r.Context(), in.Email, in.Password, clientInfo(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (a *API) me(w http.ResponseWriter, r *http.Request) error {
	c := caller(r)
	if c.Anonymous() {
		return records.ErrUnauthorized
	}
	rec, err := a.accounts.Me(r.Context(), c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

func (a *API) listCollections(w http.ResponseWriter, r *http.Request) error {
	if err := a.requirePermission(r, roles.CollectionsManage); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": a.records.Collections()})
	return nil
}

func (a *API) createCollection(w http.ResponseWriter, r *http.Request) error {
	if err := a.requirePermission(r, roles.CollectionsManage); err != nil {
		return err
	}
	var in records.CollectionInput
	if err := a.decodeStrict(w, r, &in); err != nil {
		return err
	}
	c, err := a.records.CreateCollection(r.Context(), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, c)
	return nil
}

func (a *API) getCollection(w http.ResponseWriter, r *http.Request) error {
	if err := a.requirePermission(r, roles.CollectionsManage); err != nil {
		return err
	}
	c, err := a.records.Collection(r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (a *API) updateCollection(w http.ResponseWriter, r *http.Request) error {
	if err := a.requirePermission(r, roles.CollectionsManage); err != nil {
		return err
	}
	var p records.CollectionPatch
	if err := a.decodeStrict(w, r, &p); err != nil {
		return err
	}
	c, err := a.records.UpdateCollection(r.Context(), r.PathValue("name"), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (a *API) deleteCollection(w http.ResponseWriter, r *http.Request) error {
	if err := a.requirePermission(r, roles.CollectionsManage); err != nil {
		return err
	}
	if err := a.records.DeleteCollection(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// viewOptions reads fields= and expand=.
func viewOptions(r *http.Request) records.ViewOptions {
	q := r.URL.Query()
	return records.ViewOptions{Fields: splitList(q.Get("fields")), Expand: splitList(q.Get("expand"))}
}

func splitList(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

func (a *API) listRecords(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	opt := records.ListOptions{ViewOptions: viewOptions(r), Filter: q.Get("filter"), Sort: q.Get("sort"), Cursor: q.Get("cursor")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > records.MaxLimit {
			return newError(http.StatusBadRequest, "bad_request", "limit must be an integer between 1 and "+strconv.Itoa(records.MaxLimit))
		}
		opt.Limit = n
	}
	page, err := a.records.List(r.Context(), caller(r), r.PathValue("name"), opt)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (a *API) createRecord(w http.ResponseWriter, r *http.Request) error {
	body, err := a.decodeRecordBody(w, r)
	if err != nil {
		return err
	}
	rec, err := a.records.Create(r.Context(), caller(r), r.PathValue("name"), body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, rec)
	return nil
}

func (a *API) getRecord(w http.ResponseWriter, r *http.Request) error {
	rec, err := a.records.Get(r.Context(), caller(r), r.PathValue("name"), r.PathValue("id"), viewOptions(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

func (a *API) updateRecord(w http.ResponseWriter, r *http.Request) error {
	body, err := a.decodeRecordBody(w, r)
	if err != nil {
		return err
	}
	rec, err := a.records.Update(r.Context(), caller(r), r.PathValue("name"), r.PathValue("id"), body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

func (a *API) deleteRecord(w http.ResponseWriter, r *http.Request) error {
	if err := a.records.Delete(r.Context(), caller(r), r.PathValue("name"), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
