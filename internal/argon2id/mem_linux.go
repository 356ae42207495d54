package argon2id

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

const hugePage = 2 << 20

// mapBlocks maps n blocks outside the Go heap, aligned to a huge page and
// advised to use huge pages (the kernel decides): Argon2 reads its memory
// at random, so 2 MiB pages save TLB misses, and a 19 MiB hash faults in
// ten pages instead of five thousand. Where the map fails, the blocks come
// from the Go heap and unmap is nil.
func mapBlocks(n int) (blocks []block, unmap func()) {
	size := n * int(unsafe.Sizeof(block{}))
	mem, err := unix.Mmap(-1, 0, size+hugePage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return make([]block, n), nil
	}
	skip := (hugePage - int(uintptr(unsafe.Pointer(&mem[0]))%hugePage)) % hugePage
	aligned := mem[skip : skip+size]
	_ = unix.Madvise(aligned, unix.MADV_HUGEPAGE) // advice only
	return unsafe.Slice((*block)(unsafe.Pointer(&aligned[0])), n), func() { _ = unix.Munmap(mem) }
}
