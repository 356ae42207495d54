package records_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keep-dev/keep/internal/ids"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// validationFields has one field per constraint the cases below exercise.
func validationFields() []records.Field {
	return []records.Field{
		{Name: "text", Type: records.TypeText, Min: ptr(2.0), Max: ptr(5.0), Pattern: `^[a-zé]+$`},
		{Name: "plain", Type: records.TypeText},
		{Name: "num", Type: records.TypeNumber, Min: ptr(-1.5), Max: ptr(10.0)},
		{Name: "int", Type: records.TypeNumber, Integer: true},
		{Name: "flag", Type: records.TypeBool},
		{Name: "mail", Type: records.TypeEmail},
		{Name: "link", Type: records.TypeURL},
		{Name: "when", Type: records.TypeDate},
		{Name: "one", Type: records.TypeSelect, Values: []string{"x", "y", "z"}},
		{Name: "many", Type: records.TypeSelect, Values: []string{"x", "y", "z"}, MaxSelect: 2},
		{Name: "doc", Type: records.TypeJSON, MaxBytes: 20},
		{Name: "who", Type: records.TypeRelation, Collection: "users"},
		{Name: "whom", Type: records.TypeRelation, Collection: "users", Multi: true},
	}
}

// TestCreateValidatesFields runs one Create per case that sets one field. A
// case either fails with a ValidationError keyed by exactly that field, or
// succeeds and stores the expected value, which Get then reads back.
func TestCreateValidatesFields(t *testing.T) {
	missing := ids.New()
	tests := []struct {
		name    string
		field   string
		value   any // encoded to JSON unless a json.RawMessage
		wantErr bool
		// The stored value when !wantErr: want, or NULL when wantNull, or
		// else value itself.
		want     any
		wantNull bool
	}{
		{name: "text ok", field: "text", value: "abc"},
		{name: "text min counts characters", field: "text", value: "é", wantErr: true},
		{name: "text max counts characters", field: "text", value: "ééééé"},
		{name: "text too long", field: "text", value: "abcdef", wantErr: true},
		{name: "text pattern", field: "text", value: "ab1", wantErr: true},
		{name: "text wrong type", field: "text", value: 12, wantErr: true},
		{name: "text empty is checked against min", field: "text", value: "", wantErr: true},
		{name: "text null", field: "text", value: json.RawMessage(`null`), wantNull: true},
		{name: "text with NUL", field: "plain", value: "ab\x00c", wantErr: true},
		{name: "text invalid UTF-8 is replaced", field: "plain", value: json.RawMessage("\"a\xffb\""), want: "a\ufffdb"},

		{name: "number ok", field: "num", value: 2.5},
		{name: "number at min", field: "num", value: -1.5},
		{name: "number below min", field: "num", value: -1.6, wantErr: true},
		{name: "number above max", field: "num", value: 10.01, wantErr: true},
		{name: "number as string", field: "num", value: "3", wantErr: true},
		{name: "number out of float64 range", field: "num", value: json.RawMessage(`1e400`), wantErr: true},
		{name: "number NaN literal", field: "num", value: json.RawMessage(`NaN`), wantErr: true},
		{name: "integer ok", field: "int", value: 42.0},
		{name: "integer with exponent", field: "int", value: json.RawMessage(`4.2e1`), want: 42.0},
		{name: "integer fraction", field: "int", value: 4.5, wantErr: true},

		{name: "bool true", field: "flag", value: true},
		{name: "bool false", field: "flag", value: false},
		{name: "bool as string", field: "flag", value: "true", wantErr: true},
		{name: "bool as number", field: "flag", value: 1, wantErr: true},

		{name: "email ok, domain lower-cased", field: "mail", value: "Ann.Lee@Example.COM", want: "Ann.Lee@example.com"},
		{name: "email with display name", field: "mail", value: "Ann <ann@example.com>", wantErr: true},
		{name: "email without at", field: "mail", value: "ann.example.com", wantErr: true},
		{name: "email too long", field: "mail", value: strings.Repeat("a", 250) + "@b.co", wantErr: true},
		{name: "email empty means none", field: "mail", value: "", wantNull: true},

		{name: "url http", field: "link", value: "http://example.com"},
		{name: "url https with path", field: "link", value: "https://example.com/a?b=c#d"},
		{name: "url ftp", field: "link", value: "ftp://example.com/file", wantErr: true},
		{name: "url javascript", field: "link", value: "javascript:alert(1)", wantErr: true},
		{name: "url without host", field: "link", value: "http:///path", wantErr: true},
		{name: "url relative", field: "link", value: "/just/a/path", wantErr: true},
		{name: "url too long", field: "link", value: "https://example.com/" + strings.Repeat("a", 2048), wantErr: true},

		{name: "date UTC gains milliseconds", field: "when", value: "2024-03-01T10:34:56Z", want: "2024-03-01T10:34:56.000Z"},
		{name: "date offset moves to UTC", field: "when", value: "2024-03-01T12:34:56.789+02:00", want: "2024-03-01T10:34:56.789Z"},
		{name: "date truncated to milliseconds", field: "when", value: "2024-03-01T10:34:56.789999999Z", want: "2024-03-01T10:34:56.789Z"},
		{name: "date day crosses in UTC", field: "when", value: "2024-12-31T23:30:00-01:00", want: "2025-01-01T00:30:00.000Z"},
		{name: "date without time", field: "when", value: "2024-03-01", wantErr: true},
		{name: "date without zone", field: "when", value: "2024-03-01T10:34:56", wantErr: true},
		{name: "date not a date", field: "when", value: "yesterday", wantErr: true},
		{name: "date year 0", field: "when", value: "0000-06-01T00:00:00Z", wantErr: true},
		{name: "date offset into year 10000", field: "when", value: "9999-12-31T23:30:00-01:00", wantErr: true},
		{name: "date offset into year 0", field: "when", value: "0001-01-01T00:30:00+01:00", wantErr: true},
		{name: "date earliest", field: "when", value: "0001-01-01T00:00:00Z", want: "0001-01-01T00:00:00.000Z"},
		{name: "date latest", field: "when", value: "9999-12-31T23:59:59.999Z"},

		{name: "select ok", field: "one", value: "y"},
		{name: "select unknown value", field: "one", value: "w", wantErr: true},
		{name: "select single given a list", field: "one", value: []string{"x"}, wantErr: true},
		{name: "select empty means none", field: "one", value: "", wantNull: true},
		{name: "multi select ok", field: "many", value: []string{"z", "x"}},
		{name: "multi select empty", field: "many", value: []string{}},
		{name: "multi select over max_select", field: "many", value: []string{"x", "y", "z"}, wantErr: true},
		{name: "multi select unknown value", field: "many", value: []string{"x", "w"}, wantErr: true},
		{name: "multi select repeated value", field: "many", value: []string{"x", "x"}, wantErr: true},
		{name: "multi select given a string", field: "many", value: "x", wantErr: true},

		{name: "json object", field: "doc", value: map[string]any{"a": []any{1.0, "b"}}},
		{name: "json at max_bytes", field: "doc", value: json.RawMessage(`"` + strings.Repeat("a", 18) + `"`), want: strings.Repeat("a", 18)},
		{name: "json over max_bytes", field: "doc", value: json.RawMessage(`"` + strings.Repeat("a", 19) + `"`), wantErr: true},
		{name: "json invalid", field: "doc", value: json.RawMessage(`{"a":`), wantErr: true},
		{name: "json null is no value", field: "doc", value: json.RawMessage(`null`), wantNull: true},
		{name: "json is compacted", field: "doc", value: json.RawMessage(` [ 1 , 2 ] `), want: []any{1.0, 2.0}},
		// What PostgreSQL's jsonb refuses is refused on both engines.
		{name: "json NUL escape", field: "doc", value: json.RawMessage(`["\u0000"]`), wantErr: true},
		{name: "json NUL escape in a key", field: "doc", value: json.RawMessage(`{"\u0000":1}`), wantErr: true},
		{name: "json escaped backslash before u0000", field: "doc", value: json.RawMessage(`"\\u0000"`), want: `\u0000`},
		{name: "json invalid UTF-8", field: "doc", value: json.RawMessage("\"\xff\""), wantErr: true},
		{name: "json lone high surrogate", field: "doc", value: json.RawMessage(`"\ud800"`), wantErr: true},
		{name: "json lone low surrogate", field: "doc", value: json.RawMessage(`"\udc00x"`), wantErr: true},
		{name: "json high surrogate then not low", field: "doc", value: json.RawMessage(`"\ud800\u0041"`), wantErr: true},
		{name: "json surrogate pair", field: "doc", value: json.RawMessage(`"\ud83d\ude00"`), want: "\U0001F600"},
		{name: "json number too large", field: "doc", value: json.RawMessage(`[1e400]`), wantErr: true},
		{name: "json number too precise", field: "doc", value: json.RawMessage(`1e-16384`), wantErr: true},
		{name: "json small number", field: "doc", value: json.RawMessage(`1e-300`), want: 1e-300},

		{name: "relation to missing record", field: "who", value: missing, wantErr: true},
		{name: "relation not an id", field: "who", value: "alice", wantErr: true},
		{name: "multi relation to missing record", field: "whom", value: []string{missing}, wantErr: true},
		{name: "multi relation repeated id", field: "whom", value: []string{missing, missing}, wantErr: true},
	}
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()
		s := newService(t, open(t))
		mustCollection(t, s, records.CollectionInput{Name: "v", Fields: validationFields()})
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				rec, err := s.Create(ctx, superuser, "v", body(t, map[string]any{tc.field: tc.value}))
				if tc.wantErr {
					wantOnlyKeys(t, wantValidation(t, err, tc.field), tc.field)
					return
				}
				if err != nil {
					t.Fatalf("Create: %v", err)
				}
				want := tc.want
				switch {
				case tc.wantNull:
					want = nil
				case want == nil:
					want = tc.value
				}
				got := plain(t, rec)[tc.field]
				if diff := cmp.Diff(plainValue(t, want), got); diff != "" {
					t.Errorf("stored %s (-want +got):\n%s", tc.field, diff)
				}
				// What Create returned is what Get reads back.
				again, err := s.Get(ctx, superuser, "v", rec.ID(), records.ViewOptions{})
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				if diff := cmp.Diff(plain(t, rec), plain(t, again)); diff != "" {
					t.Errorf("Get differs from Create (-create +get):\n%s", diff)
				}
			})
		}

		t.Run("relation to existing records", func(t *testing.T) {
			a, b := signup(t, s, "a@example.com"), signup(t, s, "b@example.com")
			rec := mustCreate(t, s, superuser, "v", map[string]any{"who": a.id, "whom": []string{b.id, a.id}})
			if rec["who"] != a.id || !cmp.Equal(rec["whom"], []string{b.id, a.id}) {
				t.Fatalf("relations = %v, %v", rec["who"], rec["whom"])
			}
			_, err := s.Create(ctx, superuser, "v", body(t, map[string]any{"whom": []string{a.id, missing}}))
			wantOnlyKeys(t, wantValidation(t, err), "whom")
		})

		t.Run("every problem is reported at once", func(t *testing.T) {
			_, err := s.Create(ctx, superuser, "v", body(t, map[string]any{"text": "x", "num": 99, "flag": "no", "nope": 1}))
			wantOnlyKeys(t, wantValidation(t, err), "text", "num", "flag", "nope")
		})

		t.Run("update validates the same way", func(t *testing.T) {
			rec := mustCreate(t, s, superuser, "v", map[string]any{"text": "abc"})
			_, err := s.Update(ctx, superuser, "v", rec.ID(), body(t, map[string]any{"text": "toolong", "when": "soon"}))
			wantOnlyKeys(t, wantValidation(t, err), "text", "when")
		})
	})
}

