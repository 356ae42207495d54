//go:build amd64 && !purego

#include "textflag.h"

// VPSHUFB masks that rotate each 64-bit lane right by 24 and by 16 bits.
DATA rot24<>+0x00(SB)/8, $0x0201000706050403
DATA rot24<>+0x08(SB)/8, $0x0a09080f0e0d0c0b
DATA rot24<>+0x10(SB)/8, $0x0201000706050403
DATA rot24<>+0x18(SB)/8, $0x0a09080f0e0d0c0b
GLOBL rot24<>(SB), (NOPTR+RODATA), $32

DATA rot16<>+0x00(SB)/8, $0x0100070605040302
DATA rot16<>+0x08(SB)/8, $0x09080f0e0d0c0b0a
DATA rot16<>+0x10(SB)/8, $0x0100070605040302
DATA rot16<>+0x18(SB)/8, $0x09080f0e0d0c0b0a
GLOBL rot16<>(SB), (NOPTR+RODATA), $32

// BLAMKA: x += y + 2·lo32(x)·lo32(y) in each 64-bit lane; t is clobbered.
#define BLAMKA(y, x, t) \
	VPMULUDQ y, x, t; \
	VPADDQ   y, x, x; \
	VPADDQ   t, t, t; \
	VPADDQ   t, x, x

// GB on four columns at once: lane k of a, b, c, d holds the RFC's
// a, b, c, d of one GB call.
#define GB(a, b, c, d, t) \
	BLAMKA(b, a, t); \
	VPXOR    a, d, d; \
	VPSHUFD  $0xb1, d, d; \
	BLAMKA(d, c, t); \
	VPXOR    c, b, b; \
	VPSHUFB  Y12, b, b; \
	BLAMKA(b, a, t); \
	VPXOR    a, d, d; \
	VPSHUFB  Y13, d, d; \
	BLAMKA(d, c, t); \
	VPXOR    c, b, b; \
	VPADDQ   b, b, t; \
	VPSRLQ   $63, b, b; \
	VPOR     t, b, b

// P on v0..v15 held as Y0 = v0..v3, Y1 = v4..v7, Y2 = v8..v11,
// Y3 = v12..v15: GB on the columns, then on the diagonals by turning
// rows 1–3 left by 1–3 lanes and back.
#define PERMUTE \
	GB(Y0, Y1, Y2, Y3, Y4); \
	VPERMQ $0x39, Y1, Y1; \
	VPERMQ $0x4e, Y2, Y2; \
	VPERMQ $0x93, Y3, Y3; \
	GB(Y0, Y1, Y2, Y3, Y4); \
	VPERMQ $0x93, Y1, Y1; \
	VPERMQ $0x4e, Y2, Y2; \
	VPERMQ $0x39, Y3, Y3

// Loads the 16 words of column register pair j (byte offset BX) of the
// block at base into Y0..Y3: 16 bytes from each of the 8 rows.
#define LOADCOL(base) \
	VMOVDQU     0(base)(BX*1), X0; \
	VINSERTI128 $1, 128(base)(BX*1), Y0, Y0; \
	VMOVDQU     256(base)(BX*1), X1; \
	VINSERTI128 $1, 384(base)(BX*1), Y1, Y1; \
	VMOVDQU     512(base)(BX*1), X2; \
	VINSERTI128 $1, 640(base)(BX*1), Y2, Y2; \
	VMOVDQU     768(base)(BX*1), X3; \
	VINSERTI128 $1, 896(base)(BX*1), Y3, Y3

// XORs the same 16 words of the block at base into Y0..Y3.
#define XORCOL(base) \
	VMOVDQU     0(base)(BX*1), X5; \
	VINSERTI128 $1, 128(base)(BX*1), Y5, Y5; \
	VPXOR       Y5, Y0, Y0; \
	VMOVDQU     256(base)(BX*1), X5; \
	VINSERTI128 $1, 384(base)(BX*1), Y5, Y5; \
	VPXOR       Y5, Y1, Y1; \
	VMOVDQU     512(base)(BX*1), X5; \
	VINSERTI128 $1, 640(base)(BX*1), Y5, Y5; \
	VPXOR       Y5, Y2, Y2; \
	VMOVDQU     768(base)(BX*1), X5; \
	VINSERTI128 $1, 896(base)(BX*1), Y5, Y5; \
	VPXOR       Y5, Y3, Y3

// func compressAVX2(dst, x, y *block, xor bool)
//
// The frame holds R = x ^ y (at 0) and Q, R after the row pass (at 1024).
// x and y are read in full before dst is written, so dst may alias them.
TEXT ·compressAVX2(SB), 0, $2048-25
	MOVQ    dst+0(FP), DI
	MOVQ    x+8(FP), SI
	MOVQ    y+16(FP), DX
	MOVBLZX xor+24(FP), CX
	LEAQ    0(SP), R8
	LEAQ    1024(SP), R9
	VMOVDQU rot24<>(SB), Y12
	VMOVDQU rot16<>(SB), Y13

	// Rows: 16 consecutive words each, byte offset BX.
	XORQ BX, BX

rows:
	VMOVDQU 0(SI)(BX*1), Y0
	VPXOR   0(DX)(BX*1), Y0, Y0
	VMOVDQU 32(SI)(BX*1), Y1
	VPXOR   32(DX)(BX*1), Y1, Y1
	VMOVDQU 64(SI)(BX*1), Y2
	VPXOR   64(DX)(BX*1), Y2, Y2
	VMOVDQU 96(SI)(BX*1), Y3
	VPXOR   96(DX)(BX*1), Y3, Y3
	VMOVDQU Y0, 0(R8)(BX*1)
	VMOVDQU Y1, 32(R8)(BX*1)
	VMOVDQU Y2, 64(R8)(BX*1)
	VMOVDQU Y3, 96(R8)(BX*1)
	PERMUTE
	VMOVDQU Y0, 0(R9)(BX*1)
	VMOVDQU Y1, 32(R9)(BX*1)
	VMOVDQU Y2, 64(R9)(BX*1)
	VMOVDQU Y3, 96(R9)(BX*1)
	ADDQ    $128, BX
	CMPQ    BX, $1024
	JB      rows

	// Columns: register j of every row, byte offset BX = 16j.
	XORQ BX, BX

cols:
	LOADCOL(R9)
	PERMUTE
	XORCOL(R8)
	TESTQ CX, CX
	JZ    store
	XORCOL(DI)

store:
	VMOVDQU      X0, 0(DI)(BX*1)
	VEXTRACTI128 $1, Y0, 128(DI)(BX*1)
	VMOVDQU      X1, 256(DI)(BX*1)
	VEXTRACTI128 $1, Y1, 384(DI)(BX*1)
	VMOVDQU      X2, 512(DI)(BX*1)
	VEXTRACTI128 $1, Y2, 640(DI)(BX*1)
	VMOVDQU      X3, 768(DI)(BX*1)
	VEXTRACTI128 $1, Y3, 896(DI)(BX*1)
	ADDQ         $16, BX
	CMPQ         BX, $128
	JB           cols

	VZEROUPPER
	RET
