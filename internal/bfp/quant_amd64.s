//go:build !purego

#include "textflag.h"

// AVX2 kernels of the quantiser; see quant_amd64.go for their contracts.
// Operand order is Go's: sources first, destination last.

// func maxAbsBitsAVX2(x []float32) uint32
TEXT ·maxAbsBitsAVX2(SB), NOSPLIT, $0-28
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	VPCMPEQD     Y15, Y15, Y15
	VPSRLD       $1, Y15, Y15 // 0x7fffffff in every lane
	VPXOR        Y0, Y0, Y0
	VPXOR        Y1, Y1, Y1
	VPXOR        Y2, Y2, Y2
	VPXOR        Y3, Y3, Y3

max32:
	CMPQ         CX, $32
	JB           max8
	VPAND        (SI), Y15, Y4
	VPAND        32(SI), Y15, Y5
	VPAND        64(SI), Y15, Y6
	VPAND        96(SI), Y15, Y7
	VPMAXUD      Y4, Y0, Y0
	VPMAXUD      Y5, Y1, Y1
	VPMAXUD      Y6, Y2, Y2
	VPMAXUD      Y7, Y3, Y3
	ADDQ         $128, SI
	SUBQ         $32, CX
	JMP          max32

max8:
	CMPQ         CX, $8
	JB           reduce
	VPAND        (SI), Y15, Y4
	VPMAXUD      Y4, Y0, Y0
	ADDQ         $32, SI
	SUBQ         $8, CX
	JMP          max8

reduce:
	VPMAXUD      Y1, Y0, Y0
	VPMAXUD      Y3, Y2, Y2
	VPMAXUD      Y2, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPMAXUD      X1, X0, X0
	VPSHUFD      $0x4e, X0, X1
	VPMAXUD      X1, X0, X0
	VPSHUFD      $0xb1, X0, X1
	VPMAXUD      X1, X0, X0
	VMOVD        X0, AX
	MOVL         AX, ret+24(FP)
	VZEROUPPER
	RET

// func roundScaleAVX2(out, x []float32, inv, scale, qmax float32)
TEXT ·roundScaleAVX2(SB), NOSPLIT, $0-60
	MOVQ         out_base+0(FP), DI
	MOVQ         x_base+24(FP), SI
	MOVQ         x_len+32(FP), CX
	VBROADCASTSS inv+48(FP), Y13
	VBROADCASTSS scale+52(FP), Y14
	VBROADCASTSS qmax+56(FP), Y15
	VXORPS       Y12, Y12, Y12
	VSUBPS       Y15, Y12, Y12 // -qmax

round16:
	CMPQ         CX, $16
	JB           round8
	VMULPS       (SI), Y13, Y0
	VMULPS       32(SI), Y13, Y1
	VROUNDPS     $8, Y0, Y0 // nearest, ties to even
	VROUNDPS     $8, Y1, Y1
	VMINPS       Y15, Y0, Y0
	VMINPS       Y15, Y1, Y1
	VMAXPS       Y12, Y0, Y0
	VMAXPS       Y12, Y1, Y1
	VMULPS       Y14, Y0, Y0
	VMULPS       Y14, Y1, Y1
	VMOVUPS      Y0, (DI)
	VMOVUPS      Y1, 32(DI)
	ADDQ         $64, SI
	ADDQ         $64, DI
	SUBQ         $16, CX
	JMP          round16

round8:
	CMPQ         CX, $8
	JB           roundDone
	VMULPS       (SI), Y13, Y0
	VROUNDPS     $8, Y0, Y0
	VMINPS       Y15, Y0, Y0
	VMAXPS       Y12, Y0, Y0
	VMULPS       Y14, Y0, Y0
	VMOVUPS      Y0, (DI)

roundDone:
	VZEROUPPER
	RET

// func maxAbsBitsRowAVX2(mb []uint32, x []float32)
TEXT ·maxAbsBitsRowAVX2(SB), NOSPLIT, $0-48
	MOVQ         mb_base+0(FP), DI
	MOVQ         x_base+24(FP), SI
	MOVQ         x_len+32(FP), CX
	VPCMPEQD     Y15, Y15, Y15
	VPSRLD       $1, Y15, Y15

