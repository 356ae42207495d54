//go:build !linux

package argon2id

// mapBlocks allocates n blocks on the Go heap: only Linux maps them apart.
func mapBlocks(n int) (blocks []block, unmap func()) { return make([]block, n), nil }
