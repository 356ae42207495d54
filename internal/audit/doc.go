// Package audit is Keep's tamper-evident audit log.
//
// SECURITY-CRITICAL: changes need extra care in review.
//
// Writers call [Log.Append] inside the transaction of the change they
// record, so a change and its entry commit or roll back together; refusals
// and failed logins, which change nothing, are written with [Log.Record]
// in a transaction of their own before the response is sent. Appending is one
// INSERT into a pending table: it takes no lock that other writers wait for.
//
// A single sealer at a time ([Log.Seal]; across processes under the SQLite
// write lock or a PostgreSQL advisory lock) moves pending entries into the
// log in the order it finds them, giving each the next sequence number and
// chaining it to its predecessor:
//
//	hash = SHA-256("keep.audit.entry.v1\x00" || prev_hash || seq || time || actor ||
//	               action || target || outcome || ip || user_agent || request_id || details)
//
// where every field after prev_hash is written as its length (uvarint) and
// its bytes, and the first entry's prev_hash is 32 zero bytes. Each sealed
// entry also carries mac = HMAC-SHA-256(chain key, hash), with a key sealed
// at rest, so someone who can write the database but does not hold the key
// cannot forge or re-chain entries. Signed checkpoints ([Log.Checkpoint]:
// Ed25519 over sequence, head hash and time) pin the head, so removing
// entries from the end is caught too; they can be copied to a file outside
// the database. [Log.Verify] recomputes all of it and names the first entry
// that was altered, removed, inserted or reordered.
//
// The tamper-evidence window: an entry is pending from its commit until the
// sealer runs (every 200 ms while `keep serve` runs, and before every list,
// verify, export and checkpoint). Pending entries are not yet chained, and
// the entries after the last checkpoint are protected by the MAC but their
// removal from the end of the log is only caught at the next checkpoint.
package audit
