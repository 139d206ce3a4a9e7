// Command asm generates the SIMD micro-kernels of package gemm with avo.
//
// It lives in its own module so that avo stays out of mirage's dependency
// list. Regenerate from this directory with
//
//	go run . -out ../kernel_amd64.s -stubs ../kernel_amd64.go -pkg gemm
//
// Every kernel has the same contract (see kernelFunc in package gemm): it
// multiplies an mr×kc panel of A by a kc×nr panel of B in registers and then
// writes C = alpha·acc + beta·C for one mr×nr tile, without reading C when
// beta is zero (so NaN garbage in C is overwritten, as BLAS requires).
//
// The A panel is addressed with two strides, which lets one kernel read A
// packed (row stride 1, step mr), in place row-major (row stride lda, step 1)
// or in place transposed (row stride 1, step lda). B rows are nr contiguous
// floats, step psb apart: packed (psb = nr) or in place (psb = ldb).
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

const signature = "func(kc int, a *float32, rsa, psa int, b *float32, psb int, c *float32, ldc, rows, cols int, alpha, beta float32)"

// indexedSignature is the signature of the kernels whose B rows are given
// by offsets: row p of B starts offsets[p] floats after b.
const indexedSignature = "func(kc int, a *float32, rsa, psa int, b *float32, offsets *int, c *float32, ldc, rows, cols int, alpha, beta float32)"

// Kernel variants: how A and B are addressed.
const (
	general = 0 // A by two strides, B rows psb apart
	packed  = 1 // packed panels: fixed displacements
	indexed = 2 // A by two strides, B row p at offsets[p]
	pfB     = 3 // general, prefetching one line pf floats after each row of B
)

// isa describes the vector unit a kernel targets.
type isa struct {
	name  string
	lanes int               // float32 lanes per vector register
	vec   func() VecVirtual // allocates a virtual vector register
	bcast bool              // FMA can broadcast its memory operand (AVX-512 {1to16})
}

var avx2 = isa{name: "AVX2", lanes: 8, vec: YMM}
var avx512 = isa{name: "AVX512", lanes: 16, vec: ZMM, bcast: true}

// laneIndices holds the int32 lane indices 0..15, compared with the column count
// to build the AVX2 edge masks.
var laneIndices Mem

func main() {
	ConstraintExpr("!purego")
	laneIndices = GLOBL("lanes", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(4*i, U32(i))
	}
	// AVX2+FMA: 6×16 uses 12 of the 16 ymm registers as accumulators and
	// leaves two for B and one for the broadcast of A: per k step 2 vector
	// loads and 6 broadcasts feed 12 FMAs, under the two load ports' limit.
	kernel("kernelAVX2x6x16", avx2, 6, 2)
	// AVX-512: 12×32 uses 24 of 32 zmm registers as accumulators (BLIS's
	// Skylake-X sgemm shape, transposed for row-major C): 2 loads and 12
	// broadcasts per 24 FMAs. (Broadcasting inside both FMAs instead of
	// once into a register measured about 10% slower.)
	kernel("kernelAVX512x12x32", avx512, 12, 2)
	// AVX-512 narrow: 24×16 for products with n ≤ 16 (the forward and
	// weight products of convolutions with 16 or fewer output channels),
	// where 12×32 would waste half of every FMA.
	kernel("kernelAVX512x24x16", avx512, 24, 1)
	// AVX-512 short: 8×32 for products with few rows (the weight gradient
	// of a layer with 6 or 8 output channels, or 16, or 64), where 12-row
	// tiles would be half empty.
	kernel("kernelAVX512x8x32", avx512, 8, 2)
	// Each shape also comes specialised for packed panels (measured 5-15%
	// faster on one core, data in L1).
	packedKernel("kernelAVX2x6x16p", avx2, 6, 2)
	packedKernel("kernelAVX512x12x32p", avx512, 12, 2)
	packedKernel("kernelAVX512x24x16p", avx512, 24, 1)
	packedKernel("kernelAVX512x8x32p", avx512, 8, 2)
	// The 12×32 and 8×32 shapes also read B through a table of row
	// offsets, for implicit-GEMM convolutions: the rows are runs of the
	// padded image, read in place instead of packed (one more load per k
	// step, from a table in L1).
	kernelVariant("kernelAVX512x12x32i", avx512, 12, 2, indexed)
	kernelVariant("kernelAVX512x8x32i", avx512, 8, 2, indexed)
	// AVX2's 6×16 too. Without column masks it reads all 16 floats of
	// every row it is given, so package gemm packs an edge panel of B
	// (fewer than 16 columns) instead of handing it its rows in place.
	kernelVariant("kernelAVX2x6x16i", avx2, 6, 2, indexed)
	// Every AVX-512 shape also reads a row-major A in place while
	// prefetching the rows of the next tile, spread over its k loop (see
	// prefetchingKernel).
	prefetchingKernel("kernelAVX512x12x32r", avx512, 12, 2)
	prefetchingKernel("kernelAVX512x24x16r", avx512, 24, 1)
	prefetchingKernel("kernelAVX512x8x32r", avx512, 8, 2)
	// The 12×32 and 8×32 shapes also read B in place while prefetching a
	// line further along each of its rows (the next panel), for weight
	// gradients whose long B streams from memory through few tiles.
	kernelVariant("kernelAVX512x12x32b", avx512, 12, 2, pfB)
	kernelVariant("kernelAVX512x8x32b", avx512, 8, 2, pfB)
	// The 8×32 shape also rounds B's rows as it reads them, for the block
	// floating point backends' convolutions (see roundedKernel).
	roundedKernel("kernelAVX512x8x32q", avx512, 8, 2)
	roundedKernel("kernelAVX2x6x16q", avx2, 6, 2)
	prefetchRows()
	packStrips()
	Generate()
}

