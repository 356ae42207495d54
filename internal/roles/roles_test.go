package roles_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keep-dev/keep/internal/access"
	"github.com/keep-dev/keep/internal/accounts"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/roles"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

func TestSuperuserName(t *testing.T) {
	if roles.Superuser != accounts.SuperuserRole {
		t.Fatalf("roles.Superuser = %q, accounts.SuperuserRole = %q", roles.Superuser, accounts.SuperuserRole)
	}
}

func user(id string, rs ...string) records.Caller {
	return records.Caller{Auth: access.Auth{ID: id, Roles: rs}, Superuser: false}
}

func TestService(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		db := open(t)
		s := roles.New(db, nil)
		ctx := t.Context()
		root := records.Caller{Auth: access.Auth{ID: "root", Roles: []string{roles.Superuser}}, Superuser: true}

		su, err := s.Get(ctx, roles.Superuser)
		if err != nil {
			t.Fatal(err)
		}
		if !su.System || !cmp.Equal(su.Permissions, roles.All()) {
			t.Fatalf("superuser row: %+v", su)
		}
		if _, err := s.Create(ctx, root, roles.Input{Name: "writer", Permissions: []roles.Permission{roles.CollectionsManage}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, root, roles.Input{Name: "ops", Permissions: []roles.Permission{roles.KeysManage, roles.SettingsManage}}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Permissions(ctx, []string{"writer", "ops", "nope", "bad\x00name"})
		if err != nil {
			t.Fatal(err)
		}
		want := roles.Set{roles.CollectionsManage: true, roles.KeysManage: true, roles.SettingsManage: true}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Permissions (-want +got):\n%s", diff)
		}

		for _, tc := range []struct {
			name string
			c    records.Caller
			p    roles.Permission
			want bool
		}{
			{"anonymous", records.Caller{}, roles.CollectionsManage, false},
			{"superuser", root, roles.AuditRead, true},
			{"granted", user("u", "writer"), roles.CollectionsManage, true},
			{"not granted", user("u", "writer"), roles.RolesManage, false},
			{"no roles", user("u"), roles.CollectionsManage, false},
			{"unknown permission", user("u", "writer"), "everything", false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ok, err := s.Has(ctx, tc.c, tc.p)
				if err != nil || ok != tc.want {
					t.Fatalf("Has = %v, %v; want %v", ok, err, tc.want)
				}
			})
		}

		var ve *records.ValidationError
		if _, err := s.Create(ctx, root, roles.Input{Name: "x", Permissions: []roles.Permission{"nope"}}); !errors.As(err, &ve) || ve.Fields["permissions[0]"] == "" {
			t.Errorf("unknown permission: %v", err)
		}
		if _, err := s.Update(ctx, root, roles.Superuser, roles.Patch{}); !errors.Is(err, records.ErrForbidden) {
			t.Errorf("update superuser: %v", err)
		}
		if err := s.Delete(ctx, root, roles.Superuser); !errors.Is(err, records.ErrForbidden) {
			t.Errorf("delete superuser: %v", err)
		}
		if err := s.Assign(ctx, user("u", "writer"), "someone", roles.Superuser); !errors.Is(err, records.ErrForbidden) {
			t.Errorf("non-superuser assigns superuser: %v", err)
		}
		if err := s.Assign(ctx, root, "no-such-user", "writer"); !errors.Is(err, records.ErrNotFound) {
			t.Errorf("assign to missing user: %v", err)
		}
		if err := s.Delete(ctx, root, "writer"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Permissions(ctx, []string{"writer"}); len(got) != 0 {
			t.Errorf("deleted role still grants %v", got)
		}
	})
}
