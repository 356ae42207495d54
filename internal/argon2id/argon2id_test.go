package argon2id

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/crypto/argon2"
)

// TestRFCVector is RFC 9106's Argon2id test vector (section 5.3): four
// lanes, a secret and associated data, which x/crypto's API cannot reach.
func TestRFCVector(t *testing.T) { implementations(t, testRFCVector) }

func testRFCVector(t *testing.T) {
	password := bytes.Repeat([]byte{0x01}, 32)
	salt := bytes.Repeat([]byte{0x02}, 16)
	secret := bytes.Repeat([]byte{0x03}, 8)
	data := bytes.Repeat([]byte{0x04}, 12)
	var m Memory
	got := m.key(password, salt, secret, data, 3, 32, 4, 32)
	want := "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
	if hex.EncodeToString(got) != want {
		t.Errorf("tag %x, want %s", got, want)
	}
}

// haveAVX2 is whether this machine runs the assembly compression function.
var haveAVX2 = useAVX2

// implementations runs f with the portable compression function and, where
// the machine has it, the assembly one.
func implementations(t *testing.T, f func(t *testing.T)) {
	t.Cleanup(func() { useAVX2 = haveAVX2 })
	for _, avx2 := range []bool{false, true} {
		if avx2 && !haveAVX2 {
			t.Log("no AVX2 here: only the portable compression function is tested")
			continue
		}
		useAVX2 = avx2
		t.Run(map[bool]string{false: "portable", true: "avx2"}[avx2], f)
	}
}

// TestSameAsXCrypto compares Key with golang.org/x/crypto/argon2.IDKey
// over parameters that reach every branch: one and several lanes, memory
// that is and is not a multiple of the segment size or below the minimum,
// one and several passes, segments longer than one address block, short
// and long keys (H' with and without chaining), and a Memory reused at
// smaller and larger sizes.
func TestSameAsXCrypto(t *testing.T) { implementations(t, testSameAsXCrypto) }

func testSameAsXCrypto(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var reused Memory
	cases := []struct {
		passes, memory uint32
		threads        uint8
		keyLen         uint32
	}{
		{1, 8, 1, 32}, {1, 1, 1, 32}, {2, 64, 1, 32}, {3, 33, 2, 16}, {1, 1024, 1, 64},
		{2, 1031, 3, 65}, {4, 256, 4, 97}, {1, 600, 1, 1024}, {5, 40, 5, 4}, {2, 2048, 1, 32},
		{2, 19456, 1, 32},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("t=%d,m=%d,p=%d,len=%d", c.passes, c.memory, c.threads, c.keyLen), func(t *testing.T) {
			password := make([]byte, r.IntN(40))
			salt := make([]byte, 8+r.IntN(24))
			for _, b := range [][]byte{password, salt} {
				for i := range b {
					b[i] = byte(r.Uint32())
				}
			}
			want := argon2.IDKey(password, salt, c.passes, c.memory, c.threads, c.keyLen)
			if got := Key(password, salt, c.passes, c.memory, c.threads, c.keyLen); !bytes.Equal(got, want) {
				t.Errorf("Key = %x, want %x", got, want)
			}
			if got := reused.Key(password, salt, c.passes, c.memory, c.threads, c.keyLen); !bytes.Equal(got, want) {
				t.Errorf("reused Memory: Key = %x, want %x", got, want)
			}
		})
	}
}

// FuzzSameAsXCrypto: any password, salt and small parameters give
// x/crypto's key.
func FuzzSameAsXCrypto(f *testing.F) {
	f.Add([]byte("password"), []byte("somesalt"), uint8(2), uint16(64), uint8(1), uint8(32))
	f.Add([]byte(""), []byte("12345678"), uint8(1), uint16(8), uint8(3), uint8(100))
	var m Memory
	f.Fuzz(func(t *testing.T, password, salt []byte, passes uint8, memory uint16, threads uint8, keyLen uint8) {
		p, mem, th, kl := uint32(passes%4+1), uint32(memory%512), threads%4+1, uint32(keyLen)+4
		want := argon2.IDKey(password, salt, p, mem, th, kl)
		for _, avx2 := range []bool{false, haveAVX2} {
			useAVX2 = avx2
			if got := m.Key(password, salt, p, mem, th, kl); !bytes.Equal(got, want) {
				t.Fatalf("Key (AVX2 %v) = %x, want %x", avx2, got, want)
			}
		}
		useAVX2 = haveAVX2
	})
}