// kernel emits one micro-kernel computing an mr×(nvec·lanes) tile.
func kernel(name string, v isa, mr, nvec int) { kernelVariant(name, v, mr, nvec, general) }

// packedKernel emits a kernel for packed panels only (rsa = 1, psa = mr,
// psb = nr; the stride arguments are ignored): every address is a fixed
// displacement from two pointers, which saves the per-step pointer updates
// and indexed addressing of the general kernel.
func packedKernel(name string, v isa, mr, nvec int) { kernelVariant(name, v, mr, nvec, packed) }

func kernelVariant(name string, v isa, mr, nvec int, mode int) {
	nr := nvec * v.lanes
	switch mode {
	case packed:
		TEXT(name, NOSPLIT, signature)
		Doc(fmt.Sprintf("%s computes an %d×%d tile from packed panels with %s+FMA; see kernelFunc.", name, mr, nr, v.name))
	case pfB:
		TEXT(name, NOSPLIT, prefetchSignature)
		Doc(fmt.Sprintf("%s computes an %d×%d tile with %s+FMA, prefetching the line pf floats after each row of B; see prefetchKernelFunc.", name, mr, nr, v.name))
	case indexed:
		TEXT(name, NOSPLIT, indexedSignature)
		Doc(fmt.Sprintf("%s computes an %d×%d tile with %s+FMA, B row p at b+offsets[p]; see indexedKernelFunc.", name, mr, nr, v.name))
	default:
		TEXT(name, NOSPLIT, signature)
		Doc(fmt.Sprintf("%s computes an %d×%d tile with %s+FMA; see kernelFunc.", name, mr, nr, v.name))
	}
	Pragma("noescape")

	// AVX-512 kernels load an edge panel of B (cols < nr) under the
	// column mask too, so that it can be read in place: lanes past cols
	// are neither read (masked loads do not fault) nor used. Full panels
	// take a copy of the loop with plain loads (see loops below).
	var kmask []OpmaskVirtual
	if v.bcast {
		kmask = columnMasks(Load(Param("cols"), GP64()), nvec)
	}

	kc := Load(Param("kc"), GP64())
	bp := Load(Param("b"), GP64())
	// rowA(r, u) addresses row r of A at step u of an unrolled block;
	// rowB(j, u) vector j of B's row. advance(steps) moves both pointers
	// past steps steps.
	var rowA func(r, u int) Mem
	var rowB func(j, u int) Mem
	var advance func(steps int)
	// beginStep, if set, is emitted before each k step's loads.
	var beginStep func()
	if mode == packed {
		ap := Load(Param("a"), GP64())
		rowA = func(r, u int) Mem { return Mem{Base: ap, Disp: 4 * (u*mr + r)} }
		rowB = func(j, u int) Mem { return Mem{Base: bp, Disp: 4 * (u*nr + j*v.lanes)} }
		advance = func(steps int) {
			ADDQ(U32(4*mr*steps), ap)
			ADDQ(U32(4*nr*steps), bp)
		}
	} else {
		rowStride := Load(Param("rsa"), GP64())
		SHLQ(U8(2), rowStride)
		stepA := Load(Param("psa"), GP64())
		SHLQ(U8(2), stepA)
		var stepB, offsets, row Register
		if mode == indexed {
			offsets = Load(Param("offsets"), GP64())
			beginStep = func() {
				row = GP64()
				MOVQ(Mem{Base: offsets}, row)
			}
		} else {
			stepB = Load(Param("psb"), GP64())
			SHLQ(U8(2), stepB)
		}
		if mode == pfB {
			pf := Load(Param("pf"), GP64())
			SHLQ(U8(2), pf)
			beginStep = func() { PREFETCHT0(Mem{Base: bp, Index: pf, Scale: 1}) }
		}

		// The strides are only known at run time, so the pointers move
		// after every step and rows and vectors are addressed from them
		// alone (u is always 0, see step).
		rowOfA, bases := stridedRowsA(mr, rowStride)
		rowA = func(r, _ int) Mem { return rowOfA(r) }
		rowB = func(j, _ int) Mem {
			if mode == indexed {
				return Mem{Base: bp, Index: row, Scale: 4, Disp: 4 * j * v.lanes}
			}
			return Mem{Base: bp, Disp: 4 * j * v.lanes}
		}
		advance = func(steps int) {
			for _, b := range bases {
				ADDQ(stepA, b)
			}
			if mode == indexed {
				ADDQ(U8(8), offsets)
				return
			}
			ADDQ(stepB, bp)
		}
	}

	prefetchC(mr, nr)
	acc := zeroAccumulators(v, mr, nvec)

	// step emits one k step, the u-th of an unrolled block. The general
	// kernel advances its pointers after each step, the packed one after
	// each block.
	step := func(u int, masked bool) {
		if mode != packed {
			u = 0
		}
		if beginStep != nil {
			beginStep()
		}
		bv := make([]VecVirtual, nvec)
		for j := range bv {
			bv[j] = v.vec()
			if masked {
				VMOVUPS_Z(rowB(j, u), kmask[j], bv[j])
			} else {
				VMOVUPS(rowB(j, u), bv[j])
			}
		}
		for r := 0; r < mr; r++ {
			if v.bcast && nvec == 1 {
				VFMADD231PS_BCST(rowA(r, u), bv[0], acc[r][0])
				continue
			}
			t := v.vec()
			VBROADCASTSS(rowA(r, u), t)
			for j := range bv {
				VFMADD231PS(t, bv[j], acc[r][j])
			}
		}
		if mode != packed {
			advance(1)
		}
	}

	// Main loop unrolled four times, then the remainder one k at a time.
	// AVX-512 kernels have two copies of the loops: B loaded under the
	// column masks for edge panels, and plain loads for full ones. A
	// masked load is a load and a p0/p5 uop, which competes with the
	// FMAs: two per k step cost the 8×32 kernel about 10% (179 against
	// 199 GFLOP/s in a loop of k steps on one core, data in L1).
	const unroll = 4
	n4 := GP64()
	MOVQ(kc, n4)
	SHRQ(U8(2), n4)
	ANDQ(U8(unroll-1), kc)
	loops := func(label string, masked bool) {
		TESTQ(n4, n4)
		JZ(LabelRef(label + "_tail"))
		Label(label + "_loop4")
		for u := 0; u < unroll; u++ {
			step(u, masked)
		}
		if mode == packed {
			advance(unroll)
		}
		DECQ(n4)
		JNZ(LabelRef(label + "_loop4"))
		Label(label + "_tail")
		TESTQ(kc, kc)
		JZ(LabelRef(name + "_store"))
		Label(label + "_loop1")
		step(0, masked)
		if mode == packed {
			advance(1)
		}
		DECQ(kc)
		JNZ(LabelRef(label + "_loop1"))
	}
	if kmask != nil {
		CMPQ(paramAddr("cols"), U32(nr))
		JNE(LabelRef(name + "_masked"))
		loops(name+"_full", false)
		JMP(LabelRef(name + "_store"))
		Label(name + "_masked")
		loops(name+"_masked", true)
	} else {
		loops(name, false)
	}

	Label(name + "_store")
	epilogue(name, v, acc, kmask)
}

