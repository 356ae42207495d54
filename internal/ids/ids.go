package ids

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

var (
	mu       sync.Mutex
	lastMs   int64
	lastSeq  uint16
	randPool [10]byte
)

// New returns a new UUIDv7 (RFC 9562) in its canonical 36-character form.
// IDs made by one process are strictly increasing: within one millisecond a
// 12-bit counter in rand_a orders them (method 1 of RFC 9562 §6.2). It is
// safe for concurrent use.
func New() string {
	var u [16]byte
	now := time.Now().UnixMilli()

	mu.Lock()
	if now <= lastMs {
		lastSeq++
		if lastSeq > 0x0fff { // counter exhausted: borrow the next millisecond
			lastMs++
			lastSeq = 0
		}
		now = lastMs
	} else {
		lastMs = now
		lastSeq = 0
	}
	seq := lastSeq
	_, _ = rand.Read(randPool[:]) // crypto/rand.Read never fails on supported platforms
	copy(u[8:], randPool[2:])
	mu.Unlock()

	u[0] = byte(now >> 40)
	u[1] = byte(now >> 32)
	u[2] = byte(now >> 24)
	u[3] = byte(now >> 16)
	u[4] = byte(now >> 8)
	u[5] = byte(now)
	u[6] = 0x70 | byte(seq>>8)
	u[7] = byte(seq)
	u[8] = (u[8] & 0x3f) | 0x80

	var out [36]byte
	hex.Encode(out[0:8], u[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], u[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], u[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], u[8:10])
	out[23] = '-'
	hex.Encode(out[24:], u[10:])
	return string(out[:])
}

// Valid reports whether s looks like an id made by New (or any lower-case
// canonical UUID). Handlers use it to turn garbage ids into 404s cheaply.
func Valid(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}