// TestCreateRequiredUnknownAndServerFields covers the keys of a body rather
// than the values of fields.
func TestCreateRequiredUnknownAndServerFields(t *testing.T) {
	tests := []struct {
		name     string
		body     map[string]any
		wantKeys []string // nil: Create succeeds
	}{
		{name: "all required present", body: map[string]any{"title": "t", "tags": []string{"a"}, "owner": "@self"}},
		{name: "required missing", body: map[string]any{"tags": []string{"a"}, "owner": "@self"}, wantKeys: []string{"title"}},
		{name: "all required missing", body: map[string]any{}, wantKeys: []string{"title", "tags", "owner"}},
		{name: "required null", body: map[string]any{"title": nil, "tags": []string{"a"}, "owner": "@self"}, wantKeys: []string{"title"}},
		{name: "required empty text", body: map[string]any{"title": "", "tags": []string{"a"}, "owner": "@self"}, wantKeys: []string{"title"}},
		{name: "required empty list", body: map[string]any{"title": "t", "tags": []string{}, "owner": "@self"}, wantKeys: []string{"tags"}},
		{name: "required empty relation", body: map[string]any{"title": "t", "tags": []string{"a"}, "owner": ""}, wantKeys: []string{"owner"}},
		{name: "unknown field", body: map[string]any{"title": "t", "tags": []string{"a"}, "owner": "@self", "colour": "red"}, wantKeys: []string{"colour"}},
		{name: "unknown field differs in case", body: map[string]any{"Title": "t", "title": "t", "tags": []string{"a"}, "owner": "@self"}, wantKeys: []string{"Title"}},
		{name: "id is server-set", body: map[string]any{"id": ids.New(), "title": "t", "tags": []string{"a"}, "owner": "@self"}, wantKeys: []string{"id"}},
		{name: "created is server-set", body: map[string]any{"created": "2024-01-01T00:00:00Z", "title": "t", "tags": []string{"a"}, "owner": "@self"}, wantKeys: []string{"created"}},
		{name: "updated is server-set", body: map[string]any{"updated": "2024-01-01T00:00:00Z", "title": "t", "tags": []string{"a"}, "owner": "@self"}, wantKeys: []string{"updated"}},
		{name: "expand is server-set", body: map[string]any{"expand": map[string]any{}, "title": "t", "tags": []string{"a"}, "owner": "@self"}, wantKeys: []string{"expand"}},
		{name: "server-set and missing together", body: map[string]any{"id": "x"}, wantKeys: []string{"id", "title", "tags", "owner"}},
	}
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()
		s := newService(t, open(t))
		u := signup(t, s, "owner@example.com")
		mustCollection(t, s, records.CollectionInput{Name: "req", Fields: []records.Field{
			{Name: "title", Type: records.TypeText, Required: true},
			{Name: "tags", Type: records.TypeSelect, Values: []string{"a", "b"}, MaxSelect: 2, Required: true},
			{Name: "owner", Type: records.TypeRelation, Collection: "users", Required: true},
			{Name: "note", Type: records.TypeText},
		}})
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				b := map[string]any{}
				for k, v := range tc.body {
					if v == "@self" {
						v = u.id
					}
					b[k] = v
				}
				rec, err := s.Create(ctx, superuser, "req", body(t, b))
				if tc.wantKeys == nil {
					if err != nil {
						t.Fatalf("Create: %v", err)
					}
					if rec["note"] != nil {
						t.Fatalf("optional field = %v, want nil", rec["note"])
					}
					return
				}
				wantOnlyKeys(t, wantValidation(t, err), tc.wantKeys...)
			})
		}
		t.Run("update may leave required fields out", func(t *testing.T) {
			rec := mustCreate(t, s, superuser, "req", map[string]any{"title": "t", "tags": []string{"a"}, "owner": u.id})
			if _, err := s.Update(ctx, superuser, "req", rec.ID(), body(t, map[string]any{"note": "n"})); err != nil {
				t.Fatalf("Update: %v", err)
			}
			_, err := s.Update(ctx, superuser, "req", rec.ID(), body(t, map[string]any{"title": nil, "id": ids.New()}))
			wantOnlyKeys(t, wantValidation(t, err), "title", "id")
		})
	})
}

