package api

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/keep-dev/keep/internal/records"
)

// Records are maps, and encoding/json reflects on every value and sorts
// every map's keys through an interface: that was a sixth of a list
// request's CPU. appendJSON writes the values records hold (strings,
// numbers, booleans, times, string lists, raw JSON, nested records)
// directly and falls back to encoding/json for anything else. Its output
// is byte for byte what json.Marshal gives (FuzzAppendJSON holds it to
// that), HTML-safe escaping included.

// appendJSON appends the JSON encoding of v to b.
func appendJSON(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case records.Page:
		return appendPage(b, &v)
	case *records.Page:
		if v == nil {
			return append(b, "null"...), nil
		}
		return appendPage(b, v)
	}
	return appendValue(b, v)
}

func appendPage(b []byte, p *records.Page) ([]byte, error) {
	b = append(b, `{"items":`...)
	b, err := appendRecords(b, p.Items)
	if err != nil {
		return b, err
	}
	b = append(b, `,"next_cursor":`...)
	if p.NextCursor == nil {
		b = append(b, "null"...)
	} else {
		b = appendString(b, *p.NextCursor)
	}
	return append(b, '}'), nil
}

func appendRecords(b []byte, recs []records.Record) ([]byte, error) {
	if recs == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '[')
	for i, r := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendMap(b, r); err != nil {
			return b, err
		}
	}
	return append(b, ']'), nil
}

// keyPool holds the key slices appendMap sorts.
var keyPool = sync.Pool{New: func() any { s := make([]string, 0, 16); return &s }}

func appendMap(b []byte, m map[string]any) ([]byte, error) {
	if m == nil {
		return append(b, "null"...), nil
	}
	kp := keyPool.Get().(*[]string)
	keys := (*kp)[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	var err error
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		if b, err = appendValue(b, m[k]); err != nil {
			break
		}
	}
	clear(keys)
	*kp = keys[:0]
	keyPool.Put(kp)
	return append(b, '}'), err
}

func appendValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, v), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case float64:
		// encoding/json switches to exponents outside [1e-6, 1e21) and
		// refuses NaN and infinities: leave those to it.
		if a := math.Abs(v); a < 1e21 && (a >= 1e-6 || a == 0) {
			return strconv.AppendFloat(b, v, 'f', -1, 64), nil
		}
	case time.Time:
		// json.Marshal refuses years outside 0–9999 and zone offsets of a
		// day or more: leave those to it.
		if _, off := v.Zone(); v.Year() >= 0 && v.Year() <= 9999 && -86400 < off && off < 86400 {
			b = append(b, '"')
			b = v.AppendFormat(b, time.RFC3339Nano)
			return append(b, '"'), nil
		}
	case []string:
		if v == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, s := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		return append(b, ']'), nil
	case records.Record:
		return appendMap(b, v)
	case map[string]any:
		return appendMap(b, v)
	case []records.Record:
		return appendRecords(b, v)
	}
	enc, err := json.Marshal(v)
	return append(b, enc...), err
}

const hexDigits = "0123456789abcdef"

// plainASCII marks the ASCII bytes appendString copies as they are: one
// table load instead of six comparisons per byte of every string field.
var plainASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()

// appendString appends s as a JSON string escaped as encoding/json does:
// quotes, backslashes and control characters, <, > and & (so that JSON is
// safe inside HTML), U+2028 and U+2029, and invalid UTF-8 as U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if plainASCII[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
