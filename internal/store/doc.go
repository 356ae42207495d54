// Package store defines the small storage interface every engine implements
// and the sentinel errors that engines map their native errors to.
//
// Domain packages build SQL with `?` placeholders and run it through a [DB] or
// a [Querier]; engines rebind placeholders for their dialect, map errors once
// at their boundary, and own connection handling (SQLite: one writer plus a
// pool of readers; PostgreSQL: a pgx pool). Nothing above this package imports
// a driver.
package store