// plainValue is v as it reads back from record JSON.
func plainValue(t testing.TB, v any) any {
	t.Helper()
	raw, ok := v.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(v); err != nil {
			t.Fatalf("encode %v: %v", v, err)
		}
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return out
}

// FuzzFieldValueEngines stores arbitrary bytes as the value of a json, a
// text and a date field on every engine: each Create either succeeds or
// fails with a ValidationError (never a database error), and the engines
// agree on which.
func FuzzFieldValueEngines(f *testing.F) {
	for _, seed := range []string{
		`{"a":[1,"b",null,true]}`, `"\u0000"`, `"\\u0000"`, "\"\xff\"", `"\ud800"`, `"\ud83d\ude00"`,
		`1e400`, `1e-16384`, `1.5e-16382`, `0e99999`, `-0`, `{"a":1,"a":2}`, `[[[[]]]]`, `{`, ``,
		`"2024-02-30T00:00:00Z"`, `"9999-12-31T23:59:59.9999999-00:01"`, `"2024-01-01T00:00:00+24:00"`,
	} {
		f.Add([]byte(seed))
	}
	type engine struct {
		name string
		s    *records.Service
	}
	var engines []engine
	for _, e := range []struct {
		name string
		open func(testing.TB) store.DB
	}{{"sqlite", enginetest.SQLite}, {"postgres", enginetest.Postgres}} {
		if e.name == "postgres" && os.Getenv(enginetest.PostgresURLEnv) == "" {
			continue
		}
		s := newService(f, e.open(f))
		mustCollection(f, s, records.CollectionInput{Name: "docs", Fields: []records.Field{
			{Name: "doc", Type: records.TypeJSON, MaxBytes: records.MaxJSONBytes},
			{Name: "txt", Type: records.TypeText},
			{Name: "day", Type: records.TypeDate},
		}})
		engines = append(engines, engine{e.name, s})
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		for _, field := range []string{"doc", "txt", "day"} {
			var accepted []string
			for _, e := range engines {
				_, err := e.s.Create(context.Background(), superuser, "docs", records.Body{field: value})
				var verr *records.ValidationError
				switch {
				case err == nil:
					accepted = append(accepted, e.name)
				case !errors.As(err, &verr):
					t.Fatalf("%s: Create(%s: %q): %v, want success or a ValidationError", e.name, field, value, err)
				}
			}
			if len(accepted) != 0 && len(accepted) != len(engines) {
				t.Fatalf("Create(%s: %q) succeeded only on %v", field, value, accepted)
			}
		}
	})
}