rowmax16:
	CMPQ         CX, $16
	JB           rowmax8
	VPAND        (SI), Y15, Y0
	VPAND        32(SI), Y15, Y1
	VPMAXUD      (DI), Y0, Y0
	VPMAXUD      32(DI), Y1, Y1
	VMOVDQU      Y0, (DI)
	VMOVDQU      Y1, 32(DI)
	ADDQ         $64, SI
	ADDQ         $64, DI
	SUBQ         $16, CX
	JMP          rowmax16

rowmax8:
	CMPQ         CX, $8
	JB           rowmaxDone
	VPAND        (SI), Y15, Y0
	VPMAXUD      (DI), Y0, Y0
	VMOVDQU      Y0, (DI)

rowmaxDone:
	VZEROUPPER
	RET

// func roundMagicRowAVX2(out, x, magic []float32)
TEXT ·roundMagicRowAVX2(SB), NOSPLIT, $0-72
	MOVQ         out_base+0(FP), DI
	MOVQ         x_base+24(FP), SI
	MOVQ         x_len+32(FP), CX
	MOVQ         magic_base+48(FP), R8

magic16:
	CMPQ         CX, $16
	JLT          magic8
	VMOVUPS      (R8), Y4
	VMOVUPS      32(R8), Y5
	VADDPS       (SI), Y4, Y0
	VADDPS       32(SI), Y5, Y1
	VSUBPS       Y4, Y0, Y0
	VSUBPS       Y5, Y1, Y1
	VMOVUPS      Y0, (DI)
	VMOVUPS      Y1, 32(DI)
	ADDQ         $64, SI
	ADDQ         $64, DI
	ADDQ         $64, R8
	SUBQ         $16, CX
	JMP          magic16

magic8:
	CMPQ         CX, $8
	JLT          magicDone
	VMOVUPS      (R8), Y4
	VADDPS       (SI), Y4, Y0
	VSUBPS       Y4, Y0, Y0
	VMOVUPS      Y0, (DI)

magicDone:
	VZEROUPPER
	RET

// func roundMagicClampRowAVX2(out, x, magic, lim []float32)
TEXT ·roundMagicClampRowAVX2(SB), NOSPLIT, $0-96
	MOVQ         out_base+0(FP), DI
	MOVQ         x_base+24(FP), SI
	MOVQ         x_len+32(FP), CX
	MOVQ         magic_base+48(FP), R8
	MOVQ         lim_base+72(FP), R9
	VPCMPEQD     Y15, Y15, Y15
	VPSLLD       $31, Y15, Y15 // sign bits

mclamp8:
	CMPQ         CX, $8
	JLT          mclampDone
	VMOVUPS      (R8), Y4
	VMOVUPS      (R9), Y5
	VADDPS       (SI), Y4, Y0
	VSUBPS       Y4, Y0, Y0
	VMINPS       Y5, Y0, Y0
	VXORPS       Y15, Y5, Y5 // -lim
	VMAXPS       Y5, Y0, Y0
	VMOVUPS      Y0, (DI)
	ADDQ         $32, SI
	ADDQ         $32, DI
	ADDQ         $32, R8
	ADDQ         $32, R9
	SUBQ         $8, CX
	JMP          mclamp8

mclampDone:
	VZEROUPPER
	RET

// maskTable: loading 8 lanes at maskTable+32-4r gives r lanes of ones
// followed by zeros, the mask of a tail of r < 8 elements.
DATA maskTable<>+0(SB)/8, $0xffffffffffffffff
DATA maskTable<>+8(SB)/8, $0xffffffffffffffff
DATA maskTable<>+16(SB)/8, $0xffffffffffffffff
DATA maskTable<>+24(SB)/8, $0xffffffffffffffff
DATA maskTable<>+32(SB)/8, $0
DATA maskTable<>+40(SB)/8, $0
DATA maskTable<>+48(SB)/8, $0
DATA maskTable<>+56(SB)/8, $0
GLOBL maskTable<>(SB), RODATA|NOPTR, $64

// ROWS_FOLLOW jumps to masked unless another row of the job follows the
// current one (row R12 < rows-1) and rows hold at least 8 elements: then a
// block's tail may be read and written as a whole vector, whose lanes past
// the block fall on elements of this row or the next one that are written
// later (a row the kernel stops at is redone in Go), and never past the
// job's rows. AMD's masked stores are slow. Clobbers reg.
#define ROWS_FOLLOW(reg, masked) \
	MOVQ         24(R13), reg \
	DECQ         reg \
	CMPQ         R12, reg \
	JGE          masked \
	CMPQ         32(R13), $8 \
	JLT          masked

