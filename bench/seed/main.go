// Command seed fills a running Keep with the data of the load benchmark
// (bench/run) through the public HTTP API only, so that seeding exercises the
// same code a client does:
//
//   - logs in as an existing superuser (made beforehand with
//     `keep superuser create`), the password read from BENCH_ADMIN_PASSWORD;
//   - creates the collection posts (title, body, views indexed, public,
//     owner → users) with the rules list/view `public || owner == auth.id` and
//     create/update/delete `owner == auth.id`;
//   - signs up -users users and logs each of them in three times: one session
//     whose access token the data workloads use, and two whose refresh tokens
//     the refresh workload rotates;
//   - creates -records posts spread evenly over the users, each created by its
//     owner, -parallel at a time.
//
// It writes three files for the wrk Lua scripts into -out, one line each:
//
//	users.txt    index id email password access_token
//	refresh.txt  refresh_token
//	records.txt  id owner_index public(0|1) views
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

type user struct {
	index    int
	id       string
	email    string
	password string
	access   string
	refresh  []string
}

type record struct {
	id     string
	owner  int
	public bool
	views  int
}

var client = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256},
}

func main() {
	base := flag.String("url", "http://127.0.0.1:8080", "Keep's base URL (loopback)")
	adminEmail := flag.String("admin-email", "admin@bench.example.com", "superuser email")
	nUsers := flag.Int("users", 100, "users to sign up")
	nRecords := flag.Int("records", 10000, "posts to create, spread over the users")
	parallel := flag.Int("parallel", 32, "requests in flight while seeding")
	out := flag.String("out", ".", "directory for users.txt, refresh.txt and records.txt")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("seed: ")

	adminPassword := os.Getenv("BENCH_ADMIN_PASSWORD")
	if adminPassword == "" {
		log.Fatal("BENCH_ADMIN_PASSWORD is not set")
	}
	start := time.Now()

	var login struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		User         struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	must(call(*base, "POST", "/api/auth/login", "", map[string]any{"email": *adminEmail, "password": adminPassword}, 200, &login))
	admin := login.AccessToken

	must(call(*base, "POST", "/api/collections", admin, map[string]any{
		"name": "posts",
		"fields": []map[string]any{
			{"name": "title", "type": "text", "max": 200},
			{"name": "body", "type": "text"},
			{"name": "views", "type": "number", "index": true},
			{"name": "public", "type": "bool"},
			{"name": "owner", "type": "relation", "collection": "users"},
		},
		"rules": map[string]any{
			"list": "public || owner == auth.id", "view": "public || owner == auth.id",
			"create": "owner == auth.id", "update": "owner == auth.id", "delete": "owner == auth.id",
		},
	}, 201, nil))

	// The write-cost collections (issue 5): the same three text fields and
	// rules, plain, audited, and with all three encrypted.
	for _, wc := range []struct {
		name    string
		audited bool
		enc     bool
	}{{"writes_plain", false, false}, {"writes_audited", true, false}, {"writes_encrypted", false, true}} {
		fields := []map[string]any{{"name": "owner", "type": "relation", "collection": "users"}}
		for _, n := range []string{"title", "body", "note"} {
			fields = append(fields, map[string]any{"name": n, "type": "text", "encrypted": wc.enc})
		}
		must(call(*base, "POST", "/api/collections", admin, map[string]any{
			"name": wc.name, "audited": wc.audited, "fields": fields,
			"rules": map[string]any{"create": "owner == auth.id", "view": "owner == auth.id"},
		}, 201, nil))
	}

	users := make([]*user, *nUsers)
	for i := range users {
		users[i] = &user{
			index:    i,
			email:    fmt.Sprintf("bench-user-%03d@bench.example.com", i),
			password: fmt.Sprintf("keep-bench-passphrase-%03d", i),
		}
	}
	// Sign-up and logins hash with Argon2id, which Keep bounds to one hash per
	// core, so a small pool is enough.
	must(forEach(len(users), 8, func(i int) error {
		u := users[i]
		var rec struct {
			ID string `json:"id"`
		}
		if err := call(*base, "POST", "/api/auth/signup", "", map[string]any{"email": u.email, "password": u.password}, 201, &rec); err != nil {
			return err
		}
		u.id = rec.ID
		for s := 0; s < 3; s++ {
			var res struct {
				AccessToken  string `json:"access_token"`
				RefreshToken string `json:"refresh_token"`
			}
			if err := call(*base, "POST", "/api/auth/login", "", map[string]any{"email": u.email, "password": u.password}, 200, &res); err != nil {
				return err
			}
			if s == 0 {
				u.access = res.AccessToken
			} else {
				u.refresh = append(u.refresh, res.RefreshToken)
			}
		}
		return nil
	}))
	log.Printf("%d users signed up and logged in (%s)", len(users), time.Since(start).Round(time.Millisecond))

	recs := make([]record, *nRecords)
	body := strings.Repeat("lorem ipsum dolor sit amet ", 8)
	must(forEach(len(recs), *parallel, func(i int) error {
		u := users[i%len(users)]
		rng := rand.New(rand.NewPCG(uint64(i), 42))
		r := record{owner: u.index, public: rng.IntN(2) == 0, views: rng.IntN(1000)}
		var res struct {
			ID string `json:"id"`
		}
		if err := call(*base, "POST", "/api/collections/posts/records", u.access, map[string]any{
			"title": fmt.Sprintf("post %d", i), "body": body, "views": r.views, "public": r.public, "owner": u.id,
		}, 201, &res); err != nil {
			return err
		}
		r.id = res.ID
		recs[i] = r
		return nil
	}))
	elapsed := time.Since(start)
	log.Printf("%d records created (%s in all)", len(recs), elapsed.Round(time.Millisecond))

	var ub, rb, tb bytes.Buffer
	for _, u := range users {
		fmt.Fprintf(&ub, "%d %s %s %s %s\n", u.index, u.id, u.email, u.password, u.access)
		for _, t := range u.refresh {
			fmt.Fprintln(&tb, t)
		}
	}
	for _, r := range recs {
		pub := 0
		if r.public {
			pub = 1
		}
		fmt.Fprintf(&rb, "%s %d %d %d\n", r.id, r.owner, pub, r.views)
	}
	for name, b := range map[string]*bytes.Buffer{"users.txt": &ub, "refresh.txt": &tb, "records.txt": &rb} {
		must(os.WriteFile(filepath.Join(*out, name), b.Bytes(), 0o600))
	}
}

// call sends a JSON request and decodes the answer into out (when not nil),
// failing unless the status is want.
func call(base, method, path, token string, in any, want int, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(method, base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return err
	}
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, path, res.StatusCode, want, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// forEach runs fn(0..n-1) on at most parallel goroutines and returns the
// first error; after an error, no further items start.
func forEach(n, parallel int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  int
	)
	for range min(parallel, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if first != nil || next >= n {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				if err := fn(i); err != nil {
					mu.Lock()
					first = errors.Join(first, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
