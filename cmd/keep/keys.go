package main

import (
	"context"
	"errors"
	"io"
)

// keysRotate makes a new field-encryption data key current and starts the
// re-encryption of older ciphertexts.
func keysRotate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	return errors.New("keys rotate: not implemented yet")
}

// keysRotateMaster re-wraps every data key under a new root key.
func keysRotateMaster(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	return errors.New("keys rotate-master: not implemented yet")
}