// func quantRowsAVX2(job *rowJob) int
//
// rowJob offsets: 0 src, 8 ld, 16 out, 24 rows, 32 k, 40 tile, 48 exps,
// 56 shift, 64 qmax, 68 satMant, 72 tiles.
//
// Rounding uses the magic-number identity: for |x| < 2^(22+e),
// (x + 1.5·2^(23+e)) - 1.5·2^(23+e) = roundEven(x/2^e)·2^e exactly, since
// the sum lies in [2^(23+e), 2^(24+e)) whose spacing is 2^e. That is one
// add and one subtract per vector, no multiplications. Only a block whose
// largest element rounds up past 2^(b-1)-1 (largest magnitude ≥
// (2^(b-1)-1/2)·2^e, a few percent of blocks) needs the clamp.
TEXT ·quantRowsAVX2(SB), NOSPLIT, $0-16
	MOVQ         job+0(FP), R13
	VPCMPEQD     Y15, Y15, Y15
	VPSRLD       $1, Y15, Y15 // |x| mask
	VBROADCASTSS 64(R13), Y14 // qmax
	XORQ         R12, R12     // row

rowLoop:
	CMPQ         R12, 24(R13)
	JGE          done
	MOVQ         8(R13), AX
	IMULQ        R12, AX
	SHLQ         $2, AX
	ADDQ         0(R13), AX
	MOVQ         AX, SI // source row
	MOVQ         32(R13), AX
	IMULQ        R12, AX
	SHLQ         $2, AX
	ADDQ         16(R13), AX
	MOVQ         AX, DI // output row
	MOVQ         72(R13), AX
	IMULQ        R12, AX
	SHLQ         $2, AX
	ADDQ         48(R13), AX
	MOVQ         AX, R8 // exponents of the row
	XORQ         R9, R9 // k0

tileLoop:
	MOVQ         32(R13), BX
	CMPQ         R9, BX
	JGE          rowDone
	SUBQ         R9, BX // k - k0
	MOVQ         40(R13), CX
	CMPQ         CX, BX
	CMOVQGT      BX, CX // block length min(tile, k-k0)
	MOVQ         CX, R11

	// Pass 1: the largest magnitude, as bits.
	LEAQ         (SI)(R9*4), R10
	VPXOR        Y0, Y0, Y0
	VPXOR        Y1, Y1, Y1

max16:
	CMPQ         CX, $16
	JLT          max8
	VPAND        (R10), Y15, Y2
	VPAND        32(R10), Y15, Y3
	VPMAXUD      Y2, Y0, Y0
	VPMAXUD      Y3, Y1, Y1
	ADDQ         $64, R10
	SUBQ         $16, CX
	JMP          max16

max8:
	CMPQ         CX, $8
	JLT          maxTail
	VPAND        (R10), Y15, Y2
	VPMAXUD      Y2, Y0, Y0
	ADDQ         $32, R10
	SUBQ         $8, CX

maxTail:
	TESTQ        CX, CX
	JZ           maxReduce
	LEAQ         maskTable<>+32(SB), AX
	MOVQ         CX, DX
	SHLQ         $2, DX
	SUBQ         DX, AX
	VMOVDQU      (AX), Y8
	ROWS_FOLLOW(DX, maxMasked)
	VPAND        (R10), Y8, Y2 // the whole vector, masked in registers
	JMP          maxTailMax

maxMasked:
	VMASKMOVPS   (R10), Y8, Y2

maxTailMax:
	VPAND        Y2, Y15, Y2
	VPMAXUD      Y2, Y0, Y0

