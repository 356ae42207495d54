package mail

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// fileSink writes each message to <dir>/<message id>.eml. It is the
// development default: the flows can be followed end to end without a mail
// server. The directory is private to the user Keep runs as (0700) and each
// file is 0600, because messages hold live tokens.
type fileSink struct {
	dir string
}

func newFileSink(dir string) (*fileSink, error) {
	if dir == "" {
		return nil, errors.New("mail: the file sink needs a directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mail: create outbox directory: %w", err)
	}
	// MkdirAll leaves an existing directory's mode alone, and the umask may
	// have widened nothing but could have been set oddly: make it private.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mail: outbox directory: %w", err)
	}
	return &fileSink{dir: dir}, nil
}

// deliver writes the message atomically (temporary file, then rename), so a
// reader never sees half a message and a second delivery of the same
// message replaces the first instead of adding a copy.
func (f *fileSink) deliver(_ context.Context, _ string, m message, raw []byte) error {
	if !validID(m.ID) {
		return fmt.Errorf("mail: bad message id")
	}
	tmp, err := os.CreateTemp(f.dir, ".tmp-*") // created 0600
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(raw); err != nil {
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(f.dir, m.ID+".eml")); err != nil {
		return err
	}
	ok = true
	return nil
}
