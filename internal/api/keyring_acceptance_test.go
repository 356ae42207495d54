package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keep-dev/keep/internal/app"
	"github.com/keep-dev/keep/internal/config"
	"github.com/keep-dev/keep/internal/keyring"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
	"github.com/keep-dev/keep/internal/store/sqlite"
)

// keyringEngines runs fn on SQLite (with the path of its database file, so
// the test can read the files as bytes) and, when configured, PostgreSQL
// (path "").
func keyringEngines(t *testing.T, fn func(t *testing.T, db store.DB, sqlitePath string)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "keep.db")
		db, err := sqlite.Open(context.Background(), path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		fn(t, db, path)
	})
	t.Run("postgres", func(t *testing.T) {
		if os.Getenv(enginetest.PostgresURLEnv) == "" {
			t.Skip(enginetest.PostgresURLEnv + " not set")
		}
		fn(t, enginetest.Postgres(t), "")
	})
}

// Plaintexts that must never reach the database.
const (
	ssnValue   = "zq-ssn-123-45-6789"
	noteSecret = "zq-encrypted-note"
	jsonSecret = "zq-json-secret"
)

var patientsCollection = map[string]any{
	"name": "patients",
	"fields": []map[string]any{
		{"name": "name", "type": "text"},
		{"name": "ssn", "type": "text", "encrypted": true, "searchable": true, "unique": true},
		{"name": "note", "type": "text", "encrypted": true},
		{"name": "score", "type": "number", "encrypted": true, "searchable": true},
		{"name": "mail", "type": "email", "encrypted": true, "searchable": true},
		{"name": "doc", "type": "json", "encrypted": true},
	},
	"rules": map[string]any{"list": "true", "view": "true", "create": "true", "update": "true"},
}

// dumpDatabase is every byte of the SQLite files, or every row of every
// table of the PostgreSQL schema as text.
func dumpDatabase(t *testing.T, db store.DB, sqlitePath string) []byte {
	t.Helper()
	if sqlitePath != "" {
		var all []byte
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			b, err := os.ReadFile(sqlitePath + suffix)
			if err == nil {
				all = append(all, b...)
			}
		}
		if len(all) == 0 {
			t.Fatal("no database files")
		}
		return all
	}
	ctx := context.Background()
	rows, err := db.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	if len(tables) < 5 {
		t.Fatalf("only %d tables", len(tables))
	}
	var out bytes.Buffer
	for _, tb := range tables {
		rows, err := db.Query(ctx, fmt.Sprintf("SELECT t::text FROM %s AS t", store.QuoteIdent(tb)))
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out.WriteString(s + "\n")
		}
		rows.Close()
	}
	return out.Bytes()
}