maxReduce:
	VPMAXUD      Y1, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPMAXUD      X1, X0, X0
	VPSHUFD      $0x4e, X0, X1
	VPMAXUD      X1, X0, X0
	VPSHUFD      $0xb1, X0, X1
	VPMAXUD      X1, X0, X0
	VMOVD        X0, AX
	CMPL         AX, $0x7f800000
	JAE          done // Inf or NaN: Go handles the row
	CMPL         AX, $0x00800000
	JB           zeroBlock
	MOVL         AX, BX // the largest magnitude's bits

	// e = E - shift; Go handles exponents outside [-126, 104], where the
	// magic constant or the scale leaves FP32's normal range.
	SHRL         $23, AX
	SUBL         $127, AX
	SUBL         56(R13), AX
	CMPL         AX, $-126
	JLT          done
	CMPL         AX, $104
	JGT          done
	MOVL         AX, (R8)
	MOVL         AX, DX
	ADDL         $150, DX
	SHLL         $23, DX
	ORL          $0x400000, DX
	VMOVD        DX, X10
	VPBROADCASTD X10, Y10 // magic 1.5·2^(23+e)
	LEAQ         (SI)(R9*4), R10
	LEAQ         (DI)(R9*4), DX
	MOVQ         R11, CX

	// Clamp needed when bits(max) ≥ bits((2^(b-1)-1/2)·2^e), which has
	// the max's exponent field and the mantissa satMant.
	MOVL         BX, R10
	ANDL         $0x7f800000, R10
	ORL          68(R13), R10
	CMPL         BX, R10
	LEAQ         (SI)(R9*4), R10
	JAE          clampBlock

round16:
	CMPQ         CX, $16
	JLT          round8
	VADDPS       (R10), Y10, Y2
	VADDPS       32(R10), Y10, Y3
	VSUBPS       Y10, Y2, Y2
	VSUBPS       Y10, Y3, Y3
	VMOVUPS      Y2, (DX)
	VMOVUPS      Y3, 32(DX)
	ADDQ         $64, R10
	ADDQ         $64, DX
	SUBQ         $16, CX
	JMP          round16

round8:
	CMPQ         CX, $8
	JLT          roundTail
	VADDPS       (R10), Y10, Y2
	VSUBPS       Y10, Y2, Y2
	VMOVUPS      Y2, (DX)
	ADDQ         $32, R10
	ADDQ         $32, DX
	SUBQ         $8, CX

roundTail:
	TESTQ        CX, CX
	JZ           tileDone
	LEAQ         maskTable<>+32(SB), AX
	MOVQ         CX, BX
	SHLQ         $2, BX
	SUBQ         BX, AX
	VMOVDQU      (AX), Y8
	ROWS_FOLLOW(BX, roundMasked)
	VADDPS       (R10), Y10, Y2
	VSUBPS       Y10, Y2, Y2
	VMOVUPS      Y2, (DX)
	JMP          tileDone

roundMasked:
	VMASKMOVPS   (R10), Y8, Y2
	VADDPS       Y2, Y10, Y2
	VSUBPS       Y10, Y2, Y2
	VMASKMOVPS   Y2, Y8, (DX)
	JMP          tileDone

clampBlock:
	// limit = qmax·2^e, and its negative.
	MOVL         (R8), AX
	ADDL         $127, AX
	SHLL         $23, AX
	VMOVD        AX, X11
	VPBROADCASTD X11, Y11
	VMULPS       Y14, Y11, Y11
	VXORPS       Y9, Y9, Y9
	VSUBPS       Y11, Y9, Y9

clamp8:
	CMPQ         CX, $8
	JLT          clampTail
	VADDPS       (R10), Y10, Y2
	VSUBPS       Y10, Y2, Y2
	VMINPS       Y11, Y2, Y2
	VMAXPS       Y9, Y2, Y2
	VMOVUPS      Y2, (DX)
	ADDQ         $32, R10
	ADDQ         $32, DX
	SUBQ         $8, CX
	JMP          clamp8

clampTail:
	TESTQ        CX, CX
	JZ           tileDone
	LEAQ         maskTable<>+32(SB), AX
	MOVQ         CX, BX
	SHLQ         $2, BX
	SUBQ         BX, AX
	VMOVDQU      (AX), Y8
	ROWS_FOLLOW(BX, clampMasked)
	VADDPS       (R10), Y10, Y2
	VSUBPS       Y10, Y2, Y2
	VMINPS       Y11, Y2, Y2
	VMAXPS       Y9, Y2, Y2
	VMOVUPS      Y2, (DX)
	JMP          tileDone