// roundedSignature is the signature of the kernels that round B as they
// read it: indexedSignature's, plus the rounding constants q of B's tiles
// along K (see roundedKernel).
const roundedSignature = "func(kc int, a *float32, rsa, psa int, b *float32, offsets *int, c *float32, ldc, rows, cols int, alpha, beta float32, q *float32, ldq, first, tile int)"

// roundedKernel emits an indexed kernel (B row p at b+offsets[p]) that
// rounds every element of B before it multiplies, with constants per
// column and per tile of rows: the rows are cut into tiles, the first
// `first` rows long and every later one `tile` rows, and tile t's
// constants are the three rows of nr floats at q + 3·t·ldq: m, l and -l
// (at q + 3t·ldq, + ldq and + 2·ldq). Element x of a column becomes
//
//	max(min((x + m) - m, l), -l)
//
// in FP32: with m = 1.5·2^(23+e) that rounds x to a multiple of 2^e, ties
// to even, and clamps it to the mantissa range, the block floating point
// quantisation of package bfp (its magic-number rounding), so that a
// convolution's quantised operand is never written out: the kernel reads
// the padded image in place and quantises each run as it goes. The
// constants stay in registers for a tile (6 of the 32 zmm registers, which
// leaves room for the 16 accumulators of an 8×32 tile, not the 24 of a
// 12×32 one). The sums are the indexed kernel's: one chain of FMAs per
// element of C, in increasing k.
//
// AVX2 has 16 ymm registers, 15 of which a 6×16 tile's accumulators, B
// row and broadcast take, and no mask registers: its kernel copies a
// tile's constants to the stack and uses them as memory operands (the
// same operations on the same values), and reads an edge panel (cols <
// nr) with VMASKMOVPS under lane masks kept on the stack, which neither
// read nor fault past the columns.
func roundedKernel(name string, v isa, mr, nvec int) {
	nr := nvec * v.lanes
	TEXT(name, NOSPLIT, roundedSignature)
	Doc(fmt.Sprintf("%s computes an %d×%d tile with %s+FMA, B row p at b+offsets[p] rounded with the constants of its tile; see roundedKernelFunc.", name, mr, nr, v.name))
	Pragma("noescape")
	// load reads vector j of a row at m into dst: all of it, or, masked,
	// its first cols lanes (the rest zero). constant(kind, j) is where
	// vector j of the tile's m (kind 0), l (1) or -l (2) is kept, and
	// keep(kind, j, t) puts t there.
	var load func(m Mem, j int, dst VecVirtual, masked bool)
	var constant func(kind, j int) Op
	var keep func(kind, j int, t VecVirtual)
	var kmask []OpmaskVirtual
	if v.bcast {
		kmask = columnMasks(Load(Param("cols"), GP64()), nvec)
		load = func(m Mem, j int, dst VecVirtual, masked bool) {
			if masked {
				VMOVUPS_Z(m, kmask[j], dst)
			} else {
				VMOVUPS(m, dst)
			}
		}
	} else {
		// The tile's constants and the edge panel's lane masks on the
		// stack (no registers are left for them).
		consts := AllocLocal(3 * nvec * 4 * v.lanes)
		masks := AllocLocal(nvec * 4 * v.lanes)
		constant = func(kind, j int) Op { return consts.Offset(4 * v.lanes * (kind*nvec + j)) }
		keep = func(kind, j int, t VecVirtual) { VMOVUPS(t, constant(kind, j)) }
		mask := func(j int) Mem { return masks.Offset(4 * v.lanes * j) }
		for j, m := range laneMasks(v, Load(Param("cols"), GP64()), nvec) {
			VMOVDQU(m, mask(j))
		}
		load = func(m Mem, j int, dst VecVirtual, masked bool) {
			if masked {
				VMOVDQU(mask(j), dst)
				VMASKMOVPS(m, dst, dst)
			} else {
				VMOVUPS(m, dst)
			}
		}
	}
	kcRem := Load(Param("kc"), GP64())
	bp := Load(Param("b"), GP64())
	rowStride := Load(Param("rsa"), GP64())
	SHLQ(U8(2), rowStride)
	stepA := Load(Param("psa"), GP64())
	SHLQ(U8(2), stepA)
	offsets := Load(Param("offsets"), GP64())
	rowA, bases := stridedRowsA(mr, rowStride)
	qp := Load(Param("q"), GP64())
	seg := Load(Param("first"), GP64())
	prefetchC(mr, nr)
	acc := zeroAccumulators(v, mr, nvec)
	if v.bcast {
		regs := make([]VecVirtual, 3*nvec)
		for j := range nvec {
			regs[j], regs[nvec+j], regs[2*nvec+j] = v.vec(), v.vec(), v.vec()
		}
		constant = func(kind, j int) Op { return regs[kind*nvec+j] }
	}
	step := func(masked bool) {
		row := GP64()
		MOVQ(Mem{Base: offsets}, row)
		bv := make([]VecVirtual, nvec)
		for j := range bv {
			bv[j] = v.vec()
			load(Mem{Base: bp, Index: row, Scale: 4, Disp: 4 * j * v.lanes}, j, bv[j], masked)
			VADDPS(constant(0, j), bv[j], bv[j])
			VSUBPS(constant(0, j), bv[j], bv[j])
			VMINPS(constant(1, j), bv[j], bv[j])
			VMAXPS(constant(2, j), bv[j], bv[j])
		}
		for r := 0; r < mr; r++ {
			t := v.vec()
			VBROADCASTSS(rowA(r), t)
			for j := range bv {
				VFMADD231PS(t, bv[j], acc[r][j])
			}
		}
		for _, b := range bases {
			ADDQ(stepA, b)
		}
		ADDQ(U8(8), offsets)
	}
	// One copy of the loops per column masking (see kernelVariant); each
	// runs tile after tile: the tile's constants into place, its rows
	// four at a time and then one at a time.
	loops := func(label string, masked bool) {
		Label(label + "_tile")
		n := GP64()
		MOVQ(seg, n)
		CMPQ(n, kcRem)
		CMOVQGT(kcRem, n)
		SUBQ(n, kcRem)
		ldq := Load(Param("ldq"), GP64())
		SHLQ(U8(2), ldq)
		for j := range nvec {
			for kind, m := range []Mem{
				{Base: qp, Disp: 4 * j * v.lanes},
				{Base: qp, Index: ldq, Scale: 1, Disp: 4 * j * v.lanes},
				{Base: qp, Index: ldq, Scale: 2, Disp: 4 * j * v.lanes},
			} {
				if keep == nil {
					load(m, j, constant(kind, j).(VecVirtual), masked)
					continue
				}
				t := v.vec()
				load(m, j, t, masked)
				keep(kind, j, t)
			}
		}
		n4 := GP64()
		MOVQ(n, n4)
		SHRQ(U8(2), n4)
		ANDQ(U8(3), n)
		TESTQ(n4, n4)
		JZ(LabelRef(label + "_tail"))
		Label(label + "_loop4")
		for range 4 {
			step(masked)
		}
		DECQ(n4)
		JNZ(LabelRef(label + "_loop4"))
		Label(label + "_tail")
		TESTQ(n, n)
		JZ(LabelRef(label + "_next"))
		Label(label + "_loop1")
		step(masked)
		DECQ(n)
		JNZ(LabelRef(label + "_loop1"))
		Label(label + "_next")
		TESTQ(kcRem, kcRem)
		JZ(LabelRef(name + "_store"))
		// The next tile: its constants are 3·ldq floats further.
		skip := Load(Param("ldq"), GP64())
		LEAQ(Mem{Base: skip, Index: skip, Scale: 2}, skip)
		SHLQ(U8(2), skip)
		ADDQ(skip, qp)
		Load(Param("tile"), seg)
		JMP(LabelRef(label + "_tile"))
	}
	CMPQ(paramAddr("cols"), U32(nr))
	JNE(LabelRef(name + "_masked"))
	loops(name+"_full", false)
	Label(name + "_masked")
	loops(name+"_masked", true)

	Label(name + "_store")
	epilogue(name, v, acc, kmask)
}

