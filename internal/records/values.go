package records

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/keep-dev/keep/internal/ids"
	"github.com/keep-dev/keep/internal/store"
)

// sqliteTime is how dates are stored on SQLite: fixed width, UTC,
// millisecond precision, so that text order is time order.
const sqliteTime = "2006-01-02T15:04:05.000Z"

// TimeFormat is how dates appear in record JSON.
const TimeFormat = sqliteTime

const (
	maxEmailLen = 254
	maxURLLen   = 2048
	maxListLen  = 1000
)

// Values are held in one normalised Go form between JSON and SQL:
// string (text, email, url, single select and relation), float64, bool,
// time.Time (UTC, milliseconds), json.RawMessage, []string (multi select and
// relation), or nil.

// parseValue decodes and validates the JSON value of f. It returns a
// client-safe message when the value is not acceptable.
func (f *Field) parseValue(raw json.RawMessage) (any, string) {
	raw = bytes.TrimSpace(raw)
	if string(raw) == "null" {
		if f.Required {
			return nil, "is required"
		}
		return nil, ""
	}
	switch {
	case f.isList():
		var list []string
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, "must be an array of strings"
		}
		return f.checkList(list)
	case f.Type == TypeNumber:
		var n float64
		if err := json.Unmarshal(raw, &n); err != nil {
			return nil, "must be a number"
		}
		return f.checkNumber(n)
	case f.Type == TypeBool:
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, "must be true or false"
		}
		return b, ""
	case f.Type == TypeJSON:
		if len(raw) > f.MaxBytes {
			return nil, fmt.Sprintf("must be at most %d bytes", f.MaxBytes)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, "must be valid JSON"
		}
		if msg := checkJSONDocument(buf.Bytes()); msg != "" {
			return nil, msg
		}
		return json.RawMessage(buf.Bytes()), ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, "must be a string"
	}
	return f.checkString(s)
}

func (f *Field) checkNumber(n float64) (any, string) {
	switch {
	case math.IsNaN(n) || math.IsInf(n, 0):
		return nil, "must be a finite number"
	case f.Integer && n != math.Trunc(n):
		return nil, "must be an integer"
	case f.Min != nil && n < *f.Min:
		return nil, fmt.Sprintf("must be at least %v", *f.Min)
	case f.Max != nil && n > *f.Max:
		return nil, fmt.Sprintf("must be at most %v", *f.Max)
	}
	return n, ""
}

func (f *Field) checkString(s string) (any, string) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, "must not contain NUL characters" // PostgreSQL text cannot hold them
	}
	if s == "" {
		if f.Required {
			return nil, "is required"
		}
		if f.Type != TypeText {
			return nil, "" // an empty email, url, date, select or relation means "none"
		}
	}
	switch f.Type {
	case TypeText:
		n := float64(utf8.RuneCountInString(s))
		if f.Min != nil && n < *f.Min {
			return nil, fmt.Sprintf("must be at least %v characters", *f.Min)
		}
		if f.Max != nil && n > *f.Max {
			return nil, fmt.Sprintf("must be at most %v characters", *f.Max)
		}
		if f.pattern != nil && !f.pattern.MatchString(s) {
			return nil, "does not match the pattern"
		}
		return s, ""
	case TypeEmail:
		return checkEmail(s)
	case TypeURL:
		u, err := url.Parse(s)
		if len(s) > maxURLLen || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, "must be an http or https URL"
		}
		return s, ""
	case TypeDate:
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, "must be an RFC 3339 date-time"
		}
		// The bound applies to the stored (UTC) time: an offset can move a
		// date in year 9999 into year 10000, which breaks the fixed-width
		// text that SQLite sorts by.
		t = t.UTC().Truncate(time.Millisecond)
		if t.Year() < 1 || t.Year() > 9999 {
			return nil, "must be between years 1 and 9999"
		}
		return t, ""
	case TypeSelect:
		if !slices.Contains(f.Values, s) {
			return nil, "must be one of the allowed values"
		}
		return s, ""
	case TypeRelation:
		if !ids.Valid(s) {
			return nil, "must be a record id"
		}
		return s, ""
	}
	return nil, "unsupported field type"
}

// maxJSONScale is the most decimal digits after the point that a number in
// a PostgreSQL jsonb document may have.
const maxJSONScale = 16383

// checkJSONDocument refuses the valid JSON that PostgreSQL's jsonb does not
// store, so that both engines accept the same documents: invalid UTF-8, the
// escape \u0000, unpaired surrogate escapes, and numbers out of range. doc
// must be valid (compact) JSON.
func checkJSONDocument(doc []byte) string {
	if !utf8.Valid(doc) {
		return "must be valid UTF-8"
	}
	// In valid JSON a backslash only starts an escape inside a string.
	for i := 0; i < len(doc); i++ {
		if doc[i] != '\\' {
			continue
		}
		if doc[i+1] != 'u' {
			i++
			continue
		}
		r := hexRune(doc[i+2 : i+6])
		i += 5
		switch {
		case r == 0:
			return "must not contain \\u0000"
		case utf16.IsSurrogate(r) && r < 0xdc00: // high: a low one must follow
			if i+6 >= len(doc) || doc[i+1] != '\\' || doc[i+2] != 'u' {
				return "must not contain unpaired surrogates"
			}
			if lo := hexRune(doc[i+3 : i+7]); lo < 0xdc00 || lo > 0xdfff {
				return "must not contain unpaired surrogates"
			}
			i += 6
		case utf16.IsSurrogate(r):
			return "must not contain unpaired surrogates"
		}
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return "" // io.EOF: the document was valid to begin with
		}
		if n, ok := tok.(json.Number); ok && !jsonNumberFits(string(n)) {
			return "must not contain numbers out of range"
		}
	}
}

