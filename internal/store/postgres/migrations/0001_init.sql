-- Initial schema: the same tables as the SQLite engine, with native types.
-- The collection schema stays TEXT (not JSONB) so both engines store and
-- return the very same document.

CREATE TABLE _keep_collections (
  id TEXT PRIMARY KEY,            -- stable collection id
  name TEXT NOT NULL UNIQUE,
  system BOOLEAN NOT NULL DEFAULT false,
  schema TEXT NOT NULL,           -- JSON document (fields, rules, options)
  version INTEGER NOT NULL DEFAULT 1,
  created TIMESTAMPTZ NOT NULL,
  updated TIMESTAMPTZ NOT NULL
);

CREATE TABLE c_users (
  id TEXT PRIMARY KEY,
  created TIMESTAMPTZ NOT NULL,
  updated TIMESTAMPTZ NOT NULL,
  email TEXT NOT NULL UNIQUE,     -- stored lower-cased by the application
  password_hash TEXT NOT NULL,
  verified BOOLEAN NOT NULL DEFAULT false
);

CREATE TABLE _keep_user_roles (
  user_id TEXT NOT NULL REFERENCES c_users(id) ON DELETE CASCADE,
  role TEXT NOT NULL,
  created TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (user_id, role)
);

CREATE TABLE _keep_signing_keys (
  kid TEXT PRIMARY KEY,
  algorithm TEXT NOT NULL,        -- "EdDSA"
  private_key BYTEA NOT NULL,     -- Ed25519 seed (32 bytes)
  public_key BYTEA NOT NULL,
  created TIMESTAMPTZ NOT NULL,
  retired TIMESTAMPTZ             -- NULL while active
);

INSERT INTO _keep_collections (id, name, system, schema, version, created, updated)
VALUES ('users0000000000', 'users', true,
  '{"fields":[],"rules":{"list":null,"view":"id == auth.id","create":null,"update":"id == auth.id","delete":null}}',
  1, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z');