clampMasked:
	VMASKMOVPS   (R10), Y8, Y2
	VADDPS       Y2, Y10, Y2
	VSUBPS       Y10, Y2, Y2
	VMINPS       Y11, Y2, Y2
	VMAXPS       Y9, Y2, Y2
	VMASKMOVPS   Y2, Y8, (DX)
	JMP          tileDone

zeroBlock:
	MOVL         $0, (R8)
	LEAQ         (DI)(R9*4), DX
	MOVQ         R11, CX
	VXORPS       Y2, Y2, Y2

zero8:
	CMPQ         CX, $8
	JLT          zeroTail
	VMOVUPS      Y2, (DX)
	ADDQ         $32, DX
	SUBQ         $8, CX
	JMP          zero8

zeroTail:
	TESTQ        CX, CX
	JZ           tileDone
	LEAQ         maskTable<>+32(SB), AX
	MOVQ         CX, BX
	SHLQ         $2, BX
	SUBQ         BX, AX
	VMOVDQU      (AX), Y8
	ROWS_FOLLOW(BX, zeroMasked)
	VMOVUPS      Y2, (DX)
	JMP          tileDone

zeroMasked:
	VMASKMOVPS   Y2, Y8, (DX)

tileDone:
	ADDQ         R11, R9
	ADDQ         $4, R8
	JMP          tileLoop

rowDone:
	INCQ         R12
	JMP          rowLoop

done:
	MOVQ         R12, ret+8(FP)
	VZEROUPPER
	RET

// func maxAbsBitsColsAVX2(mb []uint32, src []float32, ld, rows int)
//
// For i < len(mb): mb[i] = max(mb[i], bits(|src[p·ld+i]|)) over p < rows,
// walking the source row by row (contiguous memory). The last len(mb)%8
// columns are accumulated in a register across all rows and stored once,
// so that no masked store is reloaded by the next row.
TEXT ·maxAbsBitsColsAVX2(SB), NOSPLIT, $0-64
	MOVQ         mb_base+0(FP), DI
	MOVQ         mb_len+8(FP), BX
	MOVQ         src_base+24(FP), SI
	MOVQ         ld+48(FP), R8
	SHLQ         $2, R8             // row stride in bytes
	MOVQ         rows+56(FP), R9
	VPCMPEQD     Y15, Y15, Y15
	VPSRLD       $1, Y15, Y15       // |x| mask
	MOVQ         BX, R10
	ANDQ         $-8, R10           // columns in whole vectors
	MOVQ         BX, AX
	SUBQ         R10, AX            // tail columns, 0..7
	SHLQ         $2, AX
	LEAQ         maskTable<>+32(SB), DX
	SUBQ         AX, DX
	VMOVDQU      (DX), Y14          // tail mask (all zero without a tail)
	LEAQ         (DI)(R10*4), R11   // tail of mb
	VPXOR        Y13, Y13, Y13      // tail accumulator
	TESTQ        AX, AX
	JZ           cmaxRow
	VPMASKMOVD   (R11), Y14, Y13

cmaxRow:
	TESTQ        R9, R9
	JZ           cmaxDone
	MOVQ         SI, AX
	MOVQ         DI, DX
	MOVQ         R10, CX

cmax32:
	CMPQ         CX, $32
	JLT          cmax8
	VPAND        (AX), Y15, Y0
	VPAND        32(AX), Y15, Y1
	VPAND        64(AX), Y15, Y2
	VPAND        96(AX), Y15, Y3
	VPMAXUD      (DX), Y0, Y0
	VPMAXUD      32(DX), Y1, Y1
	VPMAXUD      64(DX), Y2, Y2
	VPMAXUD      96(DX), Y3, Y3
	VMOVDQU      Y0, (DX)
	VMOVDQU      Y1, 32(DX)
	VMOVDQU      Y2, 64(DX)
	VMOVDQU      Y3, 96(DX)
	ADDQ         $128, AX
	ADDQ         $128, DX
	SUBQ         $32, CX
	JMP          cmax32

cmax8:
	CMPQ         CX, $8
	JLT          cmaxTail
	VPAND        (AX), Y15, Y0
	VPMAXUD      (DX), Y0, Y0
	VMOVDQU      Y0, (DX)
	ADDQ         $32, AX
	ADDQ         $32, DX
	SUBQ         $8, CX
	JMP          cmax8