// TestEncryptedFields proves issue 5, acceptance 1: encrypted values are
// nowhere in the database, a ciphertext copied to another row answers 500
// integrity_error, and equality filters on searchable fields find the
// right records; order filters, sorts and filters on non-searchable
// encrypted fields are 400s.
func TestEncryptedFields(t *testing.T) {
	keyringEngines(t, func(t *testing.T, db store.DB, sqlitePath string) {
		h := newHarness(t, db)
		h.expect(h.do("admin", "POST", "/api/collections", patientsCollection), 201, "")
		var ids []string
		for i := range 3 {
			rec := h.expect(h.do("admin", "POST", "/api/collections/patients/records", map[string]any{
				"name": fmt.Sprintf("p%d", i), "ssn": fmt.Sprintf("%s-%d", ssnValue, i), "note": noteSecret,
				"score": float64(i), "mail": fmt.Sprintf("p%d@zq-secret.example", i), "doc": map[string]any{"k": jsonSecret},
			}), 201, "")
			if rec["ssn"] != fmt.Sprintf("%s-%d", ssnValue, i) || rec["note"] != noteSecret || rec["score"] != float64(i) {
				t.Fatalf("record as written: %v", rec)
			}
			ids = append(ids, rec["id"].(string))
		}
		// An update re-seals too.
		h.expect(h.do("admin", "PATCH", "/api/collections/patients/records/"+ids[2], map[string]any{"note": noteSecret + "-2"}), 200, "")

		dump := dumpDatabase(t, db, sqlitePath)
		for _, secret := range []string{ssnValue, noteSecret, jsonSecret, "zq-secret.example"} {
			if bytes.Contains(dump, []byte(secret)) {
				t.Errorf("the plaintext %q is in the database", secret)
			}
		}
		if !bytes.Contains(dump, []byte("p1")) {
			t.Error("the dump does not hold the plain field either: the test reads nothing")
		}

		// Reads decrypt; equality filters use the blind index.
		got := h.expect(h.do("admin", "GET", "/api/collections/patients/records/"+ids[1], nil), 200, "")
		if got["ssn"] != ssnValue+"-1" || got["mail"] != "p1@zq-secret.example" || !strings.Contains(fmt.Sprint(got["doc"]), jsonSecret) {
			t.Fatalf("get: %v", got)
		}
		for _, tc := range []struct {
			filter string
			want   []string
		}{
			{`ssn == "` + ssnValue + `-1"`, []string{ids[1]}},
			{`ssn != "` + ssnValue + `-1"`, []string{ids[0], ids[2]}},
			{`score == 2`, []string{ids[2]}},
			{`score == 2.0 || mail == "p0@zq-secret.example"`, []string{ids[0], ids[2]}},
			// The stored domain is lower-cased; so is the literal's.
			{`mail == "p1@ZQ-Secret.Example"`, []string{ids[1]}},
			{`ssn == "nobody"`, nil},
			{`note != null && name == "p0"`, []string{ids[0]}},
		} {
			page := h.expect(h.do("admin", "GET", "/api/collections/patients/records?filter="+urlq(tc.filter), nil), 200, "")
			var gotIDs []string
			for _, it := range page["items"].([]any) {
				gotIDs = append(gotIDs, it.(map[string]any)["id"].(string))
			}
			if fmt.Sprint(gotIDs) != fmt.Sprint(tc.want) {
				t.Errorf("filter %s: got %v, want %v", tc.filter, gotIDs, tc.want)
			}
		}
		for _, q := range []string{
			"filter=" + urlq(`score > 1`),
			"filter=" + urlq(`ssn >= "a"`),
			"filter=" + urlq(`note == "`+noteSecret+`"`),
			"filter=" + urlq(`ssn.startsWith("zq")`),
			"filter=" + urlq(`ssn == name`),
			"filter=" + urlq(`size(ssn) > 3`),
			"filter=" + urlq(`ssn in ["a", "b"]`),
			"sort=ssn",
			"sort=-score",
		} {
			h.expect(h.do("admin", "GET", "/api/collections/patients/records?"+q, nil), 400, "bad_request")
		}
		// Unique through the blind index.
		h.expect(h.do("admin", "POST", "/api/collections/patients/records", map[string]any{"ssn": ssnValue + "-0"}), 409, "conflict")
		// Rules: only == and != on searchable fields.
		h.expect(h.do("admin", "PATCH", "/api/collections/patients", map[string]any{"rules": map[string]any{"view": `note == "x"`}}), 422, "validation_failed")
		h.expect(h.do("admin", "PATCH", "/api/collections/patients", map[string]any{"rules": map[string]any{"view": `score < 3`}}), 422, "validation_failed")
		// Options that cannot be encrypted, or cannot change.
		h.expect(h.do("admin", "POST", "/api/collections", map[string]any{"name": "bad", "fields": []map[string]any{
			{"name": "d", "type": "date", "encrypted": true}}}), 422, "validation_failed")
		h.expect(h.do("admin", "POST", "/api/collections", map[string]any{"name": "bad", "fields": []map[string]any{
			{"name": "t", "type": "text", "encrypted": true, "unique": true}}}), 422, "validation_failed")

		// A ciphertext copied to another row fails to open: 500
		// integrity_error, not the other row's value.
		ctx := context.Background()
		if err := db.Tx(ctx, func(q store.Querier) error {
			_, err := q.Exec(ctx, `UPDATE c_patients SET ssn = (SELECT ssn FROM c_patients WHERE id = ?) WHERE id = ?`, ids[0], ids[1])
			return err
		}); err != nil {
			t.Fatal(err)
		}
		r := h.do("admin", "GET", "/api/collections/patients/records/"+ids[1], nil)
		body := h.expect(r, 500, "integrity_error")
		if bytes.Contains(r.body, []byte(ssnValue)) {
			t.Fatalf("the integrity error leaks a value: %v", body)
		}
		h.expect(h.do("admin", "GET", "/api/collections/patients/records", nil), 500, "integrity_error")
		h.expect(h.do("admin", "GET", "/api/collections/patients/records/"+ids[0], nil), 200, "")
	})
}

