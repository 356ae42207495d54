package api

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/keep-dev/keep/internal/accounts"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/roles"
)

// Records is what the API needs of the record service.
type Records interface {
	Collections() []*records.Collection
	Collection(name string) (*records.Collection, error)
	CreateCollection(ctx context.Context, in records.CollectionInput) (*records.Collection, error)
	UpdateCollection(ctx context.Context, name string, p records.CollectionPatch) (*records.Collection, error)
	DeleteCollection(ctx context.Context, name string) error

	Create(ctx context.Context, c records.Caller, coll string, body records.Body) (records.Record, error)
	Get(ctx context.Context, c records.Caller, coll, id string, opt records.ViewOptions) (records.Record, error)
	Update(ctx context.Context, c records.Caller, coll, id string, body records.Body) (records.Record, error)
	Delete(ctx context.Context, c records.Caller, coll, id string) error
	List(ctx context.Context, c records.Caller, coll string, opt records.ListOptions) (*records.Page, error)
	Check(ctx context.Context, c records.Caller, coll, action, recordID string) (records.Decision, error)
}

// Accounts is what the API needs of the accounts service.
type Accounts interface {
	Login(ctx context.Context, email, password string, client accounts.ClientInfo) (accounts.LoginResult, error)
	Authenticate(ctx context.Context, token string, client accounts.ClientInfo) (records.Caller, error)
	Me(ctx context.Context, c records.Caller) (records.Record, error)
	Signup(ctx context.Context, body records.Body) (records.Record, error)
	CallerFor(ctx context.Context, userID string) (records.Caller, error)

	Refresh(ctx context.Context, refreshToken string, client accounts.ClientInfo) (accounts.LoginResult, error)
	Logout(ctx context.Context, c records.Caller) error
	Sessions(ctx context.Context, c records.Caller) ([]accounts.SessionInfo, error)
	DeleteSession(ctx context.Context, c records.Caller, id string) error
	RevokeOtherSessions(ctx context.Context, c records.Caller) error
	ChangePassword(ctx context.Context, c records.Caller, current, next string) error

	RequestVerification(ctx context.Context, email string) error
	ConfirmVerification(ctx context.Context, token string) error
	RequestReset(ctx context.Context, email string) error
	ConfirmReset(ctx context.Context, token, newPassword string) error

	EnrollTOTP(ctx context.Context, c records.Caller) (accounts.TOTPEnrollment, error)
	ConfirmTOTP(ctx context.Context, c records.Caller, code string) ([]string, error)
	DisableTOTP(ctx context.Context, c records.Caller, password string) error
	VerifyMFA(ctx context.Context, mfaToken, code, recoveryCode string, client accounts.ClientInfo) (accounts.LoginResult, error)

	CreateAPIKey(ctx context.Context, c records.Caller, in accounts.APIKeyInput) (accounts.APIKeyCreated, error)
	APIKeys(ctx context.Context, c records.Caller) ([]accounts.APIKeyInfo, error)
	RevokeAPIKey(ctx context.Context, c records.Caller, id string) error
}

// Roles is what the API needs of the roles service.
type Roles interface {
	Has(ctx context.Context, c records.Caller, p roles.Permission) (bool, error)
	List(ctx context.Context) ([]roles.Role, error)
	Get(ctx context.Context, name string) (roles.Role, error)
	Create(ctx context.Context, c records.Caller, in roles.Input) (roles.Role, error)
	Update(ctx context.Context, c records.Caller, name string, p roles.Patch) (roles.Role, error)
	Delete(ctx context.Context, c records.Caller, name string) error
	Assign(ctx context.Context, c records.Caller, userID, role string) error
	Unassign(ctx context.Context, c records.Caller, userID, role string) error
}

// Metrics records requests and serves the scrape endpoint.
type Metrics interface {
	Observe(route, method string, status int, d time.Duration)
	Handler() http.Handler
}

// Deps are the services the API is built from.
type Deps struct {
	Records  Records
	Accounts Accounts
	// Roles answers permission checks; nil means only superusers pass them.
	Roles   Roles
	Metrics Metrics                     // may be nil
	JWKS    func() ([]byte, error)      // public signing keys
	Ready   func(context.Context) error // database reachable
	// RotateSigningKey makes a new token signing key current at once.
	RotateSigningKey func(context.Context) error
	// Keys manages the field-encryption keyring; nil answers 501.
	Keys KeyManager
	// Audit is the audit log; nil leaves refusals unrecorded and the audit
	// routes answering 404.
	Audit Audit
	// Limiter applies per-IP rate limits to the auth endpoints; nil means
	// no per-IP limits (the per-identifier login lockout always applies).
	Limiter Limiter
	Logger  *slog.Logger
	// BodyLimit caps request bodies in bytes (default 1 MiB).
	BodyLimit int64
	// CORSOrigins are the exact origins browsers may call the API from;
	// none by default (headers.go).
	CORSOrigins []string
	// DataInFlight, when set, counts the data-API requests (under
	// /api/collections/) being served; the password hasher runs one hash
	// at a time while it is above zero, so a login flood leaves cores to
	// them.
	DataInFlight *atomic.Int64
}

// API is the HTTP handler of Keep. It is safe for concurrent use.
type API struct {
	records   Records
	accounts  Accounts
	roles     Roles
	metrics   Metrics
	jwks      func() ([]byte, error)
	ready     func(context.Context) error
	rotate    func(context.Context) error
	keys      KeyManager
	audit     Audit
	denials   *denialLimiter
	limiter   Limiter
	log       *slog.Logger
	bodyLimit int64
	mux       *http.ServeMux
	cors      *cors
	inFlight  *atomic.Int64
}

