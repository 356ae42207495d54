// Package ids makes record identifiers: UUIDv7 strings, time-ordered so that
// new rows append to the primary key index and keyset pagination by id
// follows creation order.
package ids
