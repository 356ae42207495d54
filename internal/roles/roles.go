package roles

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keep-dev/keep/internal/audit"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
)

// Permission is a system permission: the right to operate one part of Keep.
type Permission string

// The built-in permissions.
const (
	CollectionsManage Permission = "collections.manage"
	UsersManage       Permission = "users.manage"
	RolesManage       Permission = "roles.manage"
	AuditRead         Permission = "audit.read"
	BackupsManage     Permission = "backups.manage"
	KeysManage        Permission = "keys.manage"
	SettingsManage    Permission = "settings.manage"
)

// all is every permission, sorted.
var all = []Permission{AuditRead, BackupsManage, CollectionsManage, KeysManage, RolesManage, SettingsManage, UsersManage}

// All returns every built-in permission, sorted.
func All() []Permission { return slices.Clone(all) }

// Known reports whether p is a built-in permission.
func Known(p Permission) bool { return slices.Contains(all, p) }

// Superuser is the built-in role holding every permission. It is the same
// name as accounts.SuperuserRole.
const Superuser = "superuser"

// MaxDescription is the longest description, in characters.
const MaxDescription = 500

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

// Role is a named set of permissions.
type Role struct {
	Name        string       `json:"name"`
	Description string       `json:"description"`
	Permissions []Permission `json:"permissions"`
	// System roles (superuser) are built in and cannot be changed.
	System  bool      `json:"system"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// Input is the body that creates a role.
type Input struct {
	Name        string       `json:"name"`
	Description string       `json:"description"`
	Permissions []Permission `json:"permissions"`
}

// Patch changes a role; nil members are left alone. Name, when set, must be
// the role's own name: roles cannot be renamed.
type Patch struct {
	Name        *string       `json:"name"`
	Description *string       `json:"description"`
	Permissions *[]Permission `json:"permissions"`
}

// Set is a set of permissions.
type Set map[Permission]bool

// Service keeps roles in the database. It is safe for concurrent use; it
// holds no state of its own besides the database.
type Service struct {
	db    store.DB
	audit *audit.Log
	now   func() time.Time
}

// New returns the service on db, which must be migrated. Every change is
// recorded in log (nil records nothing) in the transaction that makes it.
func New(db store.DB, log *audit.Log) *Service {
	return &Service{db: db, audit: log, now: time.Now}
}

func actor(c records.Caller) string {
	if c.Anonymous() {
		return "anonymous"
	}
	return audit.User(c.Auth.ID)
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

func (s *Service) timeArg(t time.Time) any { return records.TimeArg(s.db.Dialect(), t) }

// forUpdate locks a row read in a transaction on PostgreSQL; SQLite's writer
// transaction already excludes other writers.
func (s *Service) forUpdate() string {
	if s.db.Dialect() == store.Postgres {
		return " FOR UPDATE"
	}
	return ""
}

var (
	errSuperuserFixed = &records.PublicError{Kind: records.ErrForbidden, Msg: "the superuser role is built in and cannot be changed or deleted"}
	errSuperuserOnly  = &records.PublicError{Kind: records.ErrForbidden, Msg: "only a superuser may assign or remove the superuser role"}
	errEscalation     = &records.PublicError{Kind: records.ErrForbidden, Msg: "you may only manage roles whose permissions you hold yourself"}
	errRoleNotFound   = &records.PublicError{Kind: records.ErrNotFound, Msg: "role not found"}
	errUserNotFound   = &records.PublicError{Kind: records.ErrNotFound, Msg: "user not found"}
	errLastSuperuser  = &records.PublicError{Kind: records.ErrConflict, Msg: "the last superuser cannot lose the superuser role"}
)

// plausible reports whether s could be a stored name or id at all, so that
// a value PostgreSQL refuses (a NUL) or a huge one never reaches a query.
func plausible(s string) bool {
	return s != "" && len(s) <= 64 && strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)
}

// checkPermissions validates ps and returns them sorted without duplicates.
func checkPermissions(ps []Permission, verr *records.ValidationError) []Permission {
	out := make([]Permission, 0, len(ps))
	for i, p := range ps {
		if !Known(p) {
			addProblem(verr, "permissions["+strconv.Itoa(i)+"]", "unknown permission; known: "+joinPermissions(all))
			continue
		}
		out = append(out, p)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func checkDescription(d string, verr *records.ValidationError) {
	switch {
	case utf8.RuneCountInString(d) > MaxDescription:
		addProblem(verr, "description", "must be at most "+strconv.Itoa(MaxDescription)+" characters")
	case strings.IndexByte(d, 0) >= 0:
		addProblem(verr, "description", "must not contain NUL characters")
	}
}

func addProblem(verr *records.ValidationError, key, msg string) {
	if verr.Fields == nil {
		verr.Fields = map[string]string{}
	}
	if _, ok := verr.Fields[key]; !ok && len(verr.Fields) < records.MaxProblems {
		verr.Fields[key] = msg
	}
}

func joinPermissions(ps []Permission) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, ", ")
}

// subset reports whether every permission in ps is in held.
func subset(ps []Permission, held Set) bool {
	for _, p := range ps {
		if !held[p] {
			return false
		}
	}
	return true
}

// mayGrant refuses a caller who is not a superuser and lacks one of ps.
func (s *Service) mayGrant(ctx context.Context, c records.Caller, ps ...[]Permission) error {
	if c.Superuser {
		return nil
	}
	held, err := s.Permissions(ctx, c.Auth.Roles)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if !subset(p, held) {
			return errEscalation
		}
	}
	return nil
}

// Create adds a role. A taken name answers records.ErrConflict, invalid
// input a *records.ValidationError, and permissions the caller does not
// hold (unless a superuser) records.ErrForbidden.
func (s *Service) Create(ctx context.Context, c records.Caller, in Input) (Role, error) {
	var verr records.ValidationError
	if !namePattern.MatchString(in.Name) {
		addProblem(&verr, "name", "must start with a lower-case letter and hold at most 63 of a-z, 0-9, _ and -")
	}
	checkDescription(in.Description, &verr)
	perms := checkPermissions(in.Permissions, &verr)
	if len(verr.Fields) > 0 {
		return Role{}, &verr
	}
	if err := s.mayGrant(ctx, c, perms); err != nil {
		return Role{}, err
	}
	now := s.clock()
	r := Role{Name: in.Name, Description: in.Description, Permissions: perms, Created: now, Updated: now}
	doc, err := json.Marshal(perms)
	if err != nil {
		return Role{}, err
	}
	err = s.db.Tx(ctx, func(q store.Querier) error {
		if _, err := q.Exec(ctx, `INSERT INTO _keep_roles (name, description, permissions, system, created, updated) VALUES (?, ?, ?, ?, ?, ?)`,
			r.Name, r.Description, string(doc), s.boolArg(false), s.timeArg(now), s.timeArg(now)); err != nil {
			return err
		}
		return s.audit.Append(ctx, q, audit.Event{Action: "role.create", Actor: actor(c), Target: "role:" + r.Name,
			Details: map[string]any{"permissions": perms}})
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		return Role{}, &records.PublicError{Kind: records.ErrConflict, Msg: "a role with this name exists"}
	case err != nil:
		return Role{}, fmt.Errorf("create role: %w", err)
	}
	return r, nil
}

func (s *Service) boolArg(b bool) any {
	if s.db.Dialect() == store.Postgres {
		return b
	}
	if b {
		return 1
	}
	return 0
}

const roleColumns = `name, description, permissions, system, created, updated`

func scanRole(row interface{ Scan(...any) error }) (Role, error) {
	var (
		r                    Role
		perms                string
		system, created, upd any
	)
	if err := row.Scan(&r.Name, &r.Description, &perms, &system, &created, &upd); err != nil {
		return Role{}, err
	}
	if err := json.Unmarshal([]byte(perms), &r.Permissions); err != nil {
		return Role{}, fmt.Errorf("role %s: permissions: %w", r.Name, err)
	}
	if r.Permissions == nil {
		r.Permissions = []Permission{}
	}
	r.System = system == true || system == int64(1)
	var err error
	if r.Created, err = scanTime(created); err != nil {
		return Role{}, err
	}
	if r.Updated, err = scanTime(upd); err != nil {
		return Role{}, err
	}
	if r.Name == Superuser {
		// The superuser holds every permission, including ones added after
		// its row was written.
		r.Permissions = All()
	}
	return r, nil
}

func scanTime(v any) (time.Time, error) {
	switch t := v.(type) {
	case time.Time:
		return t.UTC(), nil
	case string:
		return time.Parse(time.RFC3339Nano, t)
	case []byte:
		return time.Parse(time.RFC3339Nano, string(t))
	}
	return time.Time{}, fmt.Errorf("roles: unexpected time %T", v)
}

// List returns every role, by name.
func (s *Service) List(ctx context.Context) ([]Role, error) {
	rows, err := s.db.Query(ctx, `SELECT `+roleColumns+` FROM _keep_roles ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	defer rows.Close()
	out := []Role{}
	for rows.Next() {
		r, err := scanRole(rows)
		if err != nil {
			return nil, fmt.Errorf("list roles: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Get returns one role, or records.ErrNotFound.
func (s *Service) Get(ctx context.Context, name string) (Role, error) {
	return s.get(ctx, s.db, name, "")
}

func (s *Service) get(ctx context.Context, q store.Querier, name, lock string) (Role, error) {
	if !plausible(name) {
		return Role{}, errRoleNotFound
	}
	r, err := scanRole(q.QueryRow(ctx, `SELECT `+roleColumns+` FROM _keep_roles WHERE name = ?`+lock, name))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Role{}, errRoleNotFound
	case err != nil:
		return Role{}, fmt.Errorf("get role: %w", err)
	}
	return r, nil
}

// Update changes a role's description or permissions. The superuser role
// answers records.ErrForbidden. A caller who is not a superuser must hold
// both the role's current and its new permissions.
func (s *Service) Update(ctx context.Context, c records.Caller, name string, p Patch) (Role, error) {
	if name == Superuser {
		return Role{}, errSuperuserFixed
	}
	var verr records.ValidationError
	if p.Name != nil && *p.Name != name {
		addProblem(&verr, "name", "roles cannot be renamed")
	}
	if p.Description != nil {
		checkDescription(*p.Description, &verr)
	}
	var perms []Permission
	if p.Permissions != nil {
		perms = checkPermissions(*p.Permissions, &verr)
	}
	if len(verr.Fields) > 0 {
		return Role{}, &verr
	}
	held := Set{}
	if !c.Superuser {
		var err error
		if held, err = s.Permissions(ctx, c.Auth.Roles); err != nil {
			return Role{}, err
		}
	}
	var out Role
	err := s.db.Tx(ctx, func(q store.Querier) error {
		r, err := s.get(ctx, q, name, s.forUpdate())
		if err != nil {
			return err
		}
		if r.System {
			return errSuperuserFixed
		}
		if !c.Superuser && (!subset(r.Permissions, held) || !subset(perms, held)) {
			return errEscalation
		}
		details := map[string]any{}
		if p.Permissions != nil {
			details["permissions_before"], details["permissions"] = r.Permissions, perms
		}
		if p.Description != nil {
			details["description_changed"] = true
		}
		if p.Description != nil {
			r.Description = *p.Description
		}
		if p.Permissions != nil {
			r.Permissions = perms
		}
		r.Updated = s.clock()
		doc, err := json.Marshal(r.Permissions)
		if err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `UPDATE _keep_roles SET description = ?, permissions = ?, updated = ? WHERE name = ?`,
			r.Description, string(doc), s.timeArg(r.Updated), name); err != nil {
			return fmt.Errorf("update role: %w", err)
		}
		out = r
		return s.audit.Append(ctx, q, audit.Event{Action: "role.update", Actor: actor(c), Target: "role:" + name, Details: details})
	})
	return out, err
}

// Delete removes a role and every assignment of it, in one transaction. The
// superuser role answers records.ErrForbidden.
func (s *Service) Delete(ctx context.Context, c records.Caller, name string) error {
	if name == Superuser {
		return errSuperuserFixed
	}
	held := Set{}
	if !c.Superuser {
		var err error
		if held, err = s.Permissions(ctx, c.Auth.Roles); err != nil {
			return err
		}
	}
	return s.db.Tx(ctx, func(q store.Querier) error {
		r, err := s.get(ctx, q, name, s.forUpdate())
		if err != nil {
			return err
		}
		if r.System {
			return errSuperuserFixed
		}
		if !c.Superuser && !subset(r.Permissions, held) {
			return errEscalation
		}
		unassigned, err := q.Exec(ctx, `DELETE FROM _keep_user_roles WHERE role = ?`, name)
		if err != nil {
			return fmt.Errorf("delete role assignments: %w", err)
		}
		if _, err := q.Exec(ctx, `DELETE FROM _keep_roles WHERE name = ?`, name); err != nil {
			return fmt.Errorf("delete role: %w", err)
		}
		// The cascade is part of this one entry.
		return s.audit.Append(ctx, q, audit.Event{Action: "role.delete", Actor: actor(c), Target: "role:" + name,
			Details: map[string]any{"permissions": r.Permissions, "assignments_removed": unassigned}})
	})
}

// Assign gives role to user userID; assigning a role the user holds already
// changes nothing. An unknown user or role answers records.ErrNotFound. Only
// a superuser may assign the superuser role, and a caller who is not a
// superuser only roles whose permissions they hold (records.ErrForbidden).
func (s *Service) Assign(ctx context.Context, c records.Caller, userID, role string) error {
	return s.change(ctx, c, userID, role, true)
}

// Unassign takes role from user userID; removing a role the user does not
// hold changes nothing. It refuses like Assign, and answers
// records.ErrConflict when it would remove the last superuser.
func (s *Service) Unassign(ctx context.Context, c records.Caller, userID, role string) error {
	return s.change(ctx, c, userID, role, false)
}

func (s *Service) change(ctx context.Context, c records.Caller, userID, role string, grant bool) error {
	if role == Superuser && !c.Superuser {
		return errSuperuserOnly
	}
	if !plausible(userID) {
		return errUserNotFound
	}
	held := Set{}
	if !c.Superuser {
		var err error
		if held, err = s.Permissions(ctx, c.Auth.Roles); err != nil {
			return err
		}
	}
	return s.db.Tx(ctx, func(q store.Querier) error {
		// Locking the role row (PostgreSQL) orders this change after a
		// concurrent edit or delete of the role, and serialises removals of
		// the superuser role so the last one cannot go twice.
		r, err := s.get(ctx, q, role, s.forUpdate())
		if err != nil {
			return err
		}
		var one int
		switch err := q.QueryRow(ctx, `SELECT 1 FROM c_users WHERE id = ?`, userID).Scan(&one); {
		case errors.Is(err, store.ErrNotFound):
			return errUserNotFound
		case err != nil:
			return fmt.Errorf("find user: %w", err)
		}
		if !c.Superuser && !subset(r.Permissions, held) {
			return errEscalation
		}
		ev := audit.Event{Action: "role.unassign", Actor: actor(c), Target: audit.User(userID), Details: map[string]any{"role": role}}
		if grant {
			n, err := q.Exec(ctx, `INSERT INTO _keep_user_roles (user_id, role, created) VALUES (?, ?, ?) ON CONFLICT (user_id, role) DO NOTHING`,
				userID, role, s.timeArg(s.clock()))
			if err != nil {
				return fmt.Errorf("assign role: %w", err)
			}
			ev.Action, ev.Details["changed"] = "role.assign", n > 0
			return s.audit.Append(ctx, q, ev)
		}
		if role == Superuser {
			var holds, total int
			if err := q.QueryRow(ctx, `SELECT COUNT(*) FROM _keep_user_roles WHERE role = ? AND user_id = ?`, role, userID).Scan(&holds); err != nil {
				return fmt.Errorf("count superusers: %w", err)
			}
			if err := q.QueryRow(ctx, `SELECT COUNT(*) FROM _keep_user_roles WHERE role = ?`, role).Scan(&total); err != nil {
				return fmt.Errorf("count superusers: %w", err)
			}
			if holds > 0 && total <= 1 {
				return errLastSuperuser
			}
		}
		n, err := q.Exec(ctx, `DELETE FROM _keep_user_roles WHERE user_id = ? AND role = ?`, userID, role)
		if err != nil {
			return fmt.Errorf("remove role: %w", err)
		}
		ev.Details["changed"] = n > 0
		return s.audit.Append(ctx, q, ev)
	})
}

// maxRoles bounds how many role names one permission lookup binds.
const maxRoles = 200

// Permissions returns the permissions that roles grant together. Unknown
// role names grant nothing; the superuser role grants every permission.
func (s *Service) Permissions(ctx context.Context, roles []string) (Set, error) {
	set := Set{}
	if slices.Contains(roles, Superuser) {
		for _, p := range all {
			set[p] = true
		}
		return set, nil
	}
	names := make([]any, 0, len(roles))
	for _, r := range roles {
		if plausible(r) && len(names) < maxRoles {
			names = append(names, r)
		}
	}
	if len(names) == 0 {
		return set, nil
	}
	rows, err := s.db.Query(ctx, `SELECT permissions FROM _keep_roles WHERE name IN (?`+strings.Repeat(", ?", len(names)-1)+`)`, names...)
	if err != nil {
		return nil, fmt.Errorf("role permissions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("role permissions: %w", err)
		}
		var ps []Permission
		if err := json.Unmarshal([]byte(doc), &ps); err != nil {
			return nil, fmt.Errorf("role permissions: %w", err)
		}
		for _, p := range ps {
			if Known(p) {
				set[p] = true
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("role permissions: %w", err)
	}
	return set, nil
}

// Has reports whether caller c holds permission p now: a superuser holds
// every permission, an anonymous caller none, anyone else what their
// current roles (narrowed by their API key, if any) grant.
func (s *Service) Has(ctx context.Context, c records.Caller, p Permission) (bool, error) {
	switch {
	case c.Superuser:
		return true, nil
	case c.Anonymous(), !Known(p):
		return false, nil
	}
	set, err := s.Permissions(ctx, c.Auth.Roles)
	if err != nil {
		return false, err
	}
	return set[p], nil
}
