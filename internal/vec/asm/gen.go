// Command asm generates the SIMD kernels of package vec with avo.
//
// It lives in its own module so that avo stays out of mirage's dependency
// list. Regenerate from this directory with
//
//	go run . -out ../kernels_amd64.s -stubs ../kernels_amd64.go -pkg vec
//
// The elementwise kernels exist for AVX2 (8 float32 lanes, ymm), the
// reductions for AVX2 and two of them also for AVX-512 (16 lanes, zmm);
// see main for why. Each
// handles n elements, n a positive multiple of its lane count: package vec
// runs the remainder through its Go loops, which compute the same values.
//
// The elementwise kernels must give the bits the Go loops give, so they:
//
//   - multiply and add separately (no FMA), in the order of the Go
//     expression, since Go on amd64 does not fuse x*a + b by default;
//   - give each arithmetic instruction the same first source operand as the
//     code the Go compiler emits for those loops (Go 1.26, default build).
//     When both operands of an addition or product are NaN, x86 returns the
//     first source's NaN (quieted), so the order decides the NaN's sign and
//     payload, and the sign decides what a following ReLU does with it. Go
//     does not specify that order: for the accumulations (dst += ...) it
//     differs between a default and a -race build of the same loop, so
//     there only "some NaN" is certain;
//   - implement ReLU's mask exactly as package vec's Go code does, as a
//     signed integer comparison of the float's bits with 0: a value passes
//     when its sign bit is clear and it is not +0, so −0 becomes +0, a NaN
//     with the sign bit clear passes and one with it set becomes +0.
//     max(x, 0) on the bits as int32 (VPMAXSD) is exactly that.
//
// The reductions accumulate float64 sums of float32 data in vector
// registers and add the lanes up at the end, so their rounding differs from
// the Go loops' (package vec's tests bound the difference). Each term is
// the same as in Go: x−k is rounded to float32 before the conversion, and
// the products of two float32 values are exact in float64, so an FMA there
// rounds exactly as a product and a sum would.
package main

