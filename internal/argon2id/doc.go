// Package argon2id computes Argon2id (RFC 9106, version 0x13) keys in
// memory the caller keeps and reuses.
//
// SECURITY-CRITICAL: every stored password hash depends on this code
// producing exactly the RFC's output. Changes need a second reviewer, and
// the tests compare it with the RFC's test vector and with
// golang.org/x/crypto/argon2 on many inputs.
//
// Why not golang.org/x/crypto/argon2: it allocates the whole memory (19 MiB
// at Keep's parameters) for every hash and drops it. Each such allocation
// brings a garbage collection closer, and once the runtime has handed the
// freed pages back to the kernel the next hash faults every page in again.
// On a small VM that fault-in cost 55 ms against a 24 ms hash (bench notes
// in docs/perf.md), and it lands on the cores that serve requests. With a
// [Memory] per hash slot the blocks are allocated once, stay resident, and
// need no zeroing (every block is written before it is read).
package argon2id
