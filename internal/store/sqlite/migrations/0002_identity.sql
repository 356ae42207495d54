-- Identity (issue 3): sessions with rotating refresh tokens, login lockout,
-- single-use email and MFA tokens, the mail outbox, TOTP and recovery codes,
-- API keys, and disabled users. Secrets are stored only as hashes (SHA-256 of
-- 256-bit random tokens), except the TOTP secret, which is stored sealed.

ALTER TABLE c_users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;

CREATE TABLE _keep_sessions (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES c_users(id) ON DELETE CASCADE,
  created TEXT NOT NULL,
  last_used TEXT NOT NULL,
  expires_at TEXT NOT NULL,        -- absolute lifetime
  ip TEXT NOT NULL DEFAULT '',
  user_agent TEXT NOT NULL DEFAULT '',
  revoked_at TEXT,                 -- NULL while the session lives
  revoke_reason TEXT
);
CREATE INDEX ix_sessions_user ON _keep_sessions (user_id);

CREATE TABLE _keep_refresh_tokens (
  hash TEXT PRIMARY KEY,           -- hex SHA-256 of the token
  session_id TEXT NOT NULL REFERENCES _keep_sessions(id) ON DELETE CASCADE,
  created TEXT NOT NULL,
  used_at TEXT,                    -- set when rotated
  replaced_by TEXT                 -- hash of its successor
);
CREATE INDEX ix_refresh_session ON _keep_refresh_tokens (session_id);

CREATE TABLE _keep_login_attempts (
  identifier TEXT PRIMARY KEY,     -- normalised email, whether or not an account exists
  failures INTEGER NOT NULL DEFAULT 0,
  window_start TEXT NOT NULL,
  locked_until TEXT,
  lock_count INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE _keep_tokens (
  hash TEXT PRIMARY KEY,           -- hex SHA-256 of the token
  kind TEXT NOT NULL,              -- 'verify', 'reset', 'mfa'
  user_id TEXT NOT NULL REFERENCES c_users(id) ON DELETE CASCADE,
  created TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  used_at TEXT
);
CREATE INDEX ix_tokens_user ON _keep_tokens (user_id, kind);

CREATE TABLE _keep_outbox (
  id TEXT PRIMARY KEY,
  created TEXT NOT NULL,
  recipient TEXT NOT NULL,
  subject TEXT NOT NULL,
  body TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt TEXT NOT NULL,
  sent_at TEXT,
  last_error TEXT
);
CREATE INDEX ix_outbox_pending ON _keep_outbox (sent_at, next_attempt);

CREATE TABLE _keep_mfa_totp (
  user_id TEXT PRIMARY KEY REFERENCES c_users(id) ON DELETE CASCADE,
  secret BLOB NOT NULL,          -- sealed with the data key
  created TEXT NOT NULL,
  confirmed_at TEXT,               -- NULL until the first code confirms enrolment
  last_step INTEGER NOT NULL DEFAULT 0  -- last accepted time step: no code is accepted twice
);

CREATE TABLE _keep_recovery_codes (
  user_id TEXT NOT NULL REFERENCES c_users(id) ON DELETE CASCADE,
  hash TEXT NOT NULL,
  used_at TEXT,
  PRIMARY KEY (user_id, hash)
);

CREATE TABLE _keep_api_keys (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES c_users(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,       -- hex SHA-256 of the key
  roles TEXT,                      -- JSON array narrowing the user's roles, or NULL for all
  created TEXT NOT NULL,
  created_by TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  last_used TEXT,
  revoked_at TEXT
);
CREATE INDEX ix_api_keys_user ON _keep_api_keys (user_id);
