// Package records owns collections and their records: the schema model, the
// validation of every value against its field, the DDL that keeps each
// collection a real table with typed columns and indexes, and the record
// service that enforces access rules on every read and write.
//
// Invariants live here, not in the HTTP layer: a record is validated, its
// relations checked and its rules applied whatever calls the service.
// Rules are compiled once per collection version (see package access) and
// enforced in SQL: list rules in the WHERE clause, and create/update rules
// checked against the stored row inside the writing transaction, so the
// record "as it would be stored" is exactly the record that is stored.
package records
