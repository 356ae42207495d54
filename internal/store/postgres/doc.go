// Package postgres is the storage engine for deployments that outgrow one
// file: several Keep processes sharing a PostgreSQL database, or an operator
// who already runs PostgreSQL and its backups.
//
// It speaks pgx through database/sql so that it satisfies the same small
// store interfaces as the SQLite engine, rebinds `?` placeholders to $n, and
// maps SQLSTATE codes to the store sentinels at this boundary. Migrations
// live in migrations/ as numbered SQL files, embedded in the binary and
// applied by [Open] under a transaction-scoped advisory lock, so processes
// starting together do not race.
package postgres
