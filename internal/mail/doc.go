// Package mail delivers Keep's email through a durable outbox.
//
// A message is written to the _keep_outbox table by [Outbox.Enqueue] inside
// the caller's transaction, so it exists exactly when the change that sends
// it (a new verification or reset token) committed. [Outbox.Run] then
// delivers due messages in the background: to one file per message under a
// directory (the development default) or to an SMTP server.
//
// Delivery is at least once. A message is claimed with a lease before it is
// sent, so two replicas never send it at the same time; a process that dies
// between sending and recording the send leaves the message to be sent again
// when the lease runs out. Failures are retried with exponential backoff.
//
// Mail bodies carry single-use tokens: they are never logged, and a body is
// erased from the table once the message is sent. Header values are checked
// for CR and LF so that no caller can add headers or recipients.
//
// This package handles credentials and live tokens; changes need extra care
// in review.
package mail
