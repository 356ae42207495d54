package api

import (
	"net/http"

	"github.com/keep-dev/keep/internal/accounts"
	"github.com/keep-dev/keep/internal/roles"
)

// Handlers of the identity routes (issue 3). They decode, call the accounts
// service and encode; every decision is the service's.

func (a *API) refresh(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := a.decodeStrict(w, r, &in); err != nil {
		return err
	}
	res, err := a.accounts.Refresh(r.Context(), in.RefreshToken, clientInfo(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (a *API) logout(w http.ResponseWriter, r *http.Request) error {
	c, err := requireUser(r)
	if err != nil {
		return err
	}
	if err := a.accounts.Logout(r.Context(), c); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) sessions(w http.ResponseWriter, r *http.Request) error {
	c, err := requireUser(r)
	if err != nil {
		return err
	}
	list, err := a.accounts.Sessions(r.Context(), c)
	if err != nil {
		return err
	}
	if list == nil {
		list = []accounts.SessionInfo{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": list})
	return nil
}

func (a *API) deleteSession(w http.ResponseWriter, r *http.Request) error {
	c, err := requireUser(r)
	if err != nil {
		return err
	}
	if err := a.accounts.DeleteSession(r.Context(), c, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) revokeOthers(w http.ResponseWriter, r *http.Request) error {
	c, err := requireUser(r)
	if err != nil {
		return err
	}
	if err := a.accounts.RevokeOtherSessions(r.Context(), c); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) changePassword(w http.ResponseWriter, r *http.Request) error {
	c, err := requireUser(r)
	if err != nil {
		return err
	}
	var in struct {
		Current string `json:"current_password"`
		New     string `json:"new_password"`
	}
	if err := a.decodeStrict(w, r, &in); err != nil {
		return err
	}
	if err := a.accounts.ChangePassword(r.Context(), c, in.Current, in.New); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type emailBody struct {
	Email string `json:"email"`
}

type tokenBody struct {
	Token string `json:"token"`
}

// accepted is the answer to verify and reset requests, whether or not the
// account exists.
func accepted(w http.ResponseWriter) {
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "accepted"})
}

func (a *API) verifyRequest(w http.ResponseWriter, r *http.Request) error {
	var in emailBody
	if err := a.decodeStrict(w, r, &in); err != nil {
		return err
	}
	if err := a.accounts.RequestVerification(r.Context(), in.Email); err != nil {
		return err
	}
	accepted(w)
	return nil
}

func (a *API) verifyConfirm(w http.ResponseWriter, r *http.Request) error {
	var in tokenBody
	if err := a.decodeStrict(w, r, &in); err != nil {
		return err
	}
	if err := a.accounts.ConfirmVerification(r.Context(), in.Token); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) resetRequest(w http.ResponseWriter, r *http.Request) error {
	var in emailBody
	if err := a.decodeStrict(w, r, &in); err != nil {
		return err
	}
	if err := a.accounts.RequestReset(r.Context(), in.Email); err != nil {
		return err
	}
	accepted(w)
	return nil
}

func (a *API) resetConfirm(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Token       string `json:"token"`
		NewPassword string `json:"new_password"`
	}
	if err := a.decodeStrict(w, r, &in); err != nil {
		return err
	}
	if err := a.accounts.ConfirmReset(r.Context(), in.Token, in.NewPassword); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) mfaVerify(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		MFAToken     string `json:"mfa_token"`
		Code         string `json:"code"`
		RecoveryCode string `json:"recovery_code"`
	}
	if err := a.decodeStrict(w, r, &in); err != nil {
		return err
	}
	res, err := a.accounts.VerifyMFA(r.Context(), in.MFAToken, in.Code, in.RecoveryCode, clientInfo(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (a *API) totpEnroll(w http.ResponseWriter, r *http.Request) error {
	c, err := requireUser(r)
	if err != nil {
		return err
	}
	e, err := a.accounts.EnrollTOTP(r.Context(), c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (a *API) totpConfirm(w http.ResponseWriter, r *http.Request) error {
	c, err := requireUser(r)
	if err != nil {
		return err
	}
	var in struct {
		Code string `json:"code"`
	}
	if err := a.decodeStrict(w, r, &in); err != nil {
		return err
	}
	codes, err := a.accounts.ConfirmTOTP(r.Context(), c, in.Code)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"recovery_codes": codes})
	return nil
}

func (a *API) totpDisable(w http.ResponseWriter, r *http.Request) error {
	c, err := requireUser(r)
	if err != nil {
		return err
	}
	var in struct {
		Password string `json:"password"`
	}
	if err := a.decodeStrict(w, r, &in); err != nil {
		return err
	}
	if err := a.accounts.DisableTOTP(r.Context(), c, in.Password); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) createKey(w http.ResponseWriter, r *http.Request) error {
	c, err := requireUser(r)
	if err != nil {
		return err
	}
	var in accounts.APIKeyInput
	if err := a.decodeStrict(w, r, &in); err != nil {
		return err
	}
	k, err := a.accounts.CreateAPIKey(r.Context(), c, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, k)
	return nil
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request) error {
	c, err := requireUser(r)
	if err != nil {
		return err
	}
	keys, err := a.accounts.APIKeys(r.Context(), c)
	if err != nil {
		return err
	}
	if keys == nil {
		keys = []accounts.APIKeyInfo{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": keys})
	return nil
}

func (a *API) deleteKey(w http.ResponseWriter, r *http.Request) error {
	c, err := requireUser(r)
	if err != nil {
		return err
	}
	if err := a.accounts.RevokeAPIKey(r.Context(), c, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// rotateSigningKey needs keys.manage.
func (a *API) rotateSigningKey(w http.ResponseWriter, r *http.Request) error {
	if err := a.requirePermission(r, roles.KeysManage); err != nil {
		return err
	}
	if a.rotate == nil {
		return accounts.ErrNotImplemented
	}
	if err := a.rotate(r.Context()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