cmaxTail:
	CMPQ         R10, BX
	JEQ          cmaxNext
	// Rows but the last, with a stride of at least a vector, are followed
	// by another row: their tail is read as a whole vector (cheaper than
	// the masked load) and masked in registers.
	CMPQ         R9, $1
	JLE          cmaxMasked
	CMPQ         R8, $32
	JLT          cmaxMasked
	VPAND        (AX), Y14, Y0
	VPAND        Y0, Y15, Y0
	VPMAXUD      Y0, Y13, Y13
	JMP          cmaxNext

cmaxMasked:
	VPMASKMOVD   (AX), Y14, Y0      // masked-off lanes read as 0, touch no memory
	VPAND        Y0, Y15, Y0
	VPMAXUD      Y0, Y13, Y13

cmaxNext:
	ADDQ         R8, SI
	DECQ         R9
	JMP          cmaxRow

cmaxDone:
	CMPQ         R10, BX
	JEQ          cmaxRet
	VPMASKMOVD   Y13, Y14, (R11)

cmaxRet:
	VZEROUPPER
	RET

// func roundMagicColsAVX2(out []float32, ldo int, src []float32, ld, rows int, magic, lim []float32)
//
// For p < rows and i < len(magic): out[p·ldo+i] = (src[p·ld+i] + magic[i])
// - magic[i] in FP32, then clamped to ±lim[i] when len(lim) > 0. The
// arithmetic is that of roundMagicRowAVX2 and roundMagicClampRowAVX2 (and
// of their Go tails), element for element; the last len(magic)%8 columns
// go through masked loads and stores instead of Go.
TEXT ·roundMagicColsAVX2(SB), NOSPLIT, $0-120
	MOVQ         out_base+0(FP), DI
	MOVQ         ldo+24(FP), R12
	SHLQ         $2, R12            // output row stride in bytes
	MOVQ         src_base+32(FP), SI
	MOVQ         ld+56(FP), R8
	SHLQ         $2, R8             // source row stride in bytes
	MOVQ         rows+64(FP), R9
	MOVQ         magic_base+72(FP), R11
	MOVQ         magic_len+80(FP), BX
	MOVQ         lim_base+96(FP), R13
	MOVQ         BX, R10
	ANDQ         $-8, R10
	SHLQ         $2, R10            // bytes of the columns in whole vectors
	ANDQ         $7, BX             // tail columns, 0..7
	MOVQ         BX, AX
	SHLQ         $2, AX
	LEAQ         maskTable<>+32(SB), DX
	SUBQ         AX, DX
	VMOVDQU      (DX), Y14          // tail mask
	// DX = 1 when the rows are contiguous (ldo = len(magic)) and at least
	// 8 wide: then a row's tail may be read and written as a whole vector,
	// whose lanes past the row land on the next row's first columns, which
	// that row writes afterwards; the last row's tail stays masked. AMD's
	// masked stores are slow (8448 rows of 25 columns took 1.2x the time
	// of 24).
	XORQ         DX, DX
	MOVQ         magic_len+80(FP), AX
	CMPQ         AX, $8
	JLT          rcontig
	SHLQ         $2, AX
	CMPQ         AX, R12
	JNE          rcontig
	MOVQ         $1, DX

rcontig:
	VPCMPEQD     Y15, Y15, Y15
	VPSLLD       $31, Y15, Y15      // sign bits
	VXORPS       Y13, Y13, Y13
	VXORPS       Y12, Y12, Y12
	TESTQ        BX, BX
	JZ           rsetup
	VMASKMOVPS   (R11)(R10*1), Y14, Y13 // magic of the tail

rsetup:
	MOVQ         lim_len+104(FP), AX
	TESTQ        AX, AX
	JZ           rmagicRow
	TESTQ        BX, BX
	JZ           rclampRow
	VMASKMOVPS   (R13)(R10*1), Y14, Y12 // lim of the tail
	VXORPS       Y15, Y12, Y11          // -lim of the tail
	JMP          rclampRow

rmagicRow:
	TESTQ        R9, R9
	JZ           rdone
	XORQ         CX, CX             // column offset in bytes