// stridedRowsA emits the set-up of an A read with run-time strides and
// returns how to address its row r, and the base registers that advance
// by the step per k. Rows of A are reached from bases four rows apart:
// row 4i+j is at base[i] + j·rowStride (rowStride in bytes), j ∈
// {0,1,2,3}, through the scale-1 and scale-2 index modes on rowStride and
// 3·rowStride. (Four rows per base keeps the 24-row kernel within the 14
// general registers Go assembly may use.)
func stridedRowsA(mr int, rowStride Register) (func(r int) Mem, []GPVirtual) {
	nb := (mr + 3) / 4
	three := GP64()
	LEAQ(Mem{Base: rowStride, Index: rowStride, Scale: 2}, three)
	bases := make([]GPVirtual, nb)
	bases[0] = GP64()
	Load(Param("a"), bases[0])
	for i := 1; i < nb; i++ {
		bases[i] = GP64()
		LEAQ(Mem{Base: bases[i-1], Index: rowStride, Scale: 4}, bases[i])
	}
	return func(r int) Mem {
		m := Mem{Base: bases[r/4]}
		switch r % 4 {
		case 1:
			m.Index, m.Scale = rowStride, 1
		case 2:
			m.Index, m.Scale = rowStride, 2
		case 3:
			m.Index, m.Scale = three, 1
		}
		return m
	}, bases
}

