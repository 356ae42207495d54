package argon2id

import "math/bits"

// compressGeneric sets dst to G(x, y), the RFC's compression function, or, with
// xor (every pass after the first, as version 1.3 requires), XORs G(x, y)
// into dst's old value. dst may be x or y.
func compressGeneric(dst, x, y *block, xor bool) {
	var r, q block
	for i := range r {
		r[i] = x[i] ^ y[i]
	}
	q = r
	// P on each row of eight 16-byte registers: 16 consecutive words.
	for i := 0; i < blockWords; i += 16 {
		permute((*[16]uint64)(q[i : i+16]))
	}
	// Then on each column: register j of every row, words 2j and 2j+1.
	var col [16]uint64
	for j := 0; j < 16; j += 2 {
		for k := range 8 {
			col[2*k] = q[16*k+j]
			col[2*k+1] = q[16*k+j+1]
		}
		permute(&col)
		for k := range 8 {
			q[16*k+j] = col[2*k]
			q[16*k+j+1] = col[2*k+1]
		}
	}
	if xor {
		for i := range dst {
			dst[i] ^= q[i] ^ r[i]
		}
		return
	}
	for i := range dst {
		dst[i] = q[i] ^ r[i]
	}
}

// permute is the RFC's P: BLAKE2b's round with its additions replaced by
// BlaMka's a + b + 2·lo32(a)·lo32(b), on the columns and then the diagonals
// of the 4×4 matrix v.
func permute(v *[16]uint64) {
	v0, v1, v2, v3, v4, v5, v6, v7 := v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
	v8, v9, v10, v11, v12, v13, v14, v15 := v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15]

	v0, v4, v8, v12 = gb(v0, v4, v8, v12)
	v1, v5, v9, v13 = gb(v1, v5, v9, v13)
	v2, v6, v10, v14 = gb(v2, v6, v10, v14)
	v3, v7, v11, v15 = gb(v3, v7, v11, v15)

	v0, v5, v10, v15 = gb(v0, v5, v10, v15)
	v1, v6, v11, v12 = gb(v1, v6, v11, v12)
	v2, v7, v8, v13 = gb(v2, v7, v8, v13)
	v3, v4, v9, v14 = gb(v3, v4, v9, v14)

	v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7] = v0, v1, v2, v3, v4, v5, v6, v7
	v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15] = v8, v9, v10, v11, v12, v13, v14, v15
}

// gb is the RFC's GB.
func gb(a, b, c, d uint64) (uint64, uint64, uint64, uint64) {
	a += b + 2*uint64(uint32(a))*uint64(uint32(b))
	d = bits.RotateLeft64(d^a, -32)
	c += d + 2*uint64(uint32(c))*uint64(uint32(d))
	b = bits.RotateLeft64(b^c, -24)
	a += b + 2*uint64(uint32(a))*uint64(uint32(b))
	d = bits.RotateLeft64(d^a, -16)
	c += d + 2*uint64(uint32(c))*uint64(uint32(d))
	b = bits.RotateLeft64(b^c, -63)
	return a, b, c, d
}
