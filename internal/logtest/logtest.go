// Package logtest holds helpers for tests that read what was logged.
package logtest

import (
	"bytes"
	"sync"
)

// Buffer collects log output written from many goroutines at once (a
// server's handlers, a worker's reader) for a test to read. It is safe for
// concurrent use; the zero value is an empty Buffer.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