// DefaultBodyLimit is the request body limit when none is configured.
const DefaultBodyLimit = 1 << 20

// New builds the handler with every route.
func New(d Deps) http.Handler {
	a := &API{records: d.Records, accounts: d.Accounts, roles: d.Roles, metrics: d.Metrics, jwks: d.JWKS, ready: d.Ready,
		rotate: d.RotateSigningKey, keys: d.Keys, audit: d.Audit, denials: newDenialLimiter(), limiter: d.Limiter,
		log: d.Logger, bodyLimit: d.BodyLimit, mux: http.NewServeMux(), cors: newCORS(d.CORSOrigins),
		inFlight: d.DataInFlight}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.bodyLimit <= 0 {
		a.bodyLimit = DefaultBodyLimit
	}
	for _, rt := range a.routes() {
		a.mux.Handle(rt.pattern, a.route(rt.pattern, rt.fn))
	}
	return a.outer(http.HandlerFunc(a.dispatch))
}

type route struct {
	pattern string
	fn      func(http.ResponseWriter, *http.Request) error
}

func (a *API) routes() []route {
	return []route{
		{"GET /healthz", a.healthz},
		{"GET /readyz", a.readyz},
		{"GET /metrics", a.metricsRoute},
		{"GET /debug/pprof/{name}", a.profile},
		{"GET /.well-known/jwks.json", a.jwksRoute},
		{"GET /api/openapi.json", a.openapi},

		{"POST /api/auth/signup", a.limit("signup", a.signup)},
		{"POST /api/auth/login", a.limit("login", a.login)},
		{"GET /api/auth/me", a.me},
		{"POST /api/auth/refresh", a.limit("refresh", a.refresh)},
		{"POST /api/auth/logout", a.logout},
		{"GET /api/auth/sessions", a.sessions},
		{"DELETE /api/auth/sessions/{id}", a.deleteSession},
		{"POST /api/auth/sessions/revoke-others", a.revokeOthers},
		{"POST /api/auth/password", a.limit("password", a.changePassword)},
		{"POST /api/auth/verify/request", a.limit("verify", a.verifyRequest)},
		{"POST /api/auth/verify/confirm", a.limit("verify", a.verifyConfirm)},
		{"POST /api/auth/reset/request", a.limit("reset", a.resetRequest)},
		{"POST /api/auth/reset/confirm", a.limit("reset", a.resetConfirm)},
		{"POST /api/auth/mfa/verify", a.limit("mfa", a.mfaVerify)},
		{"POST /api/auth/mfa/totp/enroll", a.totpEnroll},
		{"POST /api/auth/mfa/totp/confirm", a.limit("mfa", a.totpConfirm)},
		{"DELETE /api/auth/mfa/totp", a.limit("mfa", a.totpDisable)},

		{"POST /api/keys", a.createKey},
		{"GET /api/keys", a.listKeys},
		{"DELETE /api/keys/{id}", a.deleteKey},
		{"POST /api/admin/signing-keys/rotate", a.rotateSigningKey},
		{"GET /api/admin/keys", a.keyringStatus},
		{"POST /api/admin/keys/rotate", a.rotateDataKey},
		{"POST /api/access/check", a.accessCheck},
		{"GET /api/audit", a.listAudit},
		{"GET /api/audit/verify", a.verifyAudit},
		{"POST /api/audit/checkpoints", a.createAuditCheckpoint},

		{"GET /api/collections", a.listCollections},
		{"POST /api/collections", a.createCollection},
		{"GET /api/collections/{name}", a.getCollection},
		{"PATCH /api/collections/{name}", a.updateCollection},
		{"DELETE /api/collections/{name}", a.deleteCollection},

		{"GET /api/collections/{name}/records", a.listRecords},
		{"POST /api/collections/{name}/records", a.createRecord},
		{"GET /api/collections/{name}/records/{id}", a.getRecord},
		{"PATCH /api/collections/{name}/records/{id}", a.updateRecord},
		{"DELETE /api/collections/{name}/records/{id}", a.deleteRecord},

		{"GET /api/roles", a.listRoles},
		{"POST /api/roles", a.createRole},
		{"GET /api/roles/{name}", a.getRole},
		{"PATCH /api/roles/{name}", a.updateRole},
		{"DELETE /api/roles/{name}", a.deleteRole},
		{"PUT /api/users/{id}/roles/{name}", a.assignRole},
		{"DELETE /api/users/{id}/roles/{name}", a.unassignRole},
	}
}

// dispatch serves matched routes and renders the mux's own 404/405 as the
// envelope (keeping its Allow header).
func (a *API) dispatch(w http.ResponseWriter, r *http.Request) {
	h, pattern := a.mux.Handler(r)
	if pattern != "" {
		a.mux.ServeHTTP(w, r)
		return
	}
	fw := &muxFallback{ResponseWriter: w}
	h.ServeHTTP(fw, r)
	if fw.status == http.StatusMethodNotAllowed {
		writeError(w, r, newError(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed"))
		return
	}
	// Not found, and the mux's redirects for unclean paths: Keep's clients
	// use canonical paths, so neither gets a body of the mux's making.
	writeError(w, r, newError(http.StatusNotFound, "not_found", "route not found"))
}
