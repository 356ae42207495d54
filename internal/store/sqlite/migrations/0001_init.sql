-- Initial schema. Timestamps are TEXT in the layout 2006-01-02T15:04:05.000Z
-- (UTC, so they sort as text); booleans are INTEGER 0/1.

CREATE TABLE _keep_collections (
  id TEXT PRIMARY KEY,            -- stable collection id
  name TEXT NOT NULL UNIQUE,
  system INTEGER NOT NULL DEFAULT 0,
  schema TEXT NOT NULL,           -- JSON document (fields, rules, options)
  version INTEGER NOT NULL DEFAULT 1,
  created TEXT NOT NULL,
  updated TEXT NOT NULL
);

CREATE TABLE c_users (
  id TEXT PRIMARY KEY,
  created TEXT NOT NULL,
  updated TEXT NOT NULL,
  email TEXT NOT NULL UNIQUE,     -- stored lower-cased by the application
  password_hash TEXT NOT NULL,
  verified INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE _keep_user_roles (
  user_id TEXT NOT NULL REFERENCES c_users(id) ON DELETE CASCADE,
  role TEXT NOT NULL,
  created TEXT NOT NULL,
  PRIMARY KEY (user_id, role)
);

CREATE TABLE _keep_signing_keys (
  kid TEXT PRIMARY KEY,
  algorithm TEXT NOT NULL,        -- "EdDSA"
  private_key BLOB NOT NULL,      -- Ed25519 seed (32 bytes)
  public_key BLOB NOT NULL,
  created TEXT NOT NULL,
  retired TEXT                    -- NULL while active
);

INSERT INTO _keep_collections (id, name, system, schema, version, created, updated)
VALUES ('users0000000000', 'users', 1,
  '{"fields":[],"rules":{"list":null,"view":"id == auth.id","create":null,"update":"id == auth.id","delete":null}}',
  1, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z');
