// Package auth holds Keep's credential primitives: password hashing with
// Argon2id and short-lived access tokens signed with Ed25519.
//
// SECURITY-CRITICAL: this package decides who is who. Changes need extra care
// in review — a second reviewer, tests for every rejected input, and no
// loosening of a check "for compatibility" without a written reason.
//
// Rules this package keeps:
//   - Secrets (passwords, hashes, private keys, tokens) never appear in error
//     strings or logs; [Key] prints its private half as REDACTED.
//   - Secret comparisons are constant time.
//   - Token verification looks a key up by its id and never tries every key;
//     the signature is checked before the payload is parsed.
//   - Errors are sentinels ([ErrMalformedHash], [ErrInvalidToken],
//     [ErrExpiredToken], the password errors) that callers test with
//     errors.Is; their messages are safe to log but the HTTP layer still
//     decides what a client sees.
//
// The package does not import net/http: transport concerns (cookies, headers,
// status codes) belong to internal/api.
package auth