// prefetchSignature is the signature of the kernels that prefetch the
// rows of the next tile of A: kernelFunc's, plus the distance pf from a row
// of A to the row to prefetch, in floats.
const prefetchSignature = "func(kc int, a *float32, rsa, psa int, b *float32, psb int, c *float32, ldc, rows, cols int, alpha, beta float32, pf int)"

// prefetchingKernel emits a kernel for an A read in place from row-major
// storage (psa = 1; the psa argument is ignored) that also prefetches, for
// each row r of its tile, the floats pf further (the rows of the next
// tile, pf = mr·lda), as far along the row as it has itself got.
//
// An A streamed once from memory (a convolution's forward product, whose
// few columns make one panel of B) is bound by how fast its rows arrive.
// Prefetching a whole tile ahead in one burst before the kernel (the
// prefetchRows function) stalls the core until the line fill buffers
// drain, so the memory transfers and the arithmetic take turns; spread
// over the loop, one prefetch every few steps, they overlap. The loop is
// unrolled sixteen steps (one cache line of each row of A): each group of
// four steps prefetches a quarter of the rows, so each row gets one
// prefetch per line. The remainder (kc mod 16 steps) prefetches nothing.
func prefetchingKernel(name string, v isa, mr, nvec int) {
	nr := nvec * v.lanes
	TEXT(name, NOSPLIT, prefetchSignature)
	Doc(fmt.Sprintf("%s computes an %d×%d tile with %s+FMA from a row-major A in place, prefetching the rows pf floats further; see prefetchKernelFunc.", name, mr, nr, v.name))
	Pragma("noescape")

	kmask := columnMasks(Load(Param("cols"), GP64()), nvec)
	bp := Load(Param("b"), GP64())
	stepB := Load(Param("psb"), GP64())
	SHLQ(U8(2), stepB)
	rowStride := Load(Param("rsa"), GP64())
	SHLQ(U8(2), rowStride)
	pf := Load(Param("pf"), GP64())
	SHLQ(U8(2), pf)
	// Rows from bases four rows apart, as in kernelVariant; step u at a
	// displacement from them.
	rowOfA, bases := stridedRowsA(mr, rowStride)
	rowA := func(r, u int) Mem {
		m := rowOfA(r)
		m.Disp = 4 * u
		return m
	}

	prefetchC(mr, nr)
	acc := zeroAccumulators(v, mr, nvec)

	// step emits one k step at displacement u steps from the bases; B's
	// pointer moves after every step (its stride is only known at run
	// time).
	step := func(u int, masked bool) {
		bv := make([]VecVirtual, nvec)
		for j := range bv {
			bv[j] = v.vec()
			if masked {
				VMOVUPS_Z(Mem{Base: bp, Disp: 4 * j * v.lanes}, kmask[j], bv[j])
			} else {
				VMOVUPS(Mem{Base: bp, Disp: 4 * j * v.lanes}, bv[j])
			}
		}
		for r := 0; r < mr; r++ {
			if nvec == 1 {
				VFMADD231PS_BCST(rowA(r, u), bv[0], acc[r][0])
				continue
			}
			t := v.vec()
			VBROADCASTSS(rowA(r, u), t)
			for j := range bv {
				VFMADD231PS(t, bv[j], acc[r][j])
			}
		}
		ADDQ(stepB, bp)
	}

	// Plain loads of B for full panels, masked ones for edge panels (see
	// kernelVariant).
	const unroll = 16
	n := GP64()
	rest := GP64()
	loops := func(label string, masked bool) {
		Load(Param("kc"), n)
		SHRQ(U8(4), n)
		JZ(LabelRef(label + "_tail"))
		Label(label + "_loop16")
		for u := 0; u < unroll; u++ {
			// Steps 4s..4s+3 prefetch rows 4i+s, spread over the four steps.
			s := u / 4
			nb := len(bases)
			for i := 0; i < nb; i++ {
				if i*4/nb != u%4 {
					continue
				}
				r := 4*i + s
				if r >= mr {
					continue
				}
				m := rowA(r, 4*s)
				if m.Index == nil {
					PREFETCHT0(Mem{Base: m.Base, Index: pf, Scale: 1, Disp: m.Disp})
					continue
				}
				t := GP64()
				LEAQ(m, t)
				PREFETCHT0(Mem{Base: t, Index: pf, Scale: 1})
			}
			step(u, masked)
		}
		for _, b := range bases {
			ADDQ(U8(4*unroll), b)
		}
		DECQ(n)
		JNZ(LabelRef(label + "_loop16"))
		Label(label + "_tail")
		Load(Param("kc"), rest)
		ANDQ(U8(unroll-1), rest)
		JZ(LabelRef(name + "_store"))
		Label(label + "_loop1")
		step(0, masked)
		for _, b := range bases {
			ADDQ(U8(4), b)
		}
		DECQ(rest)
		JNZ(LabelRef(label + "_loop1"))
	}
	CMPQ(paramAddr("cols"), U32(nr))
	JNE(LabelRef(name + "_masked"))
	loops(name+"_full", false)
	JMP(LabelRef(name + "_store"))
	Label(name + "_masked")
	loops(name+"_masked", true)

	Label(name + "_store")
	epilogue(name, v, acc, kmask)
}

