package keyring

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// Format constants of a ciphertext (see the package documentation).
const (
	Version   = 0x01
	KeyIDLen  = 8
	NonceLen  = 12
	TagLen    = 16
	headerLen = 1 + KeyIDLen
	// Overhead is how many bytes a ciphertext adds to its plaintext.
	Overhead = headerLen + NonceLen + TagLen
)

// ErrIntegrity means a ciphertext is malformed, names a key the keyring
// does not hold, was sealed for another place (additional data) or was
// changed. Callers wrap it; the message never holds the value.
var ErrIntegrity = errors.New("keyring: integrity check failed")

// KeyID names a key. It is not secret: it is written into every ciphertext.
type KeyID [KeyIDLen]byte

// String is the 16 hex digits the database stores.
func (k KeyID) String() string { return hex.EncodeToString(k[:]) }

// ParseKeyID reads the form String writes.
func ParseKeyID(s string) (KeyID, error) {
	var k KeyID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != KeyIDLen {
		return k, fmt.Errorf("keyring: bad key id %q", s)
	}
	copy(k[:], b)
	return k, nil
}

// Header is a parsed ciphertext. Its slices alias the input.
type Header struct {
	Key    KeyID
	Nonce  []byte
	Sealed []byte // ciphertext and tag
	header []byte // version and key id: part of the additional data
}

// Parse splits a ciphertext into its parts without opening it. Anything but
// a well-formed version-1 ciphertext is ErrIntegrity.
func Parse(ct []byte) (Header, error) {
	if len(ct) < Overhead || ct[0] != Version {
		return Header{}, ErrIntegrity
	}
	var h Header
	copy(h.Key[:], ct[1:headerLen])
	h.header = ct[:headerLen]
	h.Nonce = ct[headerLen : headerLen+NonceLen]
	h.Sealed = ct[headerLen+NonceLen:]
	return h, nil
}

// KeyOf returns the id of the key that sealed ct.
func KeyOf(ct []byte) (KeyID, error) {
	h, err := Parse(ct)
	return h.Key, err
}

// aad is the additional data of a ciphertext: its header, then the context.
func aad(header, context []byte) []byte {
	out := make([]byte, 0, len(header)+len(context))
	return append(append(out, header...), context...)
}
