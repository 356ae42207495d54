package accounts

// CallerTTL is how long Authenticate may reuse a caller (callers.go).
const CallerTTL = callerTTL

// MaxCachedCallerSize is the largest caller it keeps.
const MaxCachedCallerSize = maxCachedCallerSize
