// Package app is Keep's composition root: it opens the store chosen by the
// configuration, builds each service with only what it uses, wires the HTTP
// API and owns the start and stop order. Only this package imports the
// concrete storage engines.
package app
