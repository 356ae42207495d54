package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/keep-dev/keep/internal/accounts"
	"github.com/keep-dev/keep/internal/app"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// fuzzKeep is Keep on SQLite for a fuzzer, with a signed-in superuser.
func fuzzKeep(f *testing.F) (*app.Keep, accounts.LoginResult) {
	ctx := context.Background()
	k, err := app.NewWithStore(ctx, testConfig(f), slog.New(slog.DiscardHandler), enginetest.SQLite(f), true)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := k.Accounts.CreateSuperuser(ctx, "admin@example.com", "admin password 1"); err != nil {
		f.Fatal(err)
	}
	tok, err := k.Accounts.Login(ctx, "admin@example.com", "admin password 1", accounts.ClientInfo{})
	if err != nil {
		f.Fatal(err)
	}
	return k, tok
}

// FuzzRecordsAPI sends arbitrary record bodies and list query parameters to
// the real handler on SQLite: whatever the input, the answer is never a 5xx
// and every error is the envelope.
func FuzzRecordsAPI(f *testing.F) {
	ctx := context.Background()
	k, tok := fuzzKeep(f)
	if _, err := k.Records.CreateCollection(ctx, records.CollectionInput{Name: "posts", Fields: []records.Field{
		{Name: "title", Type: records.TypeText}, {Name: "views", Type: records.TypeNumber},
		{Name: "public", Type: records.TypeBool}, {Name: "when", Type: records.TypeDate},
		{Name: "meta", Type: records.TypeJSON}, {Name: "tags", Type: records.TypeSelect, Values: []string{"a", "b"}, MaxSelect: 2},
		{Name: "owner", Type: records.TypeRelation, Collection: "users"},
	}}); err != nil {
		f.Fatal(err)
	}
	for _, seed := range []struct{ body, filter, sort, cursor, fields, expand string }{
		{`{"title":"a","views":1,"public":true}`, `views > 1 && public`, `-views`, ``, `title`, `owner`},
		{`{"when":"2024-01-01T00:00:00Z","meta":{"a":[1,2]},"tags":["a","b"]}`, `"a" in tags`, `when,title`, `eyJzIjoiIiwidiI6WyJ4Il19`, ``, ``},
		{`{"views":1e400}`, `title.startsWith("%")`, `id`, `!!`, `nope`, `title`},
		{`[]`, `(((`, `,`, `e30`, `id,id`, `owner,owner`},
		{"{\"title\":\"\xff\"}", "views > \xff", "-", "", "", ""},
	} {
		f.Add(seed.body, seed.filter, seed.sort, seed.cursor, seed.fields, seed.expand)
	}
	check := func(t *testing.T, w *httptest.ResponseRecorder, what string) {
		if w.Code >= 500 {
			t.Fatalf("%s: status %d: %s", what, w.Code, w.Body)
		}
		if w.Code >= 400 {
			var env struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || env.Error.Code == "" {
				t.Fatalf("%s: status %d without envelope: %s", what, w.Code, w.Body)
			}
		}
	}
	f.Fuzz(func(t *testing.T, body, filter, sortSpec, cursor, fields, expand string) {
		r := httptest.NewRequest("POST", "/api/collections/posts/records", bytes.NewBufferString(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		w := httptest.NewRecorder()
		k.Handler.ServeHTTP(w, r)
		check(t, w, "create")

		q := url.Values{"filter": {filter}, "sort": {sortSpec}, "cursor": {cursor}, "fields": {fields}, "expand": {expand}}
		r = httptest.NewRequest("GET", "/api/collections/posts/records?"+q.Encode(), nil)
		r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		w = httptest.NewRecorder()
		k.Handler.ServeHTTP(w, r)
		check(t, w, "list")
	})
}
