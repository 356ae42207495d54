package keyring_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keep-dev/keep/internal/keyring"
	"github.com/keep-dev/keep/internal/store"
	"github.com/keep-dev/keep/internal/store/enginetest"
)

func newRoot(t *testing.T) keyring.RootKey {
	t.Helper()
	k, _ := keyring.NewRootKey()
	return k
}

func TestSealOpen(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()
		db := open(t)
		root := newRoot(t)
		r, err := keyring.Open(ctx, db, root)
		if err != nil {
			t.Fatal(err)
		}
		s, err := r.Sealer(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		where := []byte("c1\x00f1\x00r1")
		ct := s.Seal([]byte("secret"), where)
		if bytes.Contains(ct, []byte("secret")) || len(ct) != len("secret")+keyring.Overhead {
			t.Fatalf("ciphertext %x", ct)
		}
		if k, err := keyring.KeyOf(ct); err != nil || k != s.Key() {
			t.Fatalf("KeyOf = %v, %v; want %v", k, err, s.Key())
		}
		pt, err := r.Open(ctx, nil, ct, where)
		if err != nil || string(pt) != "secret" {
			t.Fatalf("Open = %q, %v", pt, err)
		}
		tampered := func(i int) []byte { c := bytes.Clone(ct); c[i] ^= 1; return c }
		unknownKey := bytes.Clone(ct)
		copy(unknownKey[1:9], "nokeyhere")
		for name, tc := range map[string]struct {
			ct, where []byte
		}{
			"other row":     {ct, []byte("c1\x00f1\x00r2")},
			"other field":   {ct, []byte("c1\x00f2\x00r1")},
			"version":       {tampered(0), where},
			"key id":        {tampered(3), where},
			"unknown key":   {unknownKey, where},
			"nonce":         {tampered(12), where},
			"sealed":        {tampered(len(ct) - 1), where},
			"short":         {ct[:keyring.Overhead-1], where},
			"empty":         {nil, where},
			"no additional": {ct, nil},
		} {
			t.Run(name, func(t *testing.T) {
				pt, err := r.Open(ctx, nil, tc.ct, tc.where)
				if !errors.Is(err, keyring.ErrIntegrity) || pt != nil {
					t.Fatalf("Open = %q, %v; want ErrIntegrity", pt, err)
				}
			})
		}

		// Another process with the same root sees the same keys.
		r2, err := keyring.Open(ctx, db, root)
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := r2.Open(ctx, nil, ct, where); err != nil || string(pt) != "secret" {
			t.Fatalf("second ring: %q, %v", pt, err)
		}
		if !bytes.Equal(r.BlindIndex("c1/f1", []byte("v")), r2.BlindIndex("c1/f1", []byte("v"))) {
			t.Fatal("blind index differs between processes")
		}
		if bytes.Equal(r.BlindIndex("c1/f1", []byte("v")), r.BlindIndex("c1/f2", []byte("v"))) {
			t.Fatal("blind index is not scoped to the field")
		}
		// Another root does not open the keyring.
		if _, err := keyring.Open(ctx, db, newRoot(t)); !errors.Is(err, keyring.ErrWrongRootKey) {
			t.Fatalf("Open with another root: %v", err)
		}
	})
}

