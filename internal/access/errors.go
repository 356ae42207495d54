package access

import (
	"errors"
	"fmt"
)

// CompileError is returned for any expression that cannot be compiled. Msg
// says why in terms of the expression (for example `unknown field "titel"`
// or `expression longer than 2048 bytes`) and never contains anything but
// the expression's own text, so it is safe to show to API clients.
type CompileError struct {
	Msg string
}

// Error implements error.
func (e *CompileError) Error() string { return "access: " + e.Msg }

func compileErrorf(format string, args ...any) *CompileError {
	return &CompileError{Msg: fmt.Sprintf(format, args...)}
}

// ErrBind is wrapped by every error Predicate.Bind returns. Bind fails only
// when a request-time value does not fit where the expression uses it: a
// custom auth field of the wrong type compared with a column, a list
// expected but a string found, or a CEL evaluation error in a part of the
// expression that reads auth. Callers treat it as "deny" for rules and as a
// 400 for filters; the wrapped message names the subexpression and the
// types involved, never the caller's values.
var ErrBind = errors.New("access: request-time value does not fit the expression")
