package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keep-dev/keep/internal/accounts"
	"github.com/keep-dev/keep/internal/app"
	"github.com/keep-dev/keep/internal/config"
	"github.com/keep-dev/keep/internal/records"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

// benchApp is Keep on SQLite with a posts collection of n public records.
func benchApp(b *testing.B, n int) (http.Handler, string, []string) {
	b.Helper()
	k, err := app.NewWithStore(context.Background(), testConfig(b), slog.New(slog.DiscardHandler), enginetest.SQLite(b), true)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := k.Accounts.CreateSuperuser(ctx, "admin@example.com", "admin password 1"); err != nil {
		b.Fatal(err)
	}
	tok, err := k.Accounts.Login(ctx, "admin@example.com", "admin password 1", accounts.ClientInfo{})
	if err != nil {
		b.Fatal(err)
	}
	su := records.Caller{Superuser: true}
	if _, err := k.Records.CreateCollection(ctx, records.CollectionInput{Name: "posts", Fields: []records.Field{
		{Name: "title", Type: records.TypeText}, {Name: "views", Type: records.TypeNumber, Index: true},
		{Name: "public", Type: records.TypeBool},
	}}); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		rec, err := k.Records.Create(ctx, su, "posts", records.Body{
			"title": []byte(fmt.Sprintf("%q", fmt.Sprint("post ", i))), "views": []byte(fmt.Sprint(i)), "public": []byte("true"),
		})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = rec.ID()
	}
	return k.Handler, tok.AccessToken, ids
}

func serveBench(b *testing.B, h http.Handler, tok string, req func(i int) *http.Request) {
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r := req(i)
			r.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
			_, _ = io.Copy(io.Discard, w.Body)
			i++
		}
	})
}

// BenchmarkGetRecord is the whole handler chain for one record by id:
// token verify, identity load, rule, query, encode.
func BenchmarkGetRecord(b *testing.B) {
	h, tok, ids := benchApp(b, 500)
	serveBench(b, h, tok, func(i int) *http.Request {
		return httptest.NewRequest("GET", "/api/collections/posts/records/"+ids[i%len(ids)], nil)
	})
}

// BenchmarkListFiltered is a page of 20 with a filter and a sort.
func BenchmarkListFiltered(b *testing.B) {
	h, tok, _ := benchApp(b, 500)
	q := "/api/collections/posts/records?limit=20&sort=-views&filter=" + strings.ReplaceAll("views%20%3E%20100%20%26%26%20public", " ", "%20")
	serveBench(b, h, tok, func(int) *http.Request { return httptest.NewRequest("GET", q, nil) })
}

// testConfig is the default configuration with the data directory (secret
// key, mail outbox) in a temporary directory.
func testConfig(tb testing.TB) config.Config {
	cfg := config.Default()
	cfg.DataDir = tb.TempDir()
	return cfg
}
