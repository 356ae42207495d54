-- Roles (issue 4): named sets of system permissions, as on SQLite. There is
-- no foreign key from _keep_user_roles.role (SQLite cannot add one): the
-- roles service checks existence on assignment and removes assignments with
-- the role.

CREATE TABLE _keep_roles (
  name TEXT PRIMARY KEY,
  description TEXT NOT NULL DEFAULT '',
  permissions TEXT NOT NULL,       -- JSON array of permission names, sorted
  system BOOLEAN NOT NULL DEFAULT false,
  created TIMESTAMPTZ NOT NULL,
  updated TIMESTAMPTZ NOT NULL
);

CREATE INDEX ix_user_roles_role ON _keep_user_roles (role);

INSERT INTO _keep_roles (name, description, permissions, system, created, updated)
VALUES ('superuser', 'Built-in: holds every permission and passes every rule.',
  '["audit.read","backups.manage","collections.manage","keys.manage","roles.manage","settings.manage","users.manage"]',
  true, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z');
