package records

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Sentinel errors of the record service. The API layer maps them to status
// codes in one place.
var (
	ErrNotFound      = errors.New("not found")
	ErrUnauthorized  = errors.New("authentication required")
	ErrForbidden     = errors.New("forbidden")
	ErrConflict      = errors.New("conflict")
	ErrBadRequest    = errors.New("bad request")
	ErrInvalidSchema = errors.New("invalid schema")
)

// ValidationError lists problems per field; Fields keys are field names (for
// records) or paths such as "fields[2].pattern" (for collections). Messages
// are safe to show to clients.
type ValidationError struct {
	Fields map[string]string
}

func (e *ValidationError) Error() string {
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("validation failed:")
	for _, k := range keys {
		fmt.Fprintf(&b, " %s: %s;", k, e.Fields[k])
	}
	return b.String()
}

// MaxProblems caps how many problems one ValidationError lists, so a body of
// a thousand unknown keys does not get a response twice its size.
const MaxProblems = 20

// add records a problem, keeping the first message for a key.
func (e *ValidationError) add(key, msg string) {
	if e.Fields == nil {
		e.Fields = map[string]string{}
	}
	if len(e.Fields) >= MaxProblems {
		return
	}
	if _, ok := e.Fields[key]; !ok {
		e.Fields[key] = msg
	}
}

func (e *ValidationError) err() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

// PublicError is an error whose message is written for API clients. Kind is
// one of the sentinels above so that the API layer can pick a status.
type PublicError struct {
	Kind error
	Msg  string
}

func (e *PublicError) Error() string { return e.Msg }
func (e *PublicError) Unwrap() error { return e.Kind }

func badRequest(format string, args ...any) error {
	return &PublicError{Kind: ErrBadRequest, Msg: fmt.Sprintf(format, args...)}
}

func conflict(format string, args ...any) error {
	return &PublicError{Kind: ErrConflict, Msg: fmt.Sprintf(format, args...)}
}
