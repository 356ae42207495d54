-- Roles (issue 4): named sets of system permissions. Users hold roles in
-- _keep_user_roles (0001). There is no foreign key from _keep_user_roles.role
-- to this table: SQLite cannot add one without rebuilding the table, so the
-- roles service checks that a role exists when it is assigned and removes
-- its assignments in the transaction that deletes it.

CREATE TABLE _keep_roles (
  name TEXT PRIMARY KEY,
  description TEXT NOT NULL DEFAULT '',
  permissions TEXT NOT NULL,       -- JSON array of permission names, sorted
  system INTEGER NOT NULL DEFAULT 0,
  created TEXT NOT NULL,
  updated TEXT NOT NULL
);

CREATE INDEX ix_user_roles_role ON _keep_user_roles (role);

INSERT INTO _keep_roles (name, description, permissions, system, created, updated)
VALUES ('superuser', 'Built-in: holds every permission and passes every rule.',
  '["audit.read","backups.manage","collections.manage","keys.manage","roles.manage","settings.manage","users.manage"]',
  1, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z');