func hexRune(h []byte) rune {
	var r rune
	for _, c := range h {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		default: // 'A' to 'F': valid JSON has nothing else here
			r = r<<4 | rune(c-'A'+10)
		}
	}
	return r
}

// jsonNumberFits reports whether a JSON number literal is finite as a
// float64 (which bounds its digits before the point) and, with its exponent
// applied, has at most maxJSONScale digits after the point.
func jsonNumberFits(lit string) bool {
	if f, err := strconv.ParseFloat(lit, 64); err != nil || math.IsInf(f, 0) {
		return false
	}
	mant, exp := lit, 0
	if i := strings.IndexAny(lit, "eE"); i >= 0 {
		e, err := strconv.Atoi(lit[i+1:])
		if err != nil || e < -2*maxJSONScale || e > 2*maxJSONScale {
			return false
		}
		mant, exp = lit[:i], e
	}
	frac := 0
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		frac = len(mant) - i - 1
	}
	return frac-exp <= maxJSONScale
}

// checkEmail accepts a bare address (no display name) and lower-cases its
// domain; the local part is kept as given.
func checkEmail(s string) (any, string) {
	a, err := mail.ParseAddress(s)
	if len(s) > maxEmailLen || err != nil || a.Address != s || a.Name != "" {
		return nil, "must be a valid email address"
	}
	at := strings.LastIndexByte(s, '@')
	return s[:at] + strings.ToLower(s[at:]), ""
}

func (f *Field) checkList(list []string) (any, string) {
	if len(list) == 0 {
		if f.Required {
			return nil, "is required"
		}
		return []string{}, ""
	}
	limit := maxListLen
	if f.Type == TypeSelect {
		limit = f.MaxSelect
	}
	if len(list) > limit {
		return nil, fmt.Sprintf("must have at most %d items", limit)
	}
	seen := make(map[string]bool, len(list))
	for _, s := range list {
		if seen[s] {
			return nil, "must not repeat items"
		}
		seen[s] = true
		if f.Type == TypeSelect && !slices.Contains(f.Values, s) {
			return nil, "must contain only allowed values"
		}
		if f.Type == TypeRelation && !ids.Valid(s) {
			return nil, "must contain only record ids"
		}
	}
	return list, ""
}

// sqlValue turns a normalised value into a query argument for d.
func sqlValue(d store.Dialect, v any) any {
	switch v := v.(type) {
	case time.Time:
		if d == store.Postgres {
			return v
		}
		return v.UTC().Format(sqliteTime)
	case json.RawMessage:
		return string(v)
	case []string:
		b, _ := json.Marshal(v) // a []string always marshals
		return string(b)
	case bool:
		if d == store.SQLite {
			if v {
				return int64(1)
			}
			return int64(0)
		}
		return v
	}
	return v
}

// jsonValue turns a scanned column into the value record JSON carries.
func jsonValue(f *Field, src any) (any, error) {
	if src == nil {
		if f != nil && f.isList() {
			return []string{}, nil
		}
		return nil, nil
	}
	if b, ok := src.([]byte); ok {
		src = string(b)
	}
	if f == nil { // a system column: id or a timestamp
		return timeOrString(src)
	}
	if f.Encrypted {
		if s, ok := src.(string); ok {
			return sealedValue(s), nil
		}
		return nil, fmt.Errorf("encrypted column %q holds %T", f.Name, src)
	}
	switch {
	case f.isList():
		s, ok := src.(string)
		if !ok {
			return nil, fmt.Errorf("list column %q holds %T", f.Name, src)
		}
		var list []string
		if err := json.Unmarshal([]byte(s), &list); err != nil {
			return nil, fmt.Errorf("list column %q: %w", f.Name, err)
		}
		if list == nil {
			list = []string{}
		}
		return list, nil
	case f.Type == TypeNumber:
		switch n := src.(type) {
		case float64:
			return n, nil
		case int64:
			return float64(n), nil
		}
	case f.Type == TypeBool:
		switch b := src.(type) {
		case bool:
			return b, nil
		case int64:
			return b != 0, nil
		}
	case f.Type == TypeDate:
		return timeOrString(src)
	case f.Type == TypeJSON:
		if s, ok := src.(string); ok {
			return json.RawMessage(s), nil
		}
	default:
		if s, ok := src.(string); ok {
			return s, nil
		}
	}
	return nil, fmt.Errorf("column %q holds unexpected %T", f.Name, src)
}

// timeOrString renders timestamps the same on both engines.
func timeOrString(src any) (any, error) {
	switch v := src.(type) {
	case time.Time:
		return v.UTC().Format(TimeFormat), nil
	case string:
		return v, nil
	}
	return nil, fmt.Errorf("unexpected %T", src)
}

// Values back from JSON output into normalised form, for cursors.
func (f *Field) fromJSONValue(v any) (any, bool) {
	if v == nil {
		return nil, true
	}
	switch {
	case f == nil || f.Type == TypeDate:
		s, ok := v.(string)
		if !ok {
			return nil, false
		}
		if f == nil {
			return s, true // id
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		return t.UTC(), err == nil
	case f.Type == TypeNumber:
		n, ok := v.(float64)
		return n, ok
	case f.Type == TypeBool:
		b, ok := v.(bool)
		return b, ok
	default:
		s, ok := v.(string)
		return s, ok
	}
}
