package api

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/keep-dev/keep/internal/records"
)

// sameAsMarshal fails unless appendJSON encodes v exactly as json.Marshal
// does, or both fail.
func sameAsMarshal(t *testing.T, v any) {
	t.Helper()
	want, wantErr := json.Marshal(v)
	got, err := appendJSON([]byte("prefix"), v)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("appendJSON(%#v) error = %v, json.Marshal error = %v", v, err, wantErr)
	}
	if err != nil {
		return
	}
	if !bytes.HasPrefix(got, []byte("prefix")) {
		t.Fatalf("appendJSON dropped what b held: %q", got)
	}
	if got = got[len("prefix"):]; !bytes.Equal(got, want) {
		t.Errorf("appendJSON(%#v)\n got %s\nwant %s", v, got, want)
	}
}

func TestAppendJSONMatchesMarshal(t *testing.T) {
	cursor := "c<1>&\"x\""
	when := time.Date(2026, 12, 4, 10, 11, 12, 345678000, time.UTC)
	tests := []struct {
		name string
		v    any
	}{
		{"empty record", records.Record{}},
		{"nil record", records.Record(nil)},
		{"scalars", records.Record{"id": "r1", "views": 512.0, "public": true, "gone": nil, "n": -0.0}},
		{"escapes", records.Record{"s": "quote\" back\\ nl\n cr\r tab\t bs\b ff\f nul\x00 us\x1f del\x7f <b>&amp;"}},
		{"unicode", records.Record{"s": "héllo 世界 🎉 \u2028 \u2029 \ufeff", "k\u2028<": "key escapes"}},
		{"invalid utf-8", records.Record{"s": "a\xffb\xc3(c\xed\xa0\x80"}},
		{"floats", records.Record{"a": 1e20, "b": 1e21, "c": 1e-6, "d": 1e-7, "e": 123.456, "f": -987654321.125, "g": math.MaxFloat64, "h": math.SmallestNonzeroFloat64}},
		{"NaN", records.Record{"x": math.NaN()}},
		{"infinity", records.Record{"x": math.Inf(-1)}},
		{"times", records.Record{"created": when, "local": when.In(time.FixedZone("x", 3600)), "zero": time.Time{}, "far": time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"time with a zone offset of a day", records.Record{"t": time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("far", 86400))}},
		{"string lists", records.Record{"tags": []string{"a", "<b>", ""}, "none": []string{}, "nil": []string(nil)}},
		{"raw JSON", records.Record{"doc": json.RawMessage(` {"a": [1, 2, "<x>"]} `)}},
		{"invalid raw JSON", records.Record{"doc": json.RawMessage(`{"a":`)}},
		{"nested", records.Record{"owner": records.Record{"id": "u1", "email": "a@b.c"}, "many": []records.Record{{"id": "x"}, {"id": "y"}}, "m": map[string]any{"z": 1.0, "a": "b"}}},
		{"other types", records.Record{"i": 7, "u": uint8(3), "f32": float32(1.5), "bytes": []byte("hi"), "any": []any{1.0, "x", nil}}},
		{"page", records.Page{Items: []records.Record{{"id": "a", "views": 1.0}, {"id": "b"}}, NextCursor: &cursor}},
		{"page pointer", &records.Page{Items: []records.Record{}}},
		{"nil page pointer", (*records.Page)(nil)},
		{"page without items", records.Page{}},
		{"records", []records.Record{{"id": "a"}}},
		{"not a record", map[string]string{"error": "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { sameAsMarshal(t, tt.v) })
	}
}

// FuzzAppendJSON holds the record encoder to encoding/json's output for
// any strings, keys and numbers.
func FuzzAppendJSON(f *testing.F) {
	f.Add("title", "hello <world> & \"you\"", 512.0, true)
	f.Add("k\u2028", "\xff\x00\u2029", 1e-7, false)
	f.Add("", "", 1e21, false)
	f.Fuzz(func(t *testing.T, key, s string, n float64, b bool) {
		next := s + key
		sameAsMarshal(t, records.Page{
			Items:      []records.Record{{key: s, "n": n, "b": b, "l": []string{s, key}}, {"nested": records.Record{key: n}}},
			NextCursor: &next,
		})
	})
}

// BenchmarkEncodePage encodes a list page of 20 posts as the list endpoint
// does, against encoding/json on the same page.
func BenchmarkEncodePage(b *testing.B) {
	when := time.Date(2026, 12, 4, 10, 11, 12, 345000000, time.UTC)
	page := records.Page{Items: make([]records.Record, 20)}
	for i := range page.Items {
		page.Items[i] = records.Record{
			"id": "0193a4f1c2d87e01b7e6" + string(rune('a'+i)), "title": "Post number " + string(rune('a'+i)),
			"body":  "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation.",
			"views": float64(i * 37), "public": i%2 == 0, "owner": "0193a4f1c2d87e01b7e6ownr", "created": when, "updated": when,
		}
	}
	b.Run("appendJSON", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			var err error
			if buf, err = appendJSON(buf[:0], page); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(page); err != nil {
				b.Fatal(err)
			}
		}
	})
}
