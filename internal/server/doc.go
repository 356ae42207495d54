// Package server runs Keep's HTTP listeners with the timeouts and limits a
// public server needs, and shuts them down gracefully: on cancellation it
// stops accepting, lets in-flight requests finish within a deadline, then
// closes.
package server