// columnMasks returns one opmask per vector of a row, with the lanes below
// cols set.
// prefetchC emits prefetches of the mr×nr tile of C (at Param c, rows
// ldc floats apart): it is written once at the end, and its lines arrive
// while the FMAs run.
func prefetchC(mr, nr int) {
	p := Load(Param("c"), GP64())
	ld := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ld)
	for r := 0; r < mr; r++ {
		for off := 0; off < nr*4; off += 64 {
			PREFETCHT0(Mem{Base: p, Disp: off})
		}
		if r+1 < mr {
			ADDQ(ld, p)
		}
	}
}

// zeroAccumulators returns the mr×nvec accumulator registers of a tile,
// zeroed.
func zeroAccumulators(v isa, mr, nvec int) [][]VecVirtual {
	acc := make([][]VecVirtual, mr)
	for r := range acc {
		acc[r] = make([]VecVirtual, nvec)
		for j := range acc[r] {
			acc[r][j] = v.vec()
			if v.bcast {
				VPXORD(acc[r][j], acc[r][j], acc[r][j])
			} else {
				VXORPS(acc[r][j], acc[r][j], acc[r][j])
			}
		}
	}
	return acc
}

// laneMasks returns AVX2's masks of the first cols lanes of nvec vectors
// (all bits set in a lane below cols), for VMASKMOVPS.
func laneMasks(v isa, cols Register, nvec int) []VecVirtual {
	colsX := XMM()
	MOVQ(cols, colsX)
	colsV := v.vec()
	VPBROADCASTD(colsX, colsV)
	masks := make([]VecVirtual, nvec)
	for j := range masks {
		masks[j] = v.vec()
		VPCMPGTD(laneIndices.Offset(4*v.lanes*j), colsV, masks[j])
	}
	return masks
}

