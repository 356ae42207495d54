// Package hashworker computes Argon2id keys in a child process that runs at
// idle CPU priority (Linux SCHED_IDLE), so that password hashing uses only
// the CPU time requests leave.
//
// Why a process: a hash takes tens of milliseconds of a core, and in the
// server's process a login flood competes with requests for the cores as an
// equal. Linux ranks work per thread, but a goroutine hashing on a thread
// of idle priority would hold one of the Go scheduler's Ps while the kernel
// keeps that thread waiting, and requests would queue for the P; so the
// smallest unit the lower priority can be given to is a process of its own.
// Measured (docs/perf.md), the worker keeps about 40 % more reads beside a
// login flood at the same p99, and lets fewer logins through while requests
// keep every core busy; so it is an option (keep serve --hash-priority
// idle), not the default.
//
// The worker is the keep binary itself, started again with one argument
// ([Main] must run first in main). It reads requests on stdin and writes
// keys on stdout; it exits when stdin closes, which also happens when the
// server dies, since the kernel closes the pipe. It gets no environment, so
// none of the server's secrets (database URL, master key) reach it.
//
// SECURITY-CRITICAL: passwords cross the pipe; changes need extra care in
// review. Never log a frame, give the worker no environment, and keep both
// sides bounded: the worker checks every frame as if it came from an
// attacker, and the server never waits for it without a deadline.
package hashworker
