package keyring

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// RootKeyFile is the file a development root key is generated into, inside
// the data directory.
const RootKeyFile = "master.key"

const keyLen = 32

// RootKey wraps the keys stored in the database. It never prints: String
// and LogValue give REDACTED. The zero value is not a key.
type RootKey struct{ b *[keyLen]byte }

func (RootKey) String() string               { return "REDACTED" }
func (RootKey) LogValue() slog.Value         { return slog.StringValue("REDACTED") }
func (k RootKey) valid() bool                { return k.b != nil }
func (k RootKey) bytes() []byte              { return k.b[:] }
func (RootKey) GoString() string             { return "keyring.RootKey{REDACTED}" }
func (RootKey) MarshalText() ([]byte, error) { return []byte("REDACTED"), nil }

// ParseRootKey reads base64 (standard or URL alphabet, padded or not) of 32
// bytes. The error never quotes the input.
func ParseRootKey(s string) (RootKey, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != keyLen {
				clear(b)
				return RootKey{}, fmt.Errorf("keyring: the root key must be %d bytes (base64), not %d", keyLen, len(b))
			}
			k := new([keyLen]byte)
			copy(k[:], b)
			clear(b)
			return RootKey{b: k}, nil
		}
	}
	return RootKey{}, errors.New("keyring: the root key is not base64")
}

// NewRootKey makes a random root key and returns it with its base64 form,
// for writing to a file.
func NewRootKey() (RootKey, string) {
	k := new([keyLen]byte)
	_, _ = rand.Read(k[:]) // never fails (crypto/rand)
	return RootKey{b: k}, base64.StdEncoding.EncodeToString(k[:])
}

// ReadRootKeyFile reads a key file, refusing one that group or others may
// read (on systems with Unix permissions).
func ReadRootKeyFile(path string) (RootKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return RootKey{}, fmt.Errorf("keyring: root key file: %w", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return RootKey{}, fmt.Errorf("keyring: root key file %s is readable by group or others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return RootKey{}, fmt.Errorf("keyring: root key file: %w", err)
	}
	defer clear(b)
	k, err := ParseRootKey(string(b))
	if err != nil {
		return RootKey{}, fmt.Errorf("%w (in %s)", err, path)
	}
	return k, nil
}

// LoadRootKey finds the root key: env (KEEP_MASTER_KEY) if set, else file
// (--master-key-file) if set, else <dataDir>/master.key, generated on first
// use with a loud warning. generated reports that last case.
func LoadRootKey(env, file, dataDir string, log *slog.Logger) (k RootKey, generated bool, err error) {
	switch {
	case env != "":
		k, err = ParseRootKey(env)
		if err != nil {
			err = fmt.Errorf("KEEP_MASTER_KEY: %w", err)
		}
		return k, false, err
	case file != "":
		k, err = ReadRootKeyFile(file)
		return k, false, err
	case dataDir == "":
		return RootKey{}, false, errors.New("keyring: no root key: set KEEP_MASTER_KEY or --master-key-file")
	}
	path := filepath.Join(dataDir, RootKeyFile)
	k, err = ReadRootKeyFile(path)
	if err == nil {
		if log != nil {
			log.Warn("DEVELOPMENT ONLY: the keyring's root key is read from the data directory, next to the data it protects; set KEEP_MASTER_KEY or --master-key-file in production", "file", path)
		}
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return RootKey{}, false, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return RootKey{}, false, fmt.Errorf("keyring: %w", err)
	}
	k, text := NewRootKey()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // another process made it meanwhile
		k, err = ReadRootKeyFile(path)
		return k, false, err
	}
	if err != nil {
		return RootKey{}, false, fmt.Errorf("keyring: %w", err)
	}
	_, werr := f.WriteString(text + "\n")
	serr := f.Sync()
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = serr
	}
	if werr != nil {
		return RootKey{}, false, fmt.Errorf("keyring: writing %s: %w", path, werr)
	}
	if log != nil {
		log.Warn("GENERATED A NEW ROOT KEY FOR THE KEYRING in the data directory. This is for development only: the key sits next to the data it protects, and losing it loses every encrypted field. In production set KEEP_MASTER_KEY or --master-key-file, and back the key up apart from the data.", "file", path)
	}
	return k, true, nil
}