func columnMasks(cols Register, nvec int) []OpmaskVirtual {
	bits := GP64()
	ones := GP64()
	MOVQ(I32(-1), ones)
	BZHIQ(cols, ones, bits)
	var masks []OpmaskVirtual
	for j := 0; j < nvec; j++ {
		k := K()
		KMOVW(bits.As32(), k)
		if j+1 < nvec {
			SHRQ(U8(16), bits)
		}
		masks = append(masks, k)
	}
	return masks
}

// epilogue scales the accumulators by alpha and writes them to C: a fast
// path for full tiles, and a masked path that writes only the first rows
// rows and cols columns of an edge tile (masked loads and stores do not
// touch, or fault on, memory outside the tile). Each path has a variant
// that reads C (beta ≠ 0) and one that only writes it.
func epilogue(name string, v isa, acc [][]VecVirtual, kmask []OpmaskVirtual) {
	mr, nvec := len(acc), len(acc[0])
	nr := nvec * v.lanes
	alpha := v.vec()
	VBROADCASTSS(paramAddr("alpha"), alpha)
	for r := range acc {
		for j := range acc[r] {
			VMULPS(alpha, acc[r][j], acc[r][j])
		}
	}
	cp := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
	rowsLeft := Load(Param("rows"), GP64())
	cols := Load(Param("cols"), GP64())
	// beta == ±0 exactly when its bits, sign cleared, are zero (a NaN beta
	// is not zero and takes the reading path).
	betaBits := GP32()
	MOVL(paramAddr("beta"), betaBits)
	ANDL(U32(0x7fffffff), betaBits)

	CMPQ(rowsLeft, U32(mr))
	JNE(LabelRef(name + "_edge"))
	CMPQ(cols, U32(nr))
	JNE(LabelRef(name + "_edge"))

	// Full tile.
	store(name+"_full", v, acc, cp, ldc, nil, nil, nil, betaBits)

	// Edge tile: AVX-512 kernels have their column masks already; build
	// AVX2's. An AVX2 tile whose columns are all there (fewer rows only:
	// the last panel of a product whose rows are not a multiple of mr)
	// stores with plain moves: VMASKMOVPS stores are slow on some CPUs (on
	// Zen 3 a 6×16 tile of 16 steps took 222 ns with 4 rows under masks
	// against 58 ns for 6 rows without, BENCHMARKS.md, session 18).
	Label(name + "_edge")
	var vmask []VecVirtual
	if !v.bcast {
		CMPQ(cols, U32(nr))
		JNE(LabelRef(name + "_colmasks"))
		store(name+"_rows", v, acc, cp, ldc, rowsLeft, nil, nil, betaBits)
		Label(name + "_colmasks")
		vmask = laneMasks(v, cols, nvec)
	}
	store(name+"_edge", v, acc, cp, ldc, rowsLeft, kmask, vmask, betaBits)
}

