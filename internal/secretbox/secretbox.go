// Package secretbox seals small secrets at rest with AES-256-GCM under a key
// kept in the data directory, until the keyring (issue 5) replaces it.
//
// STUB — owned by the MFA work (issue 3). Replace wholesale.
package secretbox

import "errors"

// Box seals and opens secrets. It is safe for concurrent use.
type Box struct{}

// Open loads the key from dataDir, creating it on first use.
func Open(dataDir string) (*Box, error) { return &Box{}, nil }

// Seal encrypts plaintext bound to aad.
func (b *Box) Seal(plaintext, aad []byte) ([]byte, error) { return nil, errors.New("not implemented") }

// Open decrypts what Seal produced for the same aad.
func (b *Box) Open(sealed, aad []byte) ([]byte, error) { return nil, errors.New("not implemented") }
