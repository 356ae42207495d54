// Package keyring encrypts record fields: a root key wraps data keys
// (AES-256-GCM) and a blind-index key (HMAC-SHA-256), which are stored in the
// database; rotation adds a data key that seals from then on while older
// ones keep opening.
//
// SECURITY-CRITICAL: changes need extra care in review. Never log a key or
// a plaintext, never decrypt by trying keys, and compare secrets only with
// crypto/subtle or hmac.Equal.
//
// A ciphertext is
//
//	version (1 byte, 0x01) || key id (8 bytes) || nonce (12 bytes) || sealed bytes and tag
//
// and the AEAD's additional data is the version and key id followed by the
// caller's context (for fields: collection id, field id and record id), so a
// value copied to another row, field or collection fails to open with
// ErrIntegrity. The key id selects the one key that may open the value.
//
// The root key comes from KEEP_MASTER_KEY or --master-key-file (base64 of 32
// bytes). With neither, one is generated into the data directory with a loud
// warning: that suits development only, since the key then sits next to the
// data it protects. See docs/encryption.md.
package keyring
