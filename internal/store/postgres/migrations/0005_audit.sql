-- The audit log (issue 5). Writers insert into _keep_audit_pending inside the
-- transaction of the change they record; one sealer at a time moves pending
-- entries, in id order, into _keep_audit_log, giving each the next seq and
-- linking it to the previous entry's hash. The log table is append-only:
-- nothing in Keep updates or deletes its rows. Times are TEXT in the fixed
-- format 2006-01-02T15:04:05.000000Z on both engines, because the hash
-- covers their exact bytes. The log's keys are not stored anywhere in the
-- database: they are derived from the data directory's secret key.

CREATE TABLE _keep_audit_pending (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  time TEXT COLLATE "C" NOT NULL,
  actor TEXT COLLATE "C" NOT NULL,
  action TEXT COLLATE "C" NOT NULL,
  target TEXT COLLATE "C" NOT NULL,
  outcome TEXT NOT NULL,
  ip TEXT NOT NULL,
  user_agent TEXT NOT NULL,
  request_id TEXT NOT NULL,
  details TEXT NOT NULL,
  nonce TEXT NOT NULL,           -- random, once per entry: a queued entry cannot be replayed
  mac TEXT NOT NULL              -- HMAC of every column above with the pending key
);

CREATE TABLE _keep_audit_log (
  seq BIGINT PRIMARY KEY,
  time TEXT COLLATE "C" NOT NULL,
  actor TEXT COLLATE "C" NOT NULL,
  action TEXT COLLATE "C" NOT NULL,
  target TEXT COLLATE "C" NOT NULL,
  outcome TEXT NOT NULL,
  ip TEXT NOT NULL,
  user_agent TEXT NOT NULL,
  request_id TEXT NOT NULL,
  details TEXT NOT NULL,
  nonce TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  mac TEXT NOT NULL
);

CREATE INDEX ix_audit_log_actor ON _keep_audit_log (actor, seq);
CREATE INDEX ix_audit_log_action ON _keep_audit_log (action, seq);
CREATE INDEX ix_audit_log_target ON _keep_audit_log (target, seq);
CREATE INDEX ix_audit_log_time ON _keep_audit_log (time);
CREATE UNIQUE INDEX ux_audit_log_nonce ON _keep_audit_log (nonce);

-- Signed checkpoints: (seq, head hash, time) signed with the audit
-- checkpoint key.
CREATE TABLE _keep_audit_checkpoints (
  seq BIGINT NOT NULL,
  head_hash TEXT NOT NULL,
  time TEXT COLLATE "C" NOT NULL,
  key_id TEXT NOT NULL,
  signature TEXT NOT NULL,
  PRIMARY KEY (seq, time)
);
