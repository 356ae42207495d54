// Package storetest is the contract every storage engine must meet: one
// suite, run against SQLite always and against PostgreSQL when it is
// available, so that code above the store can rely on identical behaviour
// (placeholders, types, error sentinels, transactions, concurrency) whichever
// engine is configured.
//
// An engine's test calls [Run] with an opener from package enginetest.
// Behaviour that only one engine can show (pragmas, advisory locks, files)
// is tested in that engine's package.
package storetest
