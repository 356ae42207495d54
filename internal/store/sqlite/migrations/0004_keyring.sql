-- Keyring (issue 5): data keys for field encryption and the blind-index
-- key, each stored wrapped (AES-256-GCM) by the root key, which is never
-- stored here. Times are unix milliseconds on both engines.

CREATE TABLE _keep_keys (
  id TEXT PRIMARY KEY,       -- 16 hex digits; written into every ciphertext
  purpose TEXT NOT NULL,     -- 'data' (AES-256-GCM) or 'index' (HMAC-SHA-256 blind index)
  state TEXT NOT NULL,       -- 'current' (new writes) or 'active' (reads only)
  wrapped TEXT NOT NULL,     -- base64 of nonce || sealed key; the AAD binds id and purpose
  created BIGINT NOT NULL,
  rotated BIGINT             -- when it stopped being current
);

-- At most one current key per purpose, also with two rotations at once.
CREATE UNIQUE INDEX ux_keep_keys_current ON _keep_keys (purpose) WHERE state = 'current';

-- Re-encryption jobs: one per data-key rotation. A worker holds a lease
-- (lease_owner, lease_until) and renews it with every batch, so one job is
-- worked by one process at a time and resumes from cursor after a crash.
CREATE TABLE _keep_key_jobs (
  id TEXT PRIMARY KEY,
  key_id TEXT NOT NULL,                -- the data key made current by the rotation
  state TEXT NOT NULL,                 -- 'running', 'done' or 'superseded'
  total BIGINT NOT NULL DEFAULT 0,     -- records to visit, counted when the job starts
  done BIGINT NOT NULL DEFAULT 0,      -- records visited
  rewritten BIGINT NOT NULL DEFAULT 0, -- records whose ciphertexts were rewritten
  cursor TEXT NOT NULL DEFAULT '',     -- '' before the start, else '<collection>/<last id>'
  lease_owner TEXT NOT NULL DEFAULT '',
  lease_until BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  finished BIGINT
);
