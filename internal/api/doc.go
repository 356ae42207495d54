// Package api is Keep's HTTP layer: routes on net/http's ServeMux, request
// decoding with limits, the middleware chain, and the one function that turns
// every error into the JSON envelope
//
//	{"error": {"code", "message", "fields", "request_id"}}
//
// Handlers return errors; only writeError writes them. A client never sees an
// internal cause: unknown errors become a 500 with the request id alone,
// while the cause goes to the log under the same id.
package api