// currentDataKey is the id of the current data key as the API reports it.
func currentDataKey(t *testing.T, h *harness) string {
	t.Helper()
	st := h.expect(h.do("admin", "GET", "/api/admin/keys", nil), 200, "")
	for _, k := range st["keys"].([]any) {
		k := k.(map[string]any)
		if k["purpose"] == keyring.PurposeData && k["state"] == keyring.StateCurrent {
			return k["id"].(string)
		}
	}
	t.Fatalf("no current data key: %v", st)
	return ""
}

// keysOfColumn counts the stored ciphertexts of c_patients.note by key id.
func keysOfColumn(t *testing.T, db store.DB, col string) map[string]int {
	t.Helper()
	rows, err := db.Query(context.Background(), "SELECT "+store.QuoteIdent(col)+" FROM c_patients WHERE "+store.QuoteIdent(col)+" IS NOT NULL")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		ct, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		k, err := keyring.KeyOf(ct)
		if err != nil {
			t.Fatal(err)
		}
		out[k.String()]++
	}
	return out
}

// TestRotationUnderLoad proves issue 5, acceptance 2: while clients write
// and read over HTTP, a data-key rotation and its re-encryption job
// complete with zero failed requests and no ciphertext left on an old key;
// rotate-master then leaves every record readable under the new root key
// only.
func TestRotationUnderLoad(t *testing.T) {
	keyringEngines(t, func(t *testing.T, db store.DB, _ string) {
		ctx := context.Background()
		h := newHarness(t, db)
		h.expect(h.do("admin", "POST", "/api/collections", patientsCollection), 201, "")
		const seed = 250 // more than two re-encryption batches
		for i := range seed {
			h.expect(h.do("admin", "POST", "/api/collections/patients/records", map[string]any{
				"name": "seed", "ssn": fmt.Sprintf("seed-%d", i), "note": fmt.Sprintf("note-%d", i), "score": float64(i)}), 201, "")
		}
		first := currentDataKey(t, h)

		var stop atomic.Bool
		var failures, requests atomic.Int64
		var failMu sync.Mutex
		var failed []string
		var wg sync.WaitGroup
		fail := func(s string) {
			failures.Add(1)
			failMu.Lock()
			if len(failed) < 5 {
				failed = append(failed, s)
			}
			failMu.Unlock()
		}
		for w := range 4 {
			wg.Go(func() {
				for i := 0; !stop.Load() || i < 5; i++ {
					ssn := fmt.Sprintf("load-%d-%d", w, i)
					r := h.do("admin", "POST", "/api/collections/patients/records", map[string]any{"name": "load", "ssn": ssn, "note": "n-" + ssn, "score": float64(i)})
					requests.Add(1)
					if r.status != 201 {
						fail(fmt.Sprintf("create: %d %s", r.status, r.body))
						continue
					}
					rec := r.json(t)
					id := rec["id"].(string)
					r = h.do("admin", "GET", "/api/collections/patients/records/"+id, nil)
					requests.Add(1)
					if r.status != 200 || r.json(t)["note"] != "n-"+ssn {
						fail(fmt.Sprintf("get: %d %s", r.status, r.body))
					}
					r = h.do("admin", "PATCH", "/api/collections/patients/records/"+id, map[string]any{"note": "m-" + ssn})
					requests.Add(1)
					if r.status != 200 {
						fail(fmt.Sprintf("update: %d %s", r.status, r.body))
					}
					r = h.do("admin", "GET", "/api/collections/patients/records?filter="+urlq(`ssn == "seed-7"`), nil)
					requests.Add(1)
					if r.status != 200 || len(r.json(t)["items"].([]any)) != 1 {
						fail(fmt.Sprintf("list: %d %s", r.status, r.body))
					}
				}
			})
		}
		rot := h.expect(h.do("admin", "POST", "/api/admin/keys/rotate", nil), 202, "")
		job := rot["job"].(map[string]any)
		if job["id"] == "" || job["state"] != keyring.JobRunning {
			t.Fatalf("rotate: %v", rot)
		}
		second := currentDataKey(t, h)
		if second == first {
			t.Fatal("the data key did not change")
		}
		if err := h.keep.ReencryptNow(ctx); err != nil {
			t.Fatal(err)
		}
		stop.Store(true)
		wg.Wait()
		if n := failures.Load(); n > 0 {
			t.Fatalf("%d of %d requests failed during rotation, e.g. %v", n, requests.Load(), failed)
		}
		st := h.expect(h.do("admin", "GET", "/api/admin/keys", nil), 200, "")
		j := st["jobs"].([]any)[0].(map[string]any)
		if j["id"] != job["id"] || j["state"] != keyring.JobDone || j["done"].(float64) < seed || j["rewritten"].(float64) < 1 {
			t.Fatalf("job after the run: %v", j)
		}
		for _, col := range []string{"ssn", "note", "score"} {
			if got := keysOfColumn(t, db, col); len(got) != 1 || got[second] == 0 {
				t.Fatalf("column %s: ciphertexts by key %v, want all under %s", col, got, second)
			}
		}

		// rotate-master: the keys are re-wrapped, records untouched.
		oldRoot, err := keyring.ReadRootKeyFile(filepath.Join(h.cfg.DataDir, keyring.RootKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		newRoot, text := keyring.NewRootKey()
		newFile := filepath.Join(t.TempDir(), "new.key")
		if err := os.WriteFile(newFile, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		before := keysOfColumn(t, db, "note")
		if err := db.Tx(ctx, func(q store.Querier) error {
			_, err := keyring.RotateMaster(ctx, q, oldRoot, newRoot)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(keysOfColumn(t, db, "note")) != fmt.Sprint(before) {
			t.Fatal("rotate-master changed records")
		}
		if _, err := keyring.Open(ctx, db, oldRoot); err == nil {
			t.Fatal("the old root key still opens the keyring")
		}
		cfg := h.cfg
		cfg.MasterKeyFile = newFile
		k2, err := app.NewWithStore(ctx, cfg, slog.New(slog.DiscardHandler), db, true)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(k2.Handler)
		defer srv.Close()
		h2 := &harness{t: t, srv: srv, logs: h.logs, tokens: map[string]string{}, ids: h.ids, keep: k2, cfg: cfg}
		h2.login("admin", "admin@example.com", "admin password 1")
		n := 0
		for cursor := ""; ; {
			page := h2.expect(h2.do("admin", "GET", "/api/collections/patients/records?limit=500"+cursor, nil), 200, "")
			n += len(page["items"].([]any))
			next, _ := page["next_cursor"].(string)
			if next == "" {
				break
			}
			cursor = "&cursor=" + urlq(next)
		}
		if n < seed {
			t.Fatalf("read %d records after rotate-master, want at least %d", n, seed)
		}
		_ = config.Config{}
		_ = http.StatusOK
	})
}
