// Package sqlite is the embedded storage engine: a single SQLite file in WAL
// mode, so Keep runs as one binary with nothing else to operate.
//
// SQLite allows one writer at a time. Rather than let many connections race
// for the write lock and fail with SQLITE_BUSY, the engine keeps two pools on
// the same file: a writer pool of exactly one connection, whose transactions
// start with BEGIN IMMEDIATE so the lock is taken up front, and a pool of
// read-only connections that WAL lets run beside the writer. Every connection
// gets the same pragmas (busy_timeout first, so none of the others can fail
// with SQLITE_BUSY while another process holds a lock).
//
// Native errors are mapped to the store sentinels at this boundary. Schema
// changes live in migrations/ as numbered SQL files, embedded in the binary
// and applied in order by [Open].
package sqlite