func TestRotate(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, open func(testing.TB) store.DB) {
		ctx := context.Background()
		db := open(t)
		root := newRoot(t)
		a, err := keyring.Open(ctx, db, root)
		if err != nil {
			t.Fatal(err)
		}
		b, err := keyring.Open(ctx, db, root) // another process
		if err != nil {
			t.Fatal(err)
		}
		s1, _ := a.Sealer(ctx, db)
		old := s1.Seal([]byte("old"), []byte("x"))
		var next keyring.KeyID
		var jobID string
		if err := db.Tx(ctx, func(q store.Querier) error {
			next, jobID, err = a.Rotate(ctx, q)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		// b learns of the new key at its next write, without a refresh.
		s2, err := b.Sealer(ctx, db)
		if err != nil || s2.Key() != next || next == s1.Key() {
			t.Fatalf("after rotate, b seals with %v (%v), want %v", s2.Key(), err, next)
		}
		if pt, err := b.Open(ctx, nil, old, []byte("x")); err != nil || string(pt) != "old" {
			t.Fatalf("old ciphertext: %q, %v", pt, err)
		}
		if pt, err := a.Open(ctx, nil, s2.Seal([]byte("new"), []byte("y")), []byte("y")); err != nil || string(pt) != "new" {
			t.Fatalf("new ciphertext in a: %q, %v", pt, err)
		}
		st, err := keyring.ReadStatus(ctx, db)
		if err != nil || len(st.Keys) != 3 || len(st.Jobs) != 1 || st.Jobs[0].ID != jobID || st.Jobs[0].State != keyring.JobRunning {
			t.Fatalf("status %+v, %v", st, err)
		}
		// A second rotation supersedes the first job.
		if err := db.Tx(ctx, func(q store.Querier) error { _, _, err := a.Rotate(ctx, q); return err }); err != nil {
			t.Fatal(err)
		}
		if j, err := keyring.GetJob(ctx, db, jobID); err != nil || j.State != keyring.JobSuperseded {
			t.Fatalf("first job %+v, %v", j, err)
		}

		// Only one worker holds a job; a lost lease stops the other.
		j1, ok1, err1 := keyring.Claim(ctx, db, "w1", time.Minute)
		_, ok2, err2 := keyring.Claim(ctx, db, "w2", time.Minute)
		if err1 != nil || err2 != nil || !ok1 || ok2 {
			t.Fatalf("claims: %v %v %v %v", ok1, err1, ok2, err2)
		}
		err = db.Tx(ctx, func(q store.Querier) error { return keyring.Progress(ctx, q, &j1, "w2", time.Minute) })
		if !errors.Is(err, keyring.ErrLeaseLost) {
			t.Fatalf("progress by a non-holder: %v", err)
		}
		// Released, it goes to the next claim, and its first holder's
		// batches no longer commit.
		if err := keyring.Release(ctx, db, j1.ID, "w2"); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := keyring.Claim(ctx, db, "w2", time.Minute); err != nil || ok {
			t.Fatalf("claim after a non-holder's release: %v %v, want none", ok, err)
		}
		if err := keyring.Release(ctx, db, j1.ID, "w1"); err != nil {
			t.Fatal(err)
		}
		j2, ok, err := keyring.Claim(ctx, db, "w2", time.Minute)
		if err != nil || !ok || j2.ID != j1.ID {
			t.Fatalf("claim after release: %+v %v %v", j2, ok, err)
		}
		err = db.Tx(ctx, func(q store.Querier) error { return keyring.Progress(ctx, q, &j1, "w1", time.Minute) })
		if !errors.Is(err, keyring.ErrLeaseLost) {
			t.Fatalf("progress by the releaser: %v", err)
		}
		if err := keyring.Release(ctx, db, j1.ID, "w2"); err != nil {
			t.Fatal(err)
		}
		if j1, ok1, err1 = keyring.Claim(ctx, db, "w1", time.Minute); err1 != nil || !ok1 {
			t.Fatalf("claim back: %v %v", ok1, err1)
		}
		if err := db.Tx(ctx, func(q store.Querier) error { return keyring.Finish(ctx, q, &j1, "w1") }); err != nil {
			t.Fatal(err)
		}

		// rotate-master: the new root opens, the old does not, and
		// ciphertexts are untouched.
		next2 := newRoot(t)
		if err := db.Tx(ctx, func(q store.Querier) error { _, err := keyring.RotateMaster(ctx, q, root, next2); return err }); err != nil {
			t.Fatal(err)
		}
		if _, err := keyring.Open(ctx, db, root); !errors.Is(err, keyring.ErrWrongRootKey) {
			t.Fatalf("old root after rotate-master: %v", err)
		}
		c, err := keyring.Open(ctx, db, next2)
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := c.Open(ctx, nil, old, []byte("x")); err != nil || string(pt) != "old" {
			t.Fatalf("after rotate-master: %q, %v", pt, err)
		}
		// A wrong old root changes nothing.
		err = db.Tx(ctx, func(q store.Querier) error { _, err := keyring.RotateMaster(ctx, q, root, newRoot(t)); return err })
		if !errors.Is(err, keyring.ErrWrongRootKey) {
			t.Fatalf("rotate-master with a wrong old root: %v", err)
		}
		// A process still on the old root (not restarted yet) cannot add
		// a data key wrapped under it; one on the new root can.
		err = db.Tx(ctx, func(q store.Querier) error { _, _, err := keyring.Rotate(ctx, q, root); return err })
		if !errors.Is(err, keyring.ErrWrongRootKey) {
			t.Fatalf("rotation on the replaced root: %v", err)
		}
		if err := db.Tx(ctx, func(q store.Querier) error { _, _, err := keyring.Rotate(ctx, q, next2); return err }); err != nil {
			t.Fatalf("rotation on the new root: %v", err)
		}
		if _, err := keyring.Open(ctx, db, next2); err != nil {
			t.Fatalf("every key opens under the new root: %v", err)
		}
	})
}

