// Package ratelimit is an in-memory, per-process limiter of requests per
// (class, key), such as ("login", client IP). Each class has its own limit, a
// rate and a burst; each key has its own allowance within a class.
//
// The algorithm is GCRA (the generic cell rate algorithm, a token bucket kept
// as a single "theoretical arrival time" per key): a key may spend its burst
// at once and then one request per interval. A key whose allowance has fully
// recovered is indistinguishable from a key never seen, so such entries are
// dropped as soon as they are found idle; memory is further bounded by a cap
// on tracked keys (least recently used first out).
//
// Limits are per process: with several replicas, each allows the full rate.
// This package is part of the brute-force defence and needs care in review.
package ratelimit