// TestMemoryKept: a Memory keeps its blocks for the next hash and grows
// only when a hash needs more; a Pool hands kept ones out again until
// Release.
func TestMemoryKept(t *testing.T) {
	var m Memory
	m.Key([]byte("pw"), []byte("saltsalt"), 1, 64, 1, 32)
	first := &m.blocks[0]
	m.Key([]byte("pw"), []byte("saltsalt"), 1, 32, 1, 32)
	if m.Blocks() != 64 || &m.blocks[0] != first {
		t.Errorf("a smaller hash replaced the blocks (now %d)", m.Blocks())
	}
	m.Key([]byte("pw"), []byte("saltsalt"), 1, 128, 1, 32)
	if m.Blocks() != 128 {
		t.Errorf("Blocks = %d after a 128 KiB hash", m.Blocks())
	}

}

// TestPoolKeeps: a Pool reuses a Memory across hashes, keeps one per hash
// that ran at once, and lets them go after Idle without a hash, but not
// while one runs.
func TestPoolKeeps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &Pool{Idle: time.Minute}
		want := Key([]byte("pw"), []byte("saltsalt"), 1, 64, 1, 32)
		if got := p.Key([]byte("pw"), []byte("saltsalt"), 1, 64, 1, 32); !bytes.Equal(got, want) {
			t.Fatalf("Pool.Key = %x, want %x", got, want)
		}
		if p.Kept() != 64 {
			t.Fatalf("kept %d blocks after one hash, want 64", p.Kept())
		}
		a, b := p.get(), p.get()
		if a.Blocks() != 64 || b.Blocks() != 0 {
			t.Fatalf("get reused %d and %d blocks, want 64 and 0", a.Blocks(), b.Blocks())
		}
		b.Key([]byte("pw"), []byte("saltsalt"), 1, 64, 1, 32)
		p.put(a)
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if p.Kept() != 64 {
			t.Errorf("released while a hash ran: kept %d", p.Kept())
		}
		p.put(b)
		if p.Kept() != 128 {
			t.Errorf("kept %d blocks after two hashes at once, want 128", p.Kept())
		}
		time.Sleep(time.Minute - time.Second)
		synctest.Wait()
		if p.Kept() != 128 {
			t.Errorf("released before Idle: kept %d", p.Kept())
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if p.Kept() != 0 {
			t.Errorf("kept %d blocks after Idle", p.Kept())
		}
		p.Key([]byte("pw"), []byte("saltsalt"), 1, 64, 1, 32)
		p.Release()
		if p.Kept() != 0 {
			t.Errorf("kept %d blocks after Release", p.Kept())
		}
	})
}

func TestPanicsOnInvalid(t *testing.T) {
	for _, c := range []struct {
		passes  uint32
		threads uint8
		keyLen  uint32
	}{{0, 1, 32}, {1, 0, 32}, {1, 1, 3}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("t=%d p=%d len=%d: no panic", c.passes, c.threads, c.keyLen)
				}
			}()
			Key([]byte("pw"), []byte("saltsalt"), c.passes, 8, c.threads, c.keyLen)
		}()
	}
}

// BenchmarkKey at Keep's parameters: with a Pool's kept memory (what the
// server does), with memory allocated per hash, and x/crypto's for scale.
func BenchmarkKey(b *testing.B) {
	password, salt := []byte("correct horse battery"), []byte("0123456789abcdef")
	b.Run("pool", func(b *testing.B) {
		var p Pool
		defer p.Release()
		for b.Loop() {
			p.Key(password, salt, 2, 19456, 1, 32)
		}
	})
	b.Run("fresh", func(b *testing.B) {
		for b.Loop() {
			Key(password, salt, 2, 19456, 1, 32)
		}
	})
	b.Run("x-crypto", func(b *testing.B) {
		for b.Loop() {
			argon2.IDKey(password, salt, 2, 19456, 1, 32)
		}
	})
}
