//go:build amd64 && !purego

package argon2id

import "golang.org/x/sys/cpu"

// useAVX2 picks the assembly compression function; tests turn it off to
// check the portable one on the same machine.
var useAVX2 = cpu.X86.HasAVX2

// compressAVX2 is compressGeneric with four 64-bit lanes at a time.
//
//go:noescape
func compressAVX2(dst, x, y *block, xor bool)

func compress(dst, x, y *block, xor bool) {
	if useAVX2 {
		compressAVX2(dst, x, y, xor)
		return
	}
	compressGeneric(dst, x, y, xor)
}