// store emits the two variants (reading C or not) of one epilogue path.
// With rowsLeft set, it stops after that many rows; with masks set, it
// loads and stores each vector under its column mask.
func store(name string, v isa, acc [][]VecVirtual, cp, ldc, rowsLeft Register, kmask []OpmaskVirtual, vmask []VecVirtual, betaBits Register) {
	mr, nvec := len(acc), len(acc[0])
	load := func(m Mem, j int, dst VecVirtual) {
		switch {
		case kmask != nil:
			VMOVUPS_Z(m, kmask[j], dst)
		case vmask != nil:
			VMASKMOVPS(m, vmask[j], dst)
		default:
			VMOVUPS(m, dst)
		}
	}
	put := func(src VecVirtual, j int, m Mem) {
		switch {
		case kmask != nil:
			VMOVUPS(src, kmask[j], m)
		case vmask != nil:
			VMASKMOVPS(src, vmask[j], m)
		default:
			VMOVUPS(src, m)
		}
	}
	TESTL(betaBits, betaBits)
	JZ(LabelRef(name + "_overwrite"))
	for _, readC := range []bool{true, false} {
		if !readC {
			Label(name + "_overwrite")
		}
		var beta VecVirtual
		if readC {
			beta = v.vec()
			VBROADCASTSS(paramAddr("beta"), beta)
		}
		ptr := GP64()
		MOVQ(cp, ptr)
		var rows Register
		if rowsLeft != nil {
			rows = GP64()
			MOVQ(rowsLeft, rows)
		}
		done := fmt.Sprintf("%s_done_%v", name, readC)
		for r := 0; r < mr; r++ {
			for j := 0; j < nvec; j++ {
				m := Mem{Base: ptr, Disp: 4 * v.lanes * j}
				if readC {
					if kmask == nil && vmask == nil {
						VFMADD231PS(m, beta, acc[r][j])
					} else {
						t := v.vec()
						load(m, j, t)
						VFMADD231PS(t, beta, acc[r][j])
					}
				}
				put(acc[r][j], j, m)
			}
			if r+1 < mr {
				if rows != nil {
					DECQ(rows)
					JZ(LabelRef(done))
				}
				ADDQ(ldc, ptr)
			}
		}
		Label(done)
		VZEROUPPER()
		RET()
	}
}

// paramAddr is the stack address of a scalar argument.
func paramAddr(name string) Mem {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

// prefetchRows emits a function that asks for rows·n floats, rows of n
// floats ld floats apart, to be brought into the L1 cache: the next tile's
// rows of an A that is read in place, fetched while the current tile
// computes. Prefetches are hints; they never fault.
func prefetchRows() {
	TEXT("prefetchRows", NOSPLIT, "func(p *float32, ld, rows, n int)")
	Doc("prefetchRows prefetches rows rows of n floats, ld floats apart, from p.")
	Pragma("noescape")
	p := Load(Param("p"), GP64())
	ld := Load(Param("ld"), GP64())
	SHLQ(U8(2), ld)
	rows := Load(Param("rows"), GP64())
	n := Load(Param("n"), GP64())
	SHLQ(U8(2), n)
	TESTQ(rows, rows)
	JZ(LabelRef("prefetch_done"))
	Label("prefetch_row")
	off := GP64()
	XORQ(off, off)
	Label("prefetch_line")
	PREFETCHT0(Mem{Base: p, Index: off, Scale: 1})
	ADDQ(U8(64), off)
	CMPQ(off, n)
	JLT(LabelRef("prefetch_line"))
	ADDQ(ld, p)
	DECQ(rows)
	JNZ(LabelRef("prefetch_row"))
	Label("prefetch_done")
	RET()
}

// packStrips emits the copy that packs an operand whose panels are strips
// of its stored rows (B, or a transposed A): for each of rows rows of src
// (ld floats apart), its first panels·w floats go, w at a time, to panels
// pstride floats apart, row p of each at p·w. Widths up to 32 floats are
// copied under masks as one or two vectors, so no width needs a short loop.
func packStrips() {
	TEXT("packStrips", NOSPLIT, "func(dst, src *float32, ld, rows, w, panels, pstride int)")
	Doc("packStrips copies rows rows of panels strips of w ≤ 32 floats from src (rows ld apart) to panels pstride apart in dst (rows w apart).")
	Pragma("noescape")
	w := Load(Param("w"), GP64())
	k := columnMasks(w, 2)
	SHLQ(U8(2), w)
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	ld := Load(Param("ld"), GP64())
	SHLQ(U8(2), ld)
	pstride := Load(Param("pstride"), GP64())
	SHLQ(U8(2), pstride)
	rows := Load(Param("rows"), GP64())
	panels := Load(Param("panels"), GP64())
	TESTQ(rows, rows)
	JZ(LabelRef("strips_done"))
	TESTQ(panels, panels)
	JZ(LabelRef("strips_done"))
	Label("strips_row")
	s, d, q := GP64(), GP64(), GP64()
	MOVQ(src, s)
	MOVQ(dst, d)
	MOVQ(panels, q)
	Label("strips_panel")
	lo, hi := ZMM(), ZMM()
	VMOVUPS_Z(Mem{Base: s}, k[0], lo)
	VMOVUPS_Z(Mem{Base: s, Disp: 64}, k[1], hi)
	VMOVUPS(lo, k[0], Mem{Base: d})
	VMOVUPS(hi, k[1], Mem{Base: d, Disp: 64})
	ADDQ(w, s)
	ADDQ(pstride, d)
	DECQ(q)
	JNZ(LabelRef("strips_panel"))
	ADDQ(ld, src)
	ADDQ(w, dst)
	DECQ(rows)
	JNZ(LabelRef("strips_row"))
	Label("strips_done")
	VZEROUPPER()
	RET()
}
