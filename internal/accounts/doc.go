// Package accounts signs users up and in and turns a bearer token into a
// caller: it ties the password and token primitives of package auth to the
// users collection of package records.
//
// Security-critical: changes here need extra care in review. Wrong email and
// wrong password must stay indistinguishable (same error, similar time), and
// a caller's roles are read fresh on every request, never taken from a token.
package accounts
