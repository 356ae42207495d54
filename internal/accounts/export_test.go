package accounts

// CallerTTL is how long Authenticate may reuse a caller (callers.go).
const CallerTTL = callerTTL