import (
	"fmt"
	"math/bits"
	"strings"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// isa describes the vector unit a kernel targets.
type isa struct {
	name  string
	lanes int               // float32 lanes per vector register
	vec   func() VecVirtual // a full vector register
	half  func() VecVirtual // half of one: the float32 input of a conversion to float64
	evex  bool              // AVX-512: comparisons write opmask registers
}

var (
	avx2   = isa{name: "AVX2", lanes: 8, vec: YMM, half: XMM}
	avx512 = isa{name: "AVX512", lanes: 16, vec: ZMM, half: YMM, evex: true}
)

// kernel describes one kernel: its pointer and float32 arguments and the
// code for one vector (elementwise) or half a vector (reductions).
type kernel struct {
	name    string
	doc     string
	ptrs    []string // *float32 arguments, before n (a gradient is gr: g names a register in Go assembly)
	scalars []string // float32 arguments, after n
	zero    bool     // the body uses env.zero
	avx512  bool     // reductions: also emit an AVX-512 version (see main)
	// Elementwise kernels: body emits the code for the vector at each
	// pointer plus off bytes.
	body func(e *env, off int)
	// Reductions: step emits the code for the half vector at each pointer
	// plus off bytes, adding into the two float64 accumulators a and b.
	step func(e *env, off int, a, b VecVirtual)
}

// env is what a kernel's body sees: the vector unit, the pointers, the
// broadcast scalars and a zero vector.
type env struct {
	v       isa
	ptr     map[string]Register
	scalar  map[string]VecVirtual
	zero    VecVirtual
	half    bool // reductions: scalars and zero are half vectors
	unroll  int
	perStep int // float32 elements per body or step
}

// at addresses pointer p plus off bytes.
func (e *env) at(p string, off int) Mem { return Mem{Base: e.ptr[p], Disp: off} }

// positive returns g where m > 0 and +0 elsewhere (see the package doc for
// the exact rule), for the vector at off.
func (e *env) positive(g, m string, off int) VecVirtual {
	t := e.v.vec()
	VMOVUPS(e.at(m, off), t)
	if e.v.evex {
		k := K()
		VPCMPGTD(e.zero, t, k) // k = m > 0 as int32
		VMOVUPS_Z(e.at(g, off), k, t)
		return t
	}
	VPCMPGTD(e.zero, t, t) // t = m > 0 as int32: all ones or zero
	VPAND(e.at(g, off), t, t)
	return t
}

// positiveHalf is positive for half a vector, with VEX-encoded AVX2
// instructions on either unit (AVX-512 needs AVX512VL to compare ymm
// registers into an opmask).
func (e *env) positiveHalf(g, m string, off int) VecVirtual {
	t := e.v.half()
	VMOVUPS(e.at(m, off), t)
	VPCMPGTD(e.zero, t, t)
	VPAND(e.at(g, off), t, t)
	return t
}

// positiveOf returns g where y·a + b > 0 and +0 elsewhere, for the vector
// at off, y loaded already: the mask of AxpbReLU, recomputed with its
// instructions and operand order (y·a with y the first source, then + b),
// so a NaN in y, a or b decides it exactly as it decides AxpbReLU's output.
// The AVX2 comparison serves both units: these kernels are AVX2 only.
func (e *env) positiveOf(g string, y VecVirtual, off int) VecVirtual {
	t := e.v.vec()
	VMULPS(e.scalar["a"], y, t) // y·a, first source y
	VADDPS(e.scalar["b"], t, t)
	VPCMPGTD(e.zero, t, t) // t = y·a + b > 0 as int32
	VPAND(e.at(g, off), t, t)
	return t
}

// positiveOfHalf is positiveOf for half a vector (the scalars and zero are
// half vectors in the reductions), with VEX-encoded AVX2 instructions on
// either unit, as positiveHalf.
func (e *env) positiveOfHalf(g string, y VecVirtual, off int) VecVirtual {
	t := e.v.half()
	VMULPS(e.scalar["a"], y, t) // y·a, first source y
	VADDPS(e.scalar["b"], t, t)
	VPCMPGTD(e.zero, t, t)
	VPAND(e.at(g, off), t, t)
	return t
}

func main() {
	ConstraintExpr("!purego")
	// The elementwise kernels are AVX2 only: they stream their operands
	// once and are bound by the caches' and memory's bandwidth, which ymm
	// registers already saturate. Measured on a Sapphire Rapids core (one
	// goroutine, 64 KiB and 4 MiB slices), zmm versions were between 10%
	// faster and 10% slower than these, kernel by kernel, and would double
	// the length of the tails left to Go.
	for _, k := range elementwise() {
		emitElementwise(avx2, k)
	}
	// Three of the reductions pay for AVX-512 (converting to float64 halves
	// the lanes): on the same core, with 64 KiB of data, zmm ShiftedSums
	// took 0.71 of the ymm time and SumAndDotMasked 0.84 (from memory
	// 0.9 and 1.0), while zmm SumAndDot was 7% slower than ymm (1.0 from
	// memory), so it has no AVX-512 version. SumAndDotReLUOf, SumAndDotMasked
	// with the mask recomputed, has both too: zmm took 0.81 of the ymm
	// time with 64 KiB of data (on this project's Xeon with AVX-512).
	for _, k := range reductions() {
		emitReduction(avx2, k)
		if k.avx512 {
			emitReduction(avx512, k)
		}
	}
	transpose8()
	windows()
	exactWindows()
	Generate()
}

// windows emits Windows for windows at most 8 floats wide: each row of a
// window (width floats) is one ymm load and one store under the opmask
// mask = 2^width − 1, instead of width scalar moves. AVX-512 (F and VL)
// for the opmask: masked-off lanes are neither read nor written, so no row
// is written past its width, and a load that would cross into an unmapped
// page only there does not fault. Pure data movement, so the result is
// exact.
//
// There is no such kernel for the adjoint (adding rows back onto
// overlapping windows, col2im): there a row's masked load reads what the
// previous window's masked store wrote at another offset, which the core
// cannot forward from the store, and the masked version was slower than
// the scalar Go loop (8.0% of a bfp ResNet-20 step's CPU time against
// 6.8%, in CPU profiles).
func windows() {
	const name = "windowsAVX512"
	TEXT(name, NOSPLIT, "func(rows *float32, img *float32, n, step, blocks, plane, height, ld int, mask uint32)")
	Doc(name + " copies row r of block c of window j, img[j·step + c·plane + r·ld + i] for i < width, to the next width floats of rows, for j < n, c < blocks, r < height in that order, with AVX-512; mask is 2^width − 1, width ≤ 8; n, blocks and height are positive.")
	Pragma("noescape")
	w := loadWindowLoops()
	maskBits := Load(Param("mask"), GP32())
	mask := K()
	KMOVW(maskBits, mask)
	width := GP64() // bytes of rows per window row: popcount(mask)·4
	POPCNTL(maskBits, width.As32())
	SHLQ(U8(2), width)
	w.width = width
	x := YMM()
	w.emit(name, func(row Register) {
		VMOVUPS_Z(Mem{Base: row}, mask, x)
		VMOVUPS(x, mask, Mem{Base: w.rows})
	})
}

// windowLoops are the registers of Windows' three loops (windows, blocks,
// rows), the strides in bytes.
type windowLoops struct {
	rows, img, n, step, blocks, plane, height, ld, width Register
}

// loadWindowLoops loads the parameters Windows' kernels share, the
// strides scaled to bytes; the caller sets width.
func loadWindowLoops() windowLoops {
	w := windowLoops{
		rows: Load(Param("rows"), GP64()), img: Load(Param("img"), GP64()), n: Load(Param("n"), GP64()),
		step: Load(Param("step"), GP64()), blocks: Load(Param("blocks"), GP64()), plane: Load(Param("plane"), GP64()),
		height: Load(Param("height"), GP64()), ld: Load(Param("ld"), GP64()),
	}
	SHLQ(U8(2), w.step)
	SHLQ(U8(2), w.plane)
	SHLQ(U8(2), w.ld)
	return w
}

// emit emits the loops, labelled from prefix, with move copying the row
// at the address in row to rows, and the return.
func (w windowLoops) emit(prefix string, move func(row Register)) {
	block, row := GP64(), GP64()
	c, r := GP64(), GP64()
	Label(prefix + "_window")
	MOVQ(w.img, block)
	MOVQ(w.blocks, c)
	Label(prefix + "_block")
	MOVQ(w.height, r)
	MOVQ(block, row)
	Label(prefix + "_row")
	move(row)
	ADDQ(w.width, w.rows)
	ADDQ(w.ld, row)
	DECQ(r)
	JNZ(LabelRef(prefix + "_row"))
	ADDQ(w.plane, block)
	DECQ(c)
	JNZ(LabelRef(prefix + "_block"))
	ADDQ(w.step, w.img)
	DECQ(w.n)
	JNZ(LabelRef(prefix + "_window"))
	VZEROUPPER()
	RET()
}

// exactWindows emits Windows for AVX2, which has no opmask: a window row
// of width floats, 2 ≤ width ≤ 8, is copied by two moves of 2 floats
// (width ≤ 4) or 4 floats (width > 4), the second starting width − 2 or
// width − 4 floats into the row, so that together they cover the row
// exactly (overlapping in its middle, where both write the same values);
// a row of one float by one scalar move. Nothing is read or written past
// a row, so every window is copied here, none left to the Go loop (an
// earlier kernel moved 4 or 8 floats per row, writing past the row, and
// left the last windows of each call to Go: 3 of LeNet-5's 8 per output
// row of its 5-wide conv2). Pure data movement, so the result is exact.
func exactWindows() {
	const name = "windowsAVX2"
	TEXT(name, NOSPLIT, "func(rows *float32, img *float32, n, step, blocks, plane, height, ld, width int)")
	Doc(name + " copies row r of block c of window j, img[j·step + c·plane + r·ld + i] for i < width, to the next width floats of rows, for j < n, c < blocks, r < height in that order, with AVX2, reading and writing nothing past a row; 1 ≤ width ≤ 8; n, blocks and height are positive.")
	Pragma("noescape")
	w := loadWindowLoops()
	width := Load(Param("width"), GP64())
	SHLQ(U8(2), width) // bytes of rows per window row
	w.width = width
	second := GP64() // where the second move starts, in bytes
	MOVQ(width, second)
	CMPQ(width, U8(4))
	JEQ(LabelRef(name + "_one"))
	CMPQ(width, U8(16))
	JGT(LabelRef(name + "_wide"))
	SUBQ(U8(8), second)
	w.emit(name+"_narrow", twoMoves(w, second, func(src, dst Op) { VMOVSD(src, dst) }))
	Label(name + "_wide")
	SUBQ(U8(16), second)
	w.emit(name+"_wide", twoMoves(w, second, func(src, dst Op) { VMOVUPS(src, dst) }))
	Label(name + "_one")
	z := XMM()
	w.emit(name+"_one", func(row Register) {
		VMOVSS(Mem{Base: row}, z)
		VMOVSS(z, Mem{Base: w.rows})
	})
}

// twoMoves returns exactWindows' copy of a row: mov (8 or 16 bytes) from
// the row's start and from second bytes into it, to the same places of
// rows.
func twoMoves(w windowLoops, second Register, mov func(src, dst Op)) func(row Register) {
	x, x2 := XMM(), XMM()
	return func(row Register) {
		mov(Mem{Base: row}, x)
		mov(Mem{Base: row, Index: second, Scale: 1}, x2)
		mov(x, Mem{Base: w.rows})
		mov(x2, Mem{Base: w.rows, Index: second, Scale: 1})
	}
}

// transpose8 emits the transposition of 8 rows: n floats of each of 8
// rows of src, lds floats apart, go to n rows of 8 floats of dst, ldd
// floats apart (dst[x·ldd + r] = src[r·lds + x]), one 8×8 block at a time
// in ymm registers (unpack, shuffle, then swap 128-bit halves). Pure data
// movement, so the result is exact.
func transpose8() {
	TEXT("transpose8AVX2", NOSPLIT, "func(dst *float32, ldd int, src *float32, lds int, n int)")
	Doc("transpose8AVX2 sets dst[x·ldd + r] = src[r·lds + x] for r < 8 and x < n with AVX2; n must be a positive multiple of 8.")
	Pragma("noescape")
	dst := Load(Param("dst"), GP64())
	ldd := Load(Param("ldd"), GP64())
	SHLQ(U8(2), ldd)
	src := Load(Param("src"), GP64())
	lds := Load(Param("lds"), GP64())
	SHLQ(U8(2), lds)
	n := Load(Param("n"), GP64())
	SHRQ(U8(3), n)
	// Row pointers of src: src + r·lds for r < 8.
	rowp := make([]GPVirtual, 8)
	for r := range rowp {
		rowp[r] = GP64()
		if r == 0 {
			MOVQ(src, rowp[r])
			continue
		}
		MOVQ(rowp[r-1], rowp[r])
		ADDQ(lds, rowp[r])
	}
	Label("transpose8_block")
	rows := make([]VecVirtual, 8)
	for r := range rows {
		rows[r] = YMM()
		VMOVUPS(Mem{Base: rowp[r]}, rows[r])
	}
	t := make([]VecVirtual, 8)
	for i := 0; i < 4; i++ {
		t[2*i], t[2*i+1] = YMM(), YMM()
		VUNPCKLPS(rows[2*i+1], rows[2*i], t[2*i])   // a0 b0 a1 b1 | a4 b4 a5 b5
		VUNPCKHPS(rows[2*i+1], rows[2*i], t[2*i+1]) // a2 b2 a3 b3 | a6 b6 a7 b7
	}
	q := make([]VecVirtual, 8)
	for h := 0; h < 2; h++ { // rows 0–3, then rows 4–7
		for i := 0; i < 2; i++ {
			lo, hi := t[4*h+i], t[4*h+2+i]
			q[4*h+2*i], q[4*h+2*i+1] = YMM(), YMM()
			VSHUFPS(U8(0x44), hi, lo, q[4*h+2*i])   // a b c d of column 4i·… (even)
			VSHUFPS(U8(0xEE), hi, lo, q[4*h+2*i+1]) // … (odd)
		}
	}
	// q[c] (c < 4) holds columns c and c+4 of rows 0–3, q[4+c] those of
	// rows 4–7; the 128-bit halves make the columns.
	d := GP64()
	MOVQ(dst, d)
	for c := 0; c < 8; c++ {
		out := YMM()
		imm := U8(0x20)
		if c >= 4 {
			imm = U8(0x31)
		}
		VPERM2F128(imm, q[4+c%4], q[c%4], out)
		VMOVUPS(out, Mem{Base: d})
		ADDQ(ldd, d)
	}
	MOVQ(d, dst)
	for r := range rowp {
		ADDQ(U8(32), rowp[r])
	}
	DECQ(n)
	JNZ(LabelRef("transpose8_block"))
	VZEROUPPER()
	RET()
}

// elementwise lists the elementwise kernels. The comments give the Go
// expression each one matches bit for bit; pos(g, m) is g where m > 0, else
// +0.
func elementwise() []kernel {
	// affine2 emits g·p + x·q + r (with g masked by m when m is set), added
	// to dst when add is set, for one vector.
	affine2 := func(e *env, off int, m string, add bool) {
		var gp VecVirtual
		if m != "" {
			gp = e.positive("gr", m, off)
		} else {
			gp = e.v.vec()
			VMOVUPS(e.at("gr", off), gp)
		}
		VMULPS(e.scalar["p"], gp, gp) // g·p, first source g
		xq := e.v.vec()
		VMOVUPS(e.at("x", off), xq)
		VMULPS(e.scalar["q"], xq, xq) // x·q, first source x
		affine2End(e, off, gp, xq, add)
	}
	// affine2ReLUOf emits g'·p + y·q + r with g' = pos(g, y·a + b), added
	// to dst when add is set, for one vector: affine2 with the mask of
	// AxpbReLU recomputed from y, which stays in a register for both uses.
	affine2ReLUOf := func(e *env, off int, add bool) {
		y := e.v.vec()
		VMOVUPS(e.at("y", off), y)
		gp := e.positiveOf("gr", y, off)
		VMULPS(e.scalar["p"], gp, gp) // g·p, first source g
		yq := e.v.vec()
		VMULPS(e.scalar["q"], y, yq) // y·q, first source y
		affine2End(e, off, gp, yq, add)
	}
	// axpb emits x·a + b, then ReLU when relu is set.
	axpb := func(e *env, off int, relu bool) {
		t := e.v.vec()
		VMOVUPS(e.at("x", off), t)
		VMULPS(e.scalar["a"], t, t) // x·a, first source x
		VADDPS(e.scalar["b"], t, t)
		if relu {
			VPMAXSD(e.zero, t, t)
		}
		VMOVUPS(t, e.at("y", off))
	}
	return []kernel{
		{
			name: "relu", doc: "sets y[i] = relu(x[i])",
			ptrs: []string{"y", "x"}, zero: true,
			body: func(e *env, off int) {
				t := e.v.vec()
				VPMAXSD(e.at("x", off), e.zero, t)
				VMOVUPS(t, e.at("y", off))
			},
		},
		{
			name: "addReLU", doc: "sets y[i] = relu(a[i] + b[i])",
			ptrs: []string{"y", "a", "b"}, zero: true,
			body: func(e *env, off int) {
				t := e.v.vec()
				VMOVUPS(e.at("a", off), t)
				VADDPS(e.at("b", off), t, t) // a + b, first source a
				VPMAXSD(e.zero, t, t)
				VMOVUPS(t, e.at("y", off))
			},
		},
		{
			name: "maskPositive", doc: "sets dst[i] = pos(gr[i], m[i])",
			ptrs: []string{"dst", "gr", "m"}, zero: true,
			body: func(e *env, off int) {
				VMOVUPS(e.positive("gr", "m", off), e.at("dst", off))
			},
		},
		{
			name: "addMaskPositive", doc: "adds pos(gr[i], m[i]) to dst[i]",
			ptrs: []string{"dst", "gr", "m"}, zero: true,
			body: func(e *env, off int) {
				t := e.positive("gr", "m", off)
				d := e.v.vec()
				VMOVUPS(e.at("dst", off), d)
				VADDPS(t, d, d) // dst + pos: here Go's code has dst first (see the package doc)
				VMOVUPS(d, e.at("dst", off))
			},
		},
		{
			name: "add", doc: "adds x[i] to dst[i]",
			ptrs: []string{"dst", "x"},
			body: func(e *env, off int) {
				d := e.v.vec()
				VMOVUPS(e.at("dst", off), d)
				VADDPS(e.at("x", off), d, d) // dst + x: Go's dst[i] += x[i] has dst first
				VMOVUPS(d, e.at("dst", off))
			},
		},
		{
			name: "axpb", doc: "sets y[i] = x[i]·a + b",
			ptrs: []string{"y", "x"}, scalars: []string{"a", "b"},
			body: func(e *env, off int) { axpb(e, off, false) },
		},
		{
			name: "axpbReLU", doc: "sets y[i] = relu(x[i]·a + b)",
			ptrs: []string{"y", "x"}, scalars: []string{"a", "b"}, zero: true,
			body: func(e *env, off int) { axpb(e, off, true) },
		},
		{
			name: "affine2", doc: "sets dst[i] = gr[i]·p + x[i]·q + r",
			ptrs: []string{"dst", "gr", "x"}, scalars: []string{"p", "q", "r"},
			body: func(e *env, off int) { affine2(e, off, "", false) },
		},
		{
			name: "addAffine2", doc: "adds gr[i]·p + x[i]·q + r to dst[i]",
			ptrs: []string{"dst", "gr", "x"}, scalars: []string{"p", "q", "r"},
			body: func(e *env, off int) { affine2(e, off, "", true) },
		},
		{
			name: "affine2Masked", doc: "sets dst[i] = pos(gr[i], m[i])·p + x[i]·q + r",
			ptrs: []string{"dst", "gr", "x", "m"}, scalars: []string{"p", "q", "r"}, zero: true,
			body: func(e *env, off int) { affine2(e, off, "m", false) },
		},
		{
			name: "addAffine2Masked", doc: "adds pos(gr[i], m[i])·p + x[i]·q + r to dst[i]",
			ptrs: []string{"dst", "gr", "x", "m"}, scalars: []string{"p", "q", "r"}, zero: true,
			body: func(e *env, off int) { affine2(e, off, "m", true) },
		},
		{
			name: "affine2ReLUOf", doc: "sets dst[i] = pos(gr[i], y[i]·a + b)·p + y[i]·q + r",
			ptrs: []string{"dst", "gr", "y"}, scalars: []string{"a", "b", "p", "q", "r"}, zero: true,
			body: func(e *env, off int) { affine2ReLUOf(e, off, false) },
		},
		{
			name: "addAffine2ReLUOf", doc: "adds pos(gr[i], y[i]·a + b)·p + y[i]·q + r to dst[i]",
			ptrs: []string{"dst", "gr", "y"}, scalars: []string{"a", "b", "p", "q", "r"}, zero: true,
			body: func(e *env, off int) { affine2ReLUOf(e, off, true) },
		},
	}
}

// affine2End emits gp + xq + r (gp = g·p and xq = x·q already computed),
// added to dst when add is set, and stores it at dst plus off bytes.
func affine2End(e *env, off int, gp, xq VecVirtual, add bool) {
	VADDPS(gp, xq, xq) // x·q + g·p: Go's code has x·q first
	VADDPS(e.scalar["r"], xq, xq)
	if add {
		VADDPS(e.at("dst", off), xq, xq) // expression + dst, expression first
	}
	VMOVUPS(xq, e.at("dst", off))
}

// reductions lists the float64 reductions.
func reductions() []kernel {
	return []kernel{
		{
			name: "shiftedSums", doc: "returns Σ(x[i]−k) and Σ(x[i]−k)² (x[i]−k rounded to float32)",
			ptrs: []string{"x"}, scalars: []string{"k"}, avx512: true,
			step: func(e *env, off int, s, q VecVirtual) {
				t := e.v.half()
				VMOVUPS(e.at("x", off), t)
				VSUBPS(e.scalar["k"], t, t)
				d := e.v.vec()
				VCVTPS2PD(t, d)
				VADDPD(d, s, s)
				VFMADD231PD(d, d, q)
			},
		},
		{
			name: "sumAndDot", doc: "returns Σgr[i] and Σgr[i]·x[i]",
			ptrs: []string{"gr", "x"},
			step: func(e *env, off int, s, d VecVirtual) {
				g, x := e.v.vec(), e.v.vec()
				VCVTPS2PD(e.at("gr", off), g)
				VCVTPS2PD(e.at("x", off), x)
				VADDPD(g, s, s)
				VFMADD231PD(g, x, d)
			},
		},
		{
			name: "sumAndDotReLUOf", doc: "returns Σpos(gr[i], y[i]·a + b) and Σpos(gr[i], y[i]·a + b)·y[i]",
			ptrs: []string{"gr", "y"}, scalars: []string{"a", "b"}, zero: true, avx512: true,
			step: func(e *env, off int, s, d VecVirtual) {
				y := e.v.half()
				VMOVUPS(e.at("y", off), y)
				g, yd := e.v.vec(), e.v.vec()
				VCVTPS2PD(e.positiveOfHalf("gr", y, off), g)
				VCVTPS2PD(y, yd)
				VADDPD(g, s, s)
				VFMADD231PD(g, yd, d)
			},
		},
		{
			name: "sumAndDotMasked", doc: "returns Σpos(gr[i], m[i]) and Σpos(gr[i], m[i])·x[i]",
			ptrs: []string{"gr", "x", "m"}, zero: true, avx512: true,
			step: func(e *env, off int, s, d VecVirtual) {
				g, x := e.v.vec(), e.v.vec()
				VCVTPS2PD(e.positiveHalf("gr", "m", off), g)
				VCVTPS2PD(e.at("x", off), x)
				VADDPD(g, s, s)
				VFMADD231PD(g, x, d)
			},
		},
	}
}

// begin emits a kernel's header and loads its arguments.
func begin(v isa, k kernel, results string, half bool) *env {
	name := k.name + v.name
	sig := "func(" + strings.Join(k.ptrs, ", ") + " *float32, n int"
	if len(k.scalars) > 0 {
		sig += ", " + strings.Join(k.scalars, ", ") + " float32"
	}
	sig += ")" + results
	TEXT(name, NOSPLIT, sig)
	doc := fmt.Sprintf("%s %s over i < n with %s", name, k.doc, v.name)
	if strings.Contains(k.doc, "pos(") {
		doc += ", where pos(g, m) is g if m > 0, else +0"
	}
	Doc(fmt.Sprintf("%s; n must be a positive multiple of %d.", doc, v.lanes))
	Pragma("noescape")
	e := &env{v: v, ptr: map[string]Register{}, scalar: map[string]VecVirtual{}, half: half}
	for _, p := range k.ptrs {
		e.ptr[p] = Load(Param(p), GP64())
	}
	newVec := v.vec
	if half {
		newVec = v.half
	}
	for _, s := range k.scalars {
		r := newVec()
		VBROADCASTSS(paramAddr(s), r)
		e.scalar[s] = r
	}
	if k.zero {
		e.zero = newVec()
		zero(v, e.zero)
	}
	return e
}

// loops emits a main loop running unroll bodies per pass and a remainder
// loop running one, each body covering perBody float32 elements; the
// remainder loop runs at most unroll−1 times since n is a multiple of
// perBody.
func loops(name string, e *env, n Register, unroll, perBody int, body func(u int), advance func(elems int)) {
	blocks := GP64()
	MOVQ(n, blocks)
	SHRQ(U8(bits.TrailingZeros(uint(unroll*perBody))), blocks)
	SHRQ(U8(bits.TrailingZeros(uint(perBody))), n)
	ANDQ(U8(unroll-1), n)
	TESTQ(blocks, blocks)
	JZ(LabelRef(name + "_tail"))
	Label(name + "_loop")
	for u := 0; u < unroll; u++ {
		body(u)
	}
	advance(unroll * perBody)
	DECQ(blocks)
	JNZ(LabelRef(name + "_loop"))
	Label(name + "_tail")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	Label(name + "_loop1")
	body(0)
	advance(perBody)
	DECQ(n)
	JNZ(LabelRef(name + "_loop1"))
	Label(name + "_done")
}

// advancer returns a function moving every pointer of e past elems floats.
func advancer(e *env, k kernel) func(int) {
	return func(elems int) {
		for _, p := range k.ptrs {
			ADDQ(U32(4*elems), e.ptr[p])
		}
	}
}

// emitElementwise emits an elementwise kernel: four vectors per pass of the
// main loop (the loop overhead is then small next to the memory traffic),
// then one at a time.
func emitElementwise(v isa, k kernel) {
	e := begin(v, k, "", false)
	n := Load(Param("n"), GP64())
	name := k.name + v.name
	loops(name, e, n, 4, v.lanes, func(u int) { k.body(e, 4*v.lanes*u) }, advancer(e, k))
	VZEROUPPER()
	RET()
}

// emitReduction emits a reduction with four pairs of float64 accumulators:
// each half vector converts to one float64 vector, and four independent
// chains cover the latency of the additions. The remainder loop runs whole
// vectors (two halves) into the first two pairs.
func emitReduction(v isa, k kernel) {
	e := begin(v, k, "(float64, float64)", true)
	n := Load(Param("n"), GP64())
	name := k.name + v.name
	const pairs = 4
	var acc [2][pairs]VecVirtual
	for i := range acc {
		for j := range acc[i] {
			acc[i][j] = v.vec()
			zero(v, acc[i][j])
		}
	}
	halfBytes := 2 * v.lanes // bytes in half a vector of float32
	loops(name, e, n, 2, v.lanes, func(u int) {
		// Vector u of the pass is halves 2u and 2u+1.
		for h := 0; h < 2; h++ {
			j := 2*u + h
			k.step(e, halfBytes*j, acc[0][j], acc[1][j])
		}
	}, advancer(e, k))
	sums := [2]Register{horizontalSum(v, acc[0][:]), horizontalSum(v, acc[1][:])}
	// Clear the upper halves before the SSE stores of the results, which
	// would otherwise pay for a state transition on some CPUs.
	VZEROUPPER()
	for i, r := range sums {
		Store(r, ReturnIndex(i))
	}
	RET()
}

// horizontalSum adds the accumulators, (a0+a1)+(a2+a3), and then the
// lanes of the result, into the low lane of an xmm register.
func horizontalSum(v isa, acc []VecVirtual) Register {
	VADDPD(acc[1], acc[0], acc[0])
	VADDPD(acc[3], acc[2], acc[2])
	VADDPD(acc[2], acc[0], acc[0])
	y := acc[0].AsY()
	if v.evex {
		t := YMM()
		VEXTRACTF64X4(U8(1), acc[0], t)
		VADDPD(t, acc[0].AsY(), t)
		y = t
	}
	x := XMM()
	VEXTRACTF128(U8(1), y, x)
	VADDPD(x, y.(Vec).AsX(), x)
	h := XMM()
	VPERMILPD(U8(1), x, h)
	VADDSD(h, x, x)
	return x
}

// zero clears r: with VPXORD on a zmm register (AVX512F encodes every
// register; a VEX instruction reaches only the first 16), with VPXOR
// otherwise.
func zero(v isa, r VecVirtual) {
	if v.evex {
		z := r.AsZ()
		VPXORD(z, z, z)
		return
	}
	VPXOR(r, r, r)
}

// paramAddr is the stack address of a scalar argument.
func paramAddr(name string) Mem {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}