rmagic16:
	LEAQ         64(CX), AX
	CMPQ         AX, R10
	JGT          rmagic8
	VMOVUPS      (R11)(CX*1), Y4
	VMOVUPS      32(R11)(CX*1), Y5
	VADDPS       (SI)(CX*1), Y4, Y0
	VADDPS       32(SI)(CX*1), Y5, Y1
	VSUBPS       Y4, Y0, Y0
	VSUBPS       Y5, Y1, Y1
	VMOVUPS      Y0, (DI)(CX*1)
	VMOVUPS      Y1, 32(DI)(CX*1)
	ADDQ         $64, CX
	JMP          rmagic16

rmagic8:
	CMPQ         CX, R10
	JGE          rmagicTail
	VMOVUPS      (R11)(CX*1), Y4
	VADDPS       (SI)(CX*1), Y4, Y0
	VSUBPS       Y4, Y0, Y0
	VMOVUPS      Y0, (DI)(CX*1)
	ADDQ         $32, CX

rmagicTail:
	TESTQ        BX, BX
	JZ           rmagicNext
	CMPQ         R9, $1
	JLE          rmagicMasked
	TESTQ        DX, DX
	JZ           rmagicMasked
	VMOVUPS      (SI)(CX*1), Y0
	VADDPS       Y0, Y13, Y0
	VSUBPS       Y13, Y0, Y0
	VMOVUPS      Y0, (DI)(CX*1)
	JMP          rmagicNext

rmagicMasked:
	VMASKMOVPS   (SI)(CX*1), Y14, Y0
	VADDPS       Y0, Y13, Y0
	VSUBPS       Y13, Y0, Y0
	VMASKMOVPS   Y0, Y14, (DI)(CX*1)

rmagicNext:
	ADDQ         R8, SI
	ADDQ         R12, DI
	DECQ         R9
	JMP          rmagicRow

rclampRow:
	TESTQ        R9, R9
	JZ           rdone
	XORQ         CX, CX

rclamp8:
	CMPQ         CX, R10
	JGE          rclampTail
	VMOVUPS      (R11)(CX*1), Y4
	VMOVUPS      (R13)(CX*1), Y5
	VADDPS       (SI)(CX*1), Y4, Y0
	VSUBPS       Y4, Y0, Y0
	VMINPS       Y5, Y0, Y0
	VXORPS       Y15, Y5, Y5        // -lim
	VMAXPS       Y5, Y0, Y0
	VMOVUPS      Y0, (DI)(CX*1)
	ADDQ         $32, CX
	JMP          rclamp8

rclampTail:
	TESTQ        BX, BX
	JZ           rclampNext
	CMPQ         R9, $1
	JLE          rclampMasked
	TESTQ        DX, DX
	JZ           rclampMasked
	VMOVUPS      (SI)(CX*1), Y0
	VADDPS       Y0, Y13, Y0
	VSUBPS       Y13, Y0, Y0
	VMINPS       Y12, Y0, Y0
	VMAXPS       Y11, Y0, Y0
	VMOVUPS      Y0, (DI)(CX*1)
	JMP          rclampNext

rclampMasked:
	VMASKMOVPS   (SI)(CX*1), Y14, Y0
	VADDPS       Y0, Y13, Y0
	VSUBPS       Y13, Y0, Y0
	VMINPS       Y12, Y0, Y0
	VMAXPS       Y11, Y0, Y0
	VMASKMOVPS   Y0, Y14, (DI)(CX*1)

rclampNext:
	ADDQ         R8, SI
	ADDQ         R12, DI
	DECQ         R9
	JMP          rclampRow

rdone:
	VZEROUPPER
	RET

// The AVX-512 kernels of stochastic rounding, 8 elements (float64 lanes) at
// a time, with the same operations as Quantiser.stochastic in the same
// order, so the same results: u = float64(splitmix64(key, i) >> 11)·2^-53,
// r = floor(float64(x)·inv + u), clamped to ±qmax, times scale, to FP32.
// The index vector Z4 holds i+1 for the 8 lanes.

DATA srIota<>+0(SB)/8, $1
DATA srIota<>+8(SB)/8, $2
DATA srIota<>+16(SB)/8, $3
DATA srIota<>+24(SB)/8, $4
DATA srIota<>+32(SB)/8, $5
DATA srIota<>+40(SB)/8, $6
DATA srIota<>+48(SB)/8, $7
DATA srIota<>+56(SB)/8, $8
GLOBL srIota<>(SB), RODATA|NOPTR, $64

