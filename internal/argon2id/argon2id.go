package argon2id

import (
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"golang.org/x/crypto/blake2b"
)

// Version is Argon2 version 1.3, the one RFC 9106 specifies and the only
// one this package computes (a PHC string's v=19).
const Version = 0x13

// typeID is Argon2id's y in the RFC's H0.
const typeID = 2

const (
	blockWords    = 128 // 64-bit words in a 1 KiB block
	syncPoints    = 4   // slices per pass
	addressesEach = blockWords
)

type block [blockWords]uint64

// ErrParams is returned for parameters RFC 9106 does not allow.
var ErrParams = errors.New("argon2id: invalid parameters")

// Memory holds the blocks of one hash at a time, and keeps them for the
// next: create one per concurrent hash and reuse it. It grows to the
// largest memory parameter it has been used with.
//
// A Memory is not safe for concurrent use. The zero value is an empty
// Memory, ready to use.
type Memory struct {
	blocks []block
	// A Pool's Memory keeps its blocks outside the Go heap (mapBlocks), so
	// that kept memory neither counts toward the collector's goal nor gets
	// scanned, and Pool.Release unmaps them; unmap is nil for heap blocks.
	mapped bool
	unmap  func()
}

// free lets m's blocks go: unmapped at once, or left to the collector.
func (m *Memory) free() {
	if m.unmap != nil {
		m.unmap()
	}
	m.blocks, m.unmap = nil, nil
}

// Blocks reports how many 1 KiB blocks m holds now.
func (m *Memory) Blocks() int { return len(m.blocks) }

// Key derives a keyLen-byte Argon2id key from password and salt with
// passes iterations over memory KiB in threads lanes, using m's blocks.
// The result equals golang.org/x/crypto/argon2.IDKey's for the same
// arguments. Lanes are computed one after another in this goroutine, so
// parallelism above 1 changes the result, not the speed.
//
// It panics on parameters outside RFC 9106 (passes or threads of 0, or a
// keyLen below 4), like x/crypto's IDKey; callers validate first.
func (m *Memory) Key(password, salt []byte, passes, memory uint32, threads uint8, keyLen uint32) []byte {
	return m.key(password, salt, nil, nil, passes, memory, threads, keyLen)
}

// Key is [Memory.Key] with memory of its own, allocated for this hash and
// dropped after it.
func Key(password, salt []byte, passes, memory uint32, threads uint8, keyLen uint32) []byte {
	var m Memory
	return m.Key(password, salt, passes, memory, threads, keyLen)
}

func (m *Memory) key(password, salt, secret, data []byte, passes, memory uint32, threads uint8, keyLen uint32) []byte {
	if passes < 1 || threads < 1 || keyLen < 4 {
		panic(ErrParams)
	}
	lanes := uint32(threads)
	// H0 takes the memory asked for; the blocks are that rounded down to
	// whole segments in every lane, and at least 2 blocks per segment.
	h0 := initHash(password, salt, secret, data, passes, memory, lanes, keyLen)
	blocks := max(memory/(syncPoints*lanes)*(syncPoints*lanes), 2*syncPoints*lanes)
	if uint32(len(m.blocks)) < blocks {
		m.free() // the old blocks go before the new ones come
		if m.mapped {
			m.blocks, m.unmap = mapBlocks(int(blocks))
		} else {
			m.blocks = make([]block, blocks)
		}
	}
	b := m.blocks[:blocks]
	firstBlocks(&h0, b, lanes)
	fill(b, blocks, passes, lanes)
	return finalize(b, blocks, lanes, keyLen)
}

// initHash is the RFC's H0.
func initHash(password, salt, secret, data []byte, passes, memory, lanes, keyLen uint32) [blake2b.Size + 8]byte {
	h, _ := blake2b.New512(nil)
	var w [4]byte
	put := func(v uint32) {
		binary.LittleEndian.PutUint32(w[:], v)
		h.Write(w[:])
	}
	put(lanes)
	put(keyLen)
	put(memory)
	put(passes)
	put(Version)
	put(typeID)
	for _, s := range [][]byte{password, salt, secret, data} {
		put(uint32(len(s)))
		h.Write(s)
	}
	// Eight more bytes for the block index and lane firstBlocks appends.
	var h0 [blake2b.Size + 8]byte
	h.Sum(h0[:0])
	return h0
}

