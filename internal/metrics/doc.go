// Package metrics exposes Prometheus metrics: HTTP requests by route pattern
// and status, database pool statistics and the Go runtime. Labels use route
// patterns, never raw paths, so cardinality stays bounded.
package metrics
