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
	VROUNDPS     $0, Y0, Y0 // nearest, ties to even
	VROUNDPS     $0, Y1, Y1
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
	VROUNDPS     $0, Y0, Y0
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

// func roundScaleRowAVX2(out, x, inv, scale []float32, qmax float32)
TEXT ·roundScaleRowAVX2(SB), NOSPLIT, $0-100
	MOVQ         out_base+0(FP), DI
	MOVQ         x_base+24(FP), SI
	MOVQ         x_len+32(FP), CX
	MOVQ         inv_base+48(FP), R8
	MOVQ         scale_base+72(FP), R9
	VBROADCASTSS qmax+96(FP), Y15
	VXORPS       Y12, Y12, Y12
	VSUBPS       Y15, Y12, Y12

rowround16:
	CMPQ         CX, $16
	JB           rowround8
	VMOVUPS      (SI), Y0
	VMOVUPS      32(SI), Y1
	VMULPS       (R8), Y0, Y0
	VMULPS       32(R8), Y1, Y1
	VROUNDPS     $0, Y0, Y0
	VROUNDPS     $0, Y1, Y1
	VMINPS       Y15, Y0, Y0
	VMINPS       Y15, Y1, Y1
	VMAXPS       Y12, Y0, Y0
	VMAXPS       Y12, Y1, Y1
	VMULPS       (R9), Y0, Y0
	VMULPS       32(R9), Y1, Y1
	VMOVUPS      Y0, (DI)
	VMOVUPS      Y1, 32(DI)
	ADDQ         $64, SI
	ADDQ         $64, DI
	ADDQ         $64, R8
	ADDQ         $64, R9
	SUBQ         $16, CX
	JMP          rowround16

rowround8:
	CMPQ         CX, $8
	JB           rowroundDone
	VMOVUPS      (SI), Y0
	VMULPS       (R8), Y0, Y0
	VROUNDPS     $0, Y0, Y0
	VMINPS       Y15, Y0, Y0
	VMAXPS       Y12, Y0, Y0
	VMULPS       (R9), Y0, Y0
	VMOVUPS      Y0, (DI)

rowroundDone:
	VZEROUPPER
	RET