// firstBlocks computes the first two blocks of every lane from H0.
func firstBlocks(h0 *[blake2b.Size + 8]byte, b []block, lanes uint32) {
	var buf [1024]byte
	laneLen := uint32(len(b)) / lanes
	for lane := range lanes {
		for j := range uint32(2) {
			binary.LittleEndian.PutUint32(h0[blake2b.Size:], j)
			binary.LittleEndian.PutUint32(h0[blake2b.Size+4:], lane)
			hashPrime(buf[:], h0[:])
			blk := &b[lane*laneLen+j]
			for k := range blk {
				blk[k] = binary.LittleEndian.Uint64(buf[k*8:])
			}
		}
	}
}

// fill computes every block after the first two of each lane, pass by
// pass and slice by slice; within a slice the lanes depend only on earlier
// slices, so computing them in turn gives the RFC's result.
func fill(b []block, memory, passes, lanes uint32) {
	laneLen := memory / lanes
	segLen := laneLen / syncPoints
	var addresses, input, zero block
	for pass := range passes {
		for slice := range uint32(syncPoints) {
			for lane := range lanes {
				// Argon2id addresses data-independently in the first half of
				// the first pass (Argon2i's way), from the data after that.
				independent := pass == 0 && slice < syncPoints/2
				start := uint32(0)
				if independent {
					input = block{0: uint64(pass), 1: uint64(lane), 2: uint64(slice), 3: uint64(memory), 4: uint64(passes), 5: typeID}
				}
				if pass == 0 && slice == 0 {
					// The first two blocks come from H0; the loop makes
					// addresses only at multiples of 128, so the first are
					// made here.
					start = 2
					nextAddresses(&addresses, &input, &zero)
				}
				offset := lane*laneLen + slice*segLen + start
				for index := start; index < segLen; index, offset = index+1, offset+1 {
					prev := offset - 1
					if offset%laneLen == 0 {
						prev = offset + laneLen - 1 // the lane's last block
					}
					var rand uint64
					if independent {
						if index%addressesEach == 0 {
							nextAddresses(&addresses, &input, &zero)
						}
						rand = addresses[index%addressesEach]
					} else {
						rand = b[prev][0]
					}
					ref := refIndex(rand, pass, slice, lane, index, lanes, laneLen, segLen)
					compress(&b[offset], &b[prev], &b[ref], pass > 0)
				}
			}
		}
	}
}

// nextAddresses increments the counter in input and sets addresses to
// G(0, G(0, input)), the next 128 pseudo-random values of Argon2i mode.
func nextAddresses(addresses, input, zero *block) {
	input[6]++
	compress(addresses, zero, input, false)
	tmp := *addresses
	compress(addresses, zero, &tmp, false)
}

// refIndex maps a pseudo-random value to the absolute index of the block
// that the block at (pass, slice, lane, index) refers to (RFC 9106 3.4).
func refIndex(rand uint64, pass, slice, lane, index, lanes, laneLen, segLen uint32) uint32 {
	refLane := uint32(rand>>32) % lanes
	if pass == 0 && slice == 0 {
		refLane = lane // no other lane has a finished segment yet
	}
	// The reference area: every block of the lane that is finished and is
	// not the previous block; in another lane, the finished segments only.
	var area, startPos uint32
	sameLane := refLane == lane
	if pass == 0 {
		area = slice * segLen
	} else {
		area = laneLen - segLen
		startPos = (slice + 1) % syncPoints * segLen
	}
	if sameLane {
		area += index - 1
	} else if index == 0 {
		area--
	}
	j1 := rand & 0xffffffff
	x := (j1 * j1) >> 32
	y := (uint64(area) * x) >> 32
	rel := area - 1 - uint32(y)
	return refLane*laneLen + (startPos+rel)%laneLen
}