func TestRootKey(t *testing.T) {
	k, text := keyring.NewRootKey()
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "key", k)
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s", k, k, k, k), buf.String()} {
		if bytes.Contains([]byte(s), []byte(text)) || !bytes.Contains([]byte(s), []byte("REDACTED")) {
			t.Fatalf("a root key prints as %q", s)
		}
	}
	for _, bad := range []string{"", "not base64!", "c2hvcnQ="} {
		if _, err := keyring.ParseRootKey(bad); err == nil {
			t.Errorf("ParseRootKey(%q) accepted", bad)
		} else if bad != "" && bytes.Contains([]byte(err.Error()), []byte(bad)) {
			t.Errorf("the error quotes the input: %v", err)
		}
	}
	if _, err := keyring.ParseRootKey(text); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	g, generated, err := keyring.LoadRootKey("", "", dir, log)
	if err != nil || !generated || !bytes.Contains(logs.Bytes(), []byte("GENERATED A NEW ROOT KEY")) {
		t.Fatalf("generate: %v %v %s", generated, err, logs.String())
	}
	path := filepath.Join(dir, keyring.RootKeyFile)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	again, generated, err := keyring.LoadRootKey("", "", dir, log)
	if err != nil || generated {
		t.Fatalf("reload: %v %v", generated, err)
	}
	// Same key: what one seals the other opens (keys are not comparable).
	ctx := context.Background()
	db := enginetest.SQLite(t)
	r1, err := keyring.Open(ctx, db, g)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keyring.Open(ctx, db, again); err != nil {
		t.Fatalf("the reloaded key differs: %v", err)
	}
	_ = r1
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := keyring.ReadRootKeyFile(path); err == nil {
		t.Fatal("a world-readable key file was accepted")
	}
	if _, _, err := keyring.LoadRootKey("bad", "", dir, log); err == nil {
		t.Fatal("a bad KEEP_MASTER_KEY was accepted")
	}
}

// FuzzParse: Parse never panics, accepts only what has the version and
// room for key id, nonce and tag, and its parts put back together are the
// input.
func FuzzParse(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{keyring.Version})
	f.Add(append([]byte{keyring.Version}, make([]byte, keyring.Overhead)...))
	f.Add(append([]byte{0x02}, make([]byte, keyring.Overhead)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := keyring.Parse(b)
		if err != nil {
			if !errors.Is(err, keyring.ErrIntegrity) {
				t.Fatalf("error %v", err)
			}
			return
		}
		if len(b) < keyring.Overhead || b[0] != keyring.Version {
			t.Fatalf("accepted %x", b)
		}
		joined := append(append(append([]byte{b[0]}, h.Key[:]...), h.Nonce...), h.Sealed...)
		if !bytes.Equal(joined, b) || len(h.Nonce) != keyring.NonceLen || len(h.Sealed) < keyring.TagLen {
			t.Fatalf("parts of %x: %+v", b, h)
		}
	})
}
