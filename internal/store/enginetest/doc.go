// Package enginetest opens throwaway databases on every storage engine for
// tests, so that each test (and each package's tests) gets a fresh database
// without knowing how an engine is set up.
//
// SQLite always runs, in the test's temporary directory. PostgreSQL runs when
// KEEP_TEST_POSTGRES_URL is set: every database is a new schema in that
// database, dropped when the test ends. Import it only from _test.go files.
package enginetest
