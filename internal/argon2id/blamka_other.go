//go:build !amd64 || purego

package argon2id

// useAVX2 is never set here; tests set it to no effect.
var useAVX2 = false

func compress(dst, x, y *block, xor bool) { compressGeneric(dst, x, y, xor) }
