// Package config holds Keep's one typed configuration. Values come from
// defaults, then KEEP_* environment variables, then command-line flags;
// Validate reports every problem at once. The Config is passed down
// explicitly: there are no global getters.
package config
