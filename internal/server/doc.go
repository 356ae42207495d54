// Package server runs Keep's HTTP listeners with the timeouts and limits a
// public server needs, and shuts them down gracefully: on cancellation it
// stops accepting, lets in-flight requests finish within a deadline, then
// closes.
//
// It also holds the transport security of a listener: the TLS configuration
// (TLS 1.2 minimum, AEAD-only suites), the self-signed development
// certificate, and the plain-HTTP listener that redirects to HTTPS.
// docs/transport.md explains the choices.
package server
