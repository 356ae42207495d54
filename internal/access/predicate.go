package access

import (
	"errors"
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types/ref"
)

// Bind produces the SQL boolean expression for one caller and its
// arguments. The SQL uses `?` placeholders (rebind them with the dialect's
// Rebind before running it) and is always parenthesised, so callers can AND
// it with their own conditions. A condition known to hold or fail for this
// caller alone becomes (1=1) or (1=0).
//
// Bind fails, with an error wrapping ErrBind, only when a request-time value
// does not fit: see ErrBind. It is safe for concurrent use.
//
// Bind(a) is BindRequest(a, Request{}): request.method is "" and
// request.body is empty.
func (p *Predicate) Bind(a Auth) (sql string, args []any, err error) {
	return p.BindRequest(a, Request{})
}

// BindRequest is Bind for an expression that may read the request as well
// as the caller (see Request and ReadsRequest). It is safe for concurrent
// use and does not retain r.
func (p *Predicate) BindRequest(a Auth, r Request) (sql string, args []any, err error) {
	b := &binder{d: p.dialect}
	if len(p.progs) > 0 {
		vars := map[string]any{authVar: p.authMap(a)}
		if p.readsRequest {
			body := r.Body
			if body == nil {
				body = map[string]any{}
			}
			vars[requestMethodVar], vars[requestBodyVar] = r.Method, body
		}
		act, err := cel.NewActivation(vars)
		if err != nil {
			return "", nil, fmt.Errorf("access: activation: %w", err)
		}
		b.vals = make([]ref.Val, len(p.progs))
		for i, prog := range p.progs {
			// An evaluation error is kept as the slot's value: the node that
			// uses it reports it, unless && or || make it irrelevant.
			v, _, err := prog.Eval(act)
			if err != nil && v == nil {
				return "", nil, fmt.Errorf("%w: %s: %v", ErrBind, p.slotSrc[i], err)
			}
			b.vals[i] = v
		}
	}
	f, err := p.root.bind(b)
	if err != nil {
		var fe *fitError
		if errors.As(err, &fe) {
			return "", nil, fmt.Errorf("%w: %s", ErrBind, fe.msg)
		}
		return "", nil, err
	}
	if f.known {
		if f.value {
			return "(1=1)", nil, nil
		}
		return "(1=0)", nil, nil
	}
	for _, a := range f.args {
		if hasNUL(a) {
			// PostgreSQL refuses NUL in text, SQLite truncates at it: either
			// way no stored value can contain one, so say so instead of
			// letting the engine fail.
			return "", nil, fmt.Errorf("%w: strings must not contain NUL characters", ErrBind)
		}
	}
	return "(" + f.sql + ")", f.args, nil
}

func hasNUL(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.IndexByte(v, 0) >= 0
	case []string:
		for _, s := range v {
			if strings.IndexByte(s, 0) >= 0 {
				return true
			}
		}
	}
	return false
}

// authMap is the value of auth for the caller. Custom fields the expression
// names but the caller lacks are null, as unset record fields would be; the
// fixed fields come last so Fields cannot override them.
func (p *Predicate) authMap(a Auth) map[string]any {
	m := make(map[string]any, len(p.authKeys)+3)
	for _, k := range p.authKeys {
		v, ok := a.Fields[k]
		if !ok {
			v = nil
		}
		m[k] = v
	}
	roles := a.Roles
	if roles == nil {
		roles = []string{}
	}
	m["id"], m["email"], m["roles"] = a.ID, a.Email, roles
	return m
}
