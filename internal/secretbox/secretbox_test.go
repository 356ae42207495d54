package secretbox

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

func TestRoundTripAndAAD(t *testing.T) {
	b, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("twenty secret bytes!")
	sealed, err := b.Seal(secret, []byte("totp:user-1"))
	if err != nil {
		t.Fatal(err)
	}
	if sealed[0] != version || len(sealed) != 1+nonceLen+len(secret)+tagLen {
		t.Fatalf("sealed layout: %d bytes, version %d", len(sealed), sealed[0])
	}
	if bytes.Contains(sealed, secret) {
		t.Fatal("plaintext visible in sealed value")
	}
	got, err := b.Open(sealed, []byte("totp:user-1"))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	again, _ := b.Seal(secret, []byte("totp:user-1"))
	if bytes.Equal(again, sealed) {
		t.Fatal("two seals are identical: nonce reused")
	}
	if _, err := b.Open(sealed, []byte("totp:user-2")); !errors.Is(err, ErrOpen) {
		t.Fatalf("wrong AAD: %v", err)
	}
	if _, err := b.Open(sealed, nil); !errors.Is(err, ErrOpen) {
		t.Fatalf("missing AAD: %v", err)
	}
}

func TestTamperingFails(t *testing.T) {
	b, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("totp:u")
	sealed, err := b.Seal([]byte("secret"), aad)
	if err != nil {
		t.Fatal(err)
	}
	for i := range sealed {
		for _, bit := range []byte{0x01, 0x80} {
			c := bytes.Clone(sealed)
			c[i] ^= bit
			if _, err := b.Open(c, aad); !errors.Is(err, ErrOpen) {
				t.Fatalf("flipping bit %#x of byte %d: %v", bit, i, err)
			}
		}
	}
	for n := 0; n < len(sealed); n++ {
		if _, err := b.Open(sealed[:n], aad); !errors.Is(err, ErrOpen) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	if _, err := b.Open(append(bytes.Clone(sealed), 0), aad); !errors.Is(err, ErrOpen) {
		t.Fatalf("extended: %v", err)
	}
}

func TestKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	b1, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, KeyFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("key file mode %04o, want 0600", fi.Mode().Perm())
		}
		di, _ := os.Stat(dir)
		if di.Mode().Perm() != 0o700 {
			t.Fatalf("data dir mode %04o, want 0700", di.Mode().Perm())
		}
	}
	if fi.Size() != keyLen {
		t.Fatalf("key file size %d", fi.Size())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}

	// A second open reads the same key.
	sealed, _ := b1.Seal([]byte("x"), []byte("a"))
	b2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b2.Open(sealed, []byte("a")); err != nil {
		t.Fatalf("reopened box cannot open: %v", err)
	}

	// A different key cannot open it.
	b3, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b3.Open(sealed, []byte("a")); !errors.Is(err, ErrOpen) {
		t.Fatalf("other key: %v", err)
	}
}

func TestKeyFileRefused(t *testing.T) {
	if runtime.GOOS != "windows" {
		t.Run("readable by others", func(t *testing.T) {
			dir := t.TempDir()
			if _, err := Open(dir); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(filepath.Join(dir, KeyFile), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(dir); err == nil {
				t.Fatal("world-readable key accepted")
			}
		})
	}
	t.Run("wrong size", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, KeyFile), []byte("short"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir); err == nil {
			t.Fatal("short key accepted")
		}
		if b, _ := os.ReadFile(filepath.Join(dir, KeyFile)); string(b) != "short" {
			t.Fatal("a damaged key file was replaced")
		}
	})
	t.Run("no data dir", func(t *testing.T) {
		if _, err := Open(""); err == nil {
			t.Fatal("empty data dir accepted")
		}
	})
}

// TestConcurrentOpen: processes starting at once agree on one key.
func TestConcurrentOpen(t *testing.T) {
	dir := t.TempDir()
	boxes := make([]*Box, 8)
	var wg sync.WaitGroup
	for i := range boxes {
		wg.Go(func() {
			b, err := Open(dir)
			if err != nil {
				t.Error(err)
			}
			boxes[i] = b
		})
	}
	wg.Wait()
	sealed, err := boxes[0].Seal([]byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range boxes {
		if _, err := b.Open(sealed, nil); err != nil {
			t.Fatalf("box %d has another key: %v", i, err)
		}
	}
}

func TestRedacted(t *testing.T) {
	b, err := New(bytes.Repeat([]byte{7}, keyLen))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(b), fmt.Sprintf("%v", b), b.LogValue().String()} {
		if s != "secretbox.Box(REDACTED)" && s != "REDACTED" {
			t.Fatalf("box prints as %q", s)
		}
	}
	if _, err := New(make([]byte, 16)); err == nil {
		t.Fatal("16-byte key accepted")
	}
}

func TestDerive(t *testing.T) {
	a, _ := New(bytes.Repeat([]byte{1}, 32))
	b, _ := New(bytes.Repeat([]byte{2}, 32))
	x1, err := a.Derive("x")
	if err != nil || len(x1) != 32 {
		t.Fatalf("Derive: %d bytes, %v", len(x1), err)
	}
	x2, _ := a.Derive("x")
	y, _ := a.Derive("y")
	bx, _ := b.Derive("x")
	if !bytes.Equal(x1, x2) || bytes.Equal(x1, y) || bytes.Equal(x1, bx) || bytes.Equal(x1, bytes.Repeat([]byte{1}, 32)) {
		t.Fatal("Derive must be deterministic per key and purpose, and independent across them")
	}
}
