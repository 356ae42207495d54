// Package secretbox seals small secrets at rest (TOTP seeds) with AES-256-GCM
// under a key kept in the data directory, until the keyring of issue 5
// replaces it.
//
// SECURITY-CRITICAL: changes need extra care in review.
//
// A sealed value is
//
//	version (1 byte, 0x01) || nonce (12 random bytes) || ciphertext and tag
//
// and the version byte is authenticated with the caller's additional data,
// which should bind the value to where it is stored (for example
// "totp:<user id>"), so a value copied to another row fails to open. The key
// file `<data dir>/secret.key` holds 32 random bytes, mode 0600; it is created
// on first use and never rewritten. Losing it makes every sealed value
// unreadable (users re-enrol TOTP), so back it up with the data directory —
// and keep that backup as secret as the key.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
)

// KeyFile is the key's file name inside the data directory.
const KeyFile = "secret.key"

const (
	version  = 0x01
	keyLen   = 32
	nonceLen = 12
	tagLen   = 16
)

// ErrOpen means a sealed value is malformed, was sealed under another key or
// additional data, or was changed. The message never holds the value.
var ErrOpen = errors.New("secretbox: cannot open sealed value")

// Box seals and opens secrets. It is safe for concurrent use. The zero value
// is not usable; create one with [Open] or [New].
type Box struct {
	aead cipher.AEAD
	prk  []byte // HKDF pseudorandom key for Derive, never the key itself
}

// Open loads the key from dataDir/secret.key, creating the directory (mode
// 0700) and the key (mode 0600) on first use. It refuses a key file of the
// wrong size, or one that group or others may read.
func Open(dataDir string) (*Box, error) {
	if dataDir == "" {
		return nil, errors.New("secretbox: no data directory")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	path := filepath.Join(dataDir, KeyFile)
	key, err := readKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createKey(dataDir, path)
	}
	if err != nil {
		return nil, err
	}
	return New(key)
}

// New returns a Box sealing under key, which must be 32 bytes. Tests and the
// future keyring use it; servers use [Open].
func New(key []byte) (*Box, error) {
	if len(key) != keyLen {
		return nil, fmt.Errorf("secretbox: key must be %d bytes", keyLen)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	prk, err := hkdf.Extract(sha256.New, key, []byte("keep.secretbox.derive.v1"))
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	return &Box{aead: aead, prk: prk}, nil
}

func readKey(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err // fs.ErrNotExist is handled by the caller
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secretbox: %s is accessible to other users (mode %04o); run chmod 600 on it", path, fi.Mode().Perm())
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	if len(key) != keyLen {
		// Never replace a damaged key: that would silently orphan every
		// value sealed under the old one.
		return nil, fmt.Errorf("secretbox: %s holds %d bytes, want %d", path, len(key), keyLen)
	}
	return key, nil
}

// createKey writes a new key to a temporary file and links it into place, so
// a crash never leaves a short key file and two processes starting at once
// agree on one key (the loser of the link reads the winner's).
func createKey(dir, path string) ([]byte, error) {
	key := make([]byte, keyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("secretbox: reading random key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".secret.key-*")
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	if _, err := tmp.Write(key); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return readKey(path)
	} else if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the new directory entry durable where supported
		d.Close()
	}
	return key, nil
}

// Seal encrypts plaintext bound to aad with a fresh random nonce.
func (b *Box) Seal(plaintext, aad []byte) ([]byte, error) {
	if b == nil || b.aead == nil {
		return nil, errors.New("secretbox: box is not open")
	}
	out := make([]byte, 1+nonceLen, 1+nonceLen+len(plaintext)+tagLen)
	out[0] = version
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("secretbox: reading nonce: %w", err)
	}
	return b.aead.Seal(out, out[1:1+nonceLen], plaintext, withVersion(aad)), nil
}

// Open decrypts what Seal produced for the same aad. Any mismatch answers
// ErrOpen.
func (b *Box) Open(sealed, aad []byte) ([]byte, error) {
	if b == nil || b.aead == nil {
		return nil, errors.New("secretbox: box is not open")
	}
	if len(sealed) < 1+nonceLen+tagLen || sealed[0] != version {
		return nil, ErrOpen
	}
	pt, err := b.aead.Open(nil, sealed[1:1+nonceLen], sealed[1+nonceLen:], withVersion(aad))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// withVersion authenticates the version byte along with the caller's data,
// so a future format cannot be confused with this one.
func withVersion(aad []byte) []byte {
	out := make([]byte, 0, 1+len(aad))
	return append(append(out, version), aad...)
}

// Derive returns a 32-byte key for purpose, derived from the box's key with
// HKDF-SHA-256: the same key and purpose always give the same bytes, so a
// derived key needs no storage and cannot be deleted or swapped in the
// database. Different purposes give independent keys.
func (b *Box) Derive(purpose string) ([]byte, error) {
	if b == nil || b.prk == nil {
		return nil, errors.New("secretbox: box is not open")
	}
	return hkdf.Expand(sha256.New, b.prk, "keep.secretbox.derive:"+purpose, keyLen)
}

// String never shows key material.
func (b *Box) String() string { return "secretbox.Box(REDACTED)" }

// LogValue never shows key material.
func (b *Box) LogValue() slog.Value { return slog.StringValue("REDACTED") }