// finalize XORs the lanes' last blocks and hashes the result to keyLen
// bytes.
func finalize(b []block, memory, lanes, keyLen uint32) []byte {
	laneLen := memory / lanes
	last := b[laneLen-1]
	for lane := uint32(1); lane < lanes; lane++ {
		l := &b[lane*laneLen+laneLen-1]
		for k := range last {
			last[k] ^= l[k]
		}
	}
	var buf [1024]byte
	for k, v := range last {
		binary.LittleEndian.PutUint64(buf[k*8:], v)
	}
	key := make([]byte, keyLen)
	hashPrime(key, buf[:])
	return key
}

// hashPrime is the RFC's variable-length hash H': it fills out with a hash
// of in.
func hashPrime(out, in []byte) {
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(out)))
	if len(out) <= blake2b.Size {
		h, _ := blake2b.New(len(out), nil)
		h.Write(n[:])
		h.Write(in)
		h.Sum(out[:0])
		return
	}
	// Chain 64-byte hashes, keeping the first half of each, until at most
	// 64 bytes remain; those come from one hash of that size.
	var v [blake2b.Size]byte
	h, _ := blake2b.New512(nil)
	h.Write(n[:])
	h.Write(in)
	h.Sum(v[:0])
	for len(out) > blake2b.Size {
		copy(out, v[:32])
		out = out[32:]
		if len(out) > blake2b.Size {
			v = blake2b.Sum512(v[:])
		}
	}
	h, _ = blake2b.New(len(out), nil)
	h.Write(v[:])
	h.Sum(out[:0])
}

// Pool keeps a Memory per concurrent hash between hashes, so that a burst
// of logins allocates its blocks once. On Linux they are mapped outside
// the Go heap. After Idle without a hash it lets them go, so a quiet server
// does not hold them; Idle <= 0 keeps them until [Pool.Release]. A Pool
// dropped with Idle <= 0 and without Release keeps its maps.
//
// A Pool is safe for concurrent use. How many hashes run at once is the
// caller's to bound; the Pool keeps as many Memory as ran together. The
// zero value keeps its Memory until Release; set Idle before first use.
type Pool struct {
	Idle time.Duration

	mu    sync.Mutex
	free  []*Memory
	out   int
	timer *time.Timer
}

// Key computes [Memory.Key] with a Memory from the pool.
func (p *Pool) Key(password, salt []byte, passes, memory uint32, threads uint8, keyLen uint32) []byte {
	m := p.get()
	defer p.put(m)
	return m.Key(password, salt, passes, memory, threads, keyLen)
}

func (p *Pool) get() *Memory {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out++
	if p.timer != nil {
		p.timer.Stop()
	}
	if n := len(p.free); n > 0 {
		m := p.free[n-1]
		p.free = p.free[:n-1]
		return m
	}
	return &Memory{mapped: true}
}

func (p *Pool) put(m *Memory) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.free = append(p.free, m)
	if p.out--; p.out > 0 || p.Idle <= 0 {
		return
	}
	if p.timer == nil {
		p.timer = time.AfterFunc(p.Idle, p.releaseIfIdle)
	} else {
		p.timer.Reset(p.Idle)
	}
}

// releaseIfIdle releases unless a hash started since the timer fired.
func (p *Pool) releaseIfIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out == 0 {
		p.releaseLocked()
	}
}

// Release drops the Memory the pool keeps; ones in use are kept again
// when their hash ends.
func (p *Pool) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.releaseLocked()
}

func (p *Pool) releaseLocked() {
	for _, m := range p.free {
		m.free()
	}
	clear(p.free)
	p.free = p.free[:0]
}

// Kept reports how many blocks the pool keeps now, for tests and metrics.
func (p *Pool) Kept() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, m := range p.free {
		n += m.Blocks()
	}
	return n
}