// SR_SETUP expects qmax in Z2, key in AX and i0 in BX; sets Z3 (-qmax),
// Z4 (indices + 1), Z5 (8), Z6 (golden ratio), Z7 (key), Z8, Z9 (the
// mixing constants), Z10 (2^-53).
#define SR_SETUP \
	VPXORQ       Z3, Z3, Z3 \
	VSUBPD       Z2, Z3, Z3 \
	VPBROADCASTQ BX, Z4 \
	VPADDQ       srIota<>(SB), Z4, Z4 \
	MOVQ         $8, BX \
	VPBROADCASTQ BX, Z5 \
	VPBROADCASTQ AX, Z7 \
	MOVQ         $0x9e3779b97f4a7c15, AX \
	VPBROADCASTQ AX, Z6 \
	MOVQ         $0xbf58476d1ce4e5b9, AX \
	VPBROADCASTQ AX, Z8 \
	MOVQ         $0x94d049bb133111eb, AX \
	VPBROADCASTQ AX, Z9 \
	MOVQ         $0x3ca0000000000000, AX \
	VPBROADCASTQ AX, Z10

// SR_ROUND rounds the 8 floats at (SI) into Y11 with inverse scales Z0,
// scales Z1, limits Z2 (qmax) and Z3 (-qmax), and steps the indices.
#define SR_ROUND \
	VCVTPS2PD  (SI), Z11 \
	VMULPD     Z0, Z11, Z11 \
	VPMULLQ    Z6, Z4, Z12 \
	VPADDQ     Z7, Z12, Z12 \
	VPSRLQ     $30, Z12, Z13 \
	VPXORQ     Z13, Z12, Z12 \
	VPMULLQ    Z8, Z12, Z12 \
	VPSRLQ     $27, Z12, Z13 \
	VPXORQ     Z13, Z12, Z12 \
	VPMULLQ    Z9, Z12, Z12 \
	VPSRLQ     $31, Z12, Z13 \
	VPXORQ     Z13, Z12, Z12 \
	VPSRLQ     $11, Z12, Z12 \
	VCVTUQQ2PD Z12, Z12 \
	VMULPD     Z10, Z12, Z12 \
	VADDPD     Z12, Z11, Z11 \
	VRNDSCALEPD $9, Z11, Z11 \
	VMINPD     Z2, Z11, Z11 \
	VMAXPD     Z3, Z11, Z11 \
	VMULPD     Z1, Z11, Z11 \
	VCVTPD2PS  Z11, Y11 \
	VPADDQ     Z5, Z4, Z4

// func stochasticBlockAVX512(out, x []float32, inv, scale, qmax float64, key uint64, i0 int)
TEXT ·stochasticBlockAVX512(SB), NOSPLIT, $0-88
	MOVQ         out_base+0(FP), DI
	MOVQ         x_base+24(FP), SI
	MOVQ         x_len+32(FP), CX
	SHRQ         $3, CX
	JZ           blockDone
	VBROADCASTSD inv+48(FP), Z0
	VBROADCASTSD scale+56(FP), Z1
	VBROADCASTSD qmax+64(FP), Z2
	MOVQ         key+72(FP), AX
	MOVQ         i0+80(FP), BX
	SR_SETUP

blockLoop:
	SR_ROUND
	VMOVUPS Y11, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     blockLoop

blockDone:
	VZEROUPPER
	RET

// func stochasticColsAVX512(out, x []float32, inv, scale []float64, qmax float64, key uint64, i0 int)
TEXT ·stochasticColsAVX512(SB), NOSPLIT, $0-120
	MOVQ         out_base+0(FP), DI
	MOVQ         x_base+24(FP), SI
	MOVQ         x_len+32(FP), CX
	MOVQ         inv_base+48(FP), R8
	MOVQ         scale_base+72(FP), R9
	SHRQ         $3, CX
	JZ           colsDone
	VBROADCASTSD qmax+96(FP), Z2
	MOVQ         key+104(FP), AX
	MOVQ         i0+112(FP), BX
	SR_SETUP

colsLoop:
	VMOVUPD (R8), Z0
	VMOVUPD (R9), Z1
	SR_ROUND
	VMOVUPS Y11, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    $64, R8
	ADDQ    $64, R9
	DECQ    CX
	JNZ     colsLoop

colsDone:
	VZEROUPPER
	RET
