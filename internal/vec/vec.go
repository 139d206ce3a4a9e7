// Package vec holds the float32 vector kernels of mirage's elementwise ops
// (ReLU, the batch-norm affine maps and their reductions) and of the data
// movement around convolutions (Transpose8, and Windows, which gathers
// receptive fields into im2col rows), in assembly for AVX2 and AVX-512
// with Go loops for other CPUs and for the ends of slices the assembly
// does not cover.
//
// The kernel set is chosen once, when the package is initialised, from the
// CPU's features (see select_amd64.go); build with the purego tag to use
// the Go loops only.
//
// # Results
//
// The elementwise kernels give bit for bit what the Go loops in this
// package give, on every input including NaNs, infinities, ±0 and
// subnormals: they multiply and add separately, in the order of the Go
// expressions (the Go loops convert products to float32 explicitly, which
// the language defines to forbid fusing them into an FMA, so the result
// does not depend on GOAMD64 or the architecture), and they pick the same
// operand's NaN as the compiled Go loops when both operands of one
// operation are NaN. (One caveat: when an accumulating kernel adds a NaN to
// a NaN already in dst, which of the two NaNs Go's dst[i] += v keeps
// depends on register allocation, and differs in -race builds; the sum is
// NaN either way.)
//
// ReLU and the masks of its gradient follow PositiveMask: a value counts as
// positive when its sign bit is clear and it is not +0. So ReLU maps −0 to
// +0, passes a NaN with the sign bit clear (as PyTorch's ReLU passes NaN)
// and zeroes one with the sign bit set.
//
// The reductions (ShiftedSums, SumAndDot, SumAndDotReLUOf) sum float64
// terms in an order that depends on the kernel set, so their last bits
// differ between sets; each term is the same.
//
// # Masks recomputed
//
// Batch norm followed by ReLU keeps its output out = AxpbReLU(y, a, b) as
// the mask of its gradient, but the backward pass need not read it: out > 0
// exactly where y·a + b, rounded as AxpbReLU rounds it, is positive. So
// SumAndDotReLUOf, Affine2ReLUOf and AddAffine2ReLUOf take y, a and b
// instead of a mask and recompute it, a multiply and an add per element,
// and read two streams where the masked kernels read three: that is faster
// wherever memory bandwidth, not arithmetic, bounds them. Their results are
// those of the masked kernels with m = AxpbReLU(y, a, b), bit for bit for
// the elementwise ones, NaNs included (a NaN of y, a or b decides the mask
// as it decides AxpbReLU's output).
//
// # Lengths
//
// Each elementwise function and reduction works on n elements, n the
// length of its first argument; every other slice argument must be at
// least that long (a shorter one
// panics, as indexing past its end would). Slices may overlap only when
// they are the same slice (y and x of ReLU may be one slice, for instance).
package vec

//go:generate sh -c "cd asm && go run . -out ../kernels_amd64.s -stubs ../kernels_amd64.go -pkg vec"

import "math"

// active is the kernel set for this CPU, chosen once.
var active = detect()

// PositiveMask returns all ones when v > 0 and zero when v ≤ 0 (including
// −0), computed without a branch: masks are ANDed with the bits of a value
// or a gradient. ReLU masks are data-dependent and close to random, so a
// branch would be mispredicted about half the time. A NaN with the sign
// bit clear counts as positive, one with it set does not.
func PositiveMask(v float32) uint32 {
	b := int64(int32(math.Float32bits(v)))
	return uint32((-b) >> 63)
}

// ReLU sets y[i] = max(x[i], 0) for i < len(y).
func ReLU(y, x []float32) { active.reLU(y, x) }

// Add adds x[i] to dst[i] for i < len(dst).
func Add(dst, x []float32) { active.add(dst, x) }

// Transpose8 sets dst[x·ldd + r] = src[r·lds + x] for r < 8 and x < n:
// eight rows of n floats, lds apart, become n rows of eight floats, ldd
// apart (a convolution's output gradient, channel-major, turned
// position-major eight channels at a time). It panics if src or dst is
// too short.
func Transpose8(dst []float32, ldd int, src []float32, lds, n int) {
	active.transpose8(dst, ldd, src, lds, n)
}

// AddReLU sets y[i] = max(a[i] + b[i], 0) for i < len(y).
// Windows copies n windows of img into rows, one after the other: window
// j is blocks blocks of height rows of width floats, row r of block c
// being img[j·step + c·plane + r·ld:][:width], and the rows go to rows
// in the order window, block, row (an im2col row per window of a
// convolution: blocks channels of a height × width kernel). It panics
// when rows or img is too short for the windows.
func Windows(rows, img []float32, n, step, blocks, plane, height, ld, width int) {
	active.windows(rows, img, n, step, blocks, plane, height, ld, width)
}

// MovesWindows reports whether Windows moves window rows
// of this width with vector instructions on this machine. Otherwise they
// runs a plain loop, which a caller's loops unrolled for its width may
// beat.
func MovesWindows(width int) bool {
	return (active.asm.windows != nil || active.asm.windowsExact != nil) && width > 0 && width <= maxWindowWidth
}

func AddReLU(y, a, b []float32) { active.addReLU(y, a, b) }

// MaskPositive sets dst[i] = g[i] where m[i] > 0 and +0 elsewhere (ReLU's
// gradient with respect to its input m, or its output: both are positive
// at the same places).
func MaskPositive(dst, g, m []float32) { active.maskPositive(dst, g, m) }

// AddMaskPositive adds g[i] to dst[i] where m[i] > 0 (and +0 elsewhere).
func AddMaskPositive(dst, g, m []float32) { active.addMaskPositive(dst, g, m) }

// Axpb sets y[i] = x[i]·a + b.
func Axpb(y, x []float32, a, b float32) { active.axpb(y, x, a, b) }

// AxpbReLU sets y[i] = max(x[i]·a + b, 0).
func AxpbReLU(y, x []float32, a, b float32) { active.axpbReLU(y, x, a, b) }

// Affine2 sets dst[i] = g[i]·p + x[i]·q + r, or with m not nil
// dst[i] = g'[i]·p + x[i]·q + r where g'[i] is g[i] where m[i] > 0 and +0
// elsewhere (batch norm's input gradient behind a fused ReLU).
func Affine2(dst, g, x, m []float32, p, q, r float32) { active.affine2(dst, g, x, m, p, q, r) }

// AddAffine2 adds what Affine2 would set to dst[i] (dst[i] + expression,
// the expression evaluated first).
func AddAffine2(dst, g, x, m []float32, p, q, r float32) { active.addAffine2(dst, g, x, m, p, q, r) }

// ShiftedSums returns Σ(x[i]−k) and Σ(x[i]−k)² in float64, each x[i]−k
// rounded to float32 first: the sums of the shifted-data variance
// algorithm.
func ShiftedSums(x []float32, k float32) (sum, sumSq float64) { return active.shiftedSums(x, k) }

// SumAndDot returns Σg[i] and Σg[i]·x[i] in float64, for i < len(g); with
// m not nil, only the terms where m[i] > 0 count.
func SumAndDot(g, x, m []float32) (sum, dot float64) { return active.sumAndDot(g, x, m) }

// SumAndDotReLUOf returns SumAndDot(g, y, m) with m = AxpbReLU(y, a, b)
// (the terms where float32(y[i]·a) + b > 0), without m: see "Masks
// recomputed" above.
func SumAndDotReLUOf(g, y []float32, a, b float32) (sum, dot float64) {
	return active.sumAndDotReLUOf(g, y, a, b)
}

// Affine2ReLUOf sets dst[i] = g'[i]·p + y[i]·q + r where g'[i] is g[i]
// where float32(y[i]·a) + b > 0 and +0 elsewhere: Affine2(dst, g, y, m, p,
// q, r) with m = AxpbReLU(y, a, b), without m (see "Masks recomputed").
func Affine2ReLUOf(dst, g, y []float32, a, b, p, q, r float32) {
	active.affine2ReLUOf(dst, g, y, a, b, p, q, r)
}

// AddAffine2ReLUOf adds what Affine2ReLUOf would set to dst[i]:
// AddAffine2(dst, g, y, m, p, q, r) with m = AxpbReLU(y, a, b).
func AddAffine2ReLUOf(dst, g, y []float32, a, b, p, q, r float32) {
	active.addAffine2ReLUOf(dst, g, y, a, b, p, q, r)
}

// kernels is one implementation of every kernel: assembly functions that
// handle a multiple of lanes elements (elementwise kernels) or of
// reduceLanes (reductions), or none (lanes 0) for the Go loops.
type kernels struct {
	name        string
	lanes       int
	reduceLanes int
	asm         asmKernels
}

// asmKernels are the assembly functions of a kernel set. Each takes n > 0,
// a multiple of the set's lanes or reduceLanes.
type asmKernels struct {
	relu             func(y, x *float32, n int)
	addReLU          func(y, a, b *float32, n int)
	maskPositive     func(dst, g, m *float32, n int)
	addMaskPositive  func(dst, g, m *float32, n int)
	add              func(dst, x *float32, n int)
	transpose8       func(dst *float32, ldd int, src *float32, lds, n int)
	windows          func(rows, img *float32, n, step, blocks, plane, height, ld int, mask uint32)
	windowsExact     func(rows, img *float32, n, step, blocks, plane, height, ld, width int)
	axpb             func(y, x *float32, n int, a, b float32)
	axpbReLU         func(y, x *float32, n int, a, b float32)
	affine2          func(dst, g, x *float32, n int, p, q, r float32)
	addAffine2       func(dst, g, x *float32, n int, p, q, r float32)
	affine2Masked    func(dst, g, x, m *float32, n int, p, q, r float32)
	addAffine2Masked func(dst, g, x, m *float32, n int, p, q, r float32)
	affine2ReLUOf    func(dst, g, y *float32, n int, a, b, p, q, r float32)
	addAffine2ReLUOf func(dst, g, y *float32, n int, a, b, p, q, r float32)
	shiftedSums      func(x *float32, n int, k float32) (float64, float64)
	sumAndDot        func(g, x *float32, n int) (float64, float64)
	sumAndDotMasked  func(g, x, m *float32, n int) (float64, float64)
	sumAndDotReLUOf  func(g, y *float32, n int, a, b float32) (float64, float64)
}

// portable is the kernel set of Go loops.
var portable = kernels{name: "go"}

// split returns how many of n elements the assembly handles: the largest
// multiple of lanes.
func (k *kernels) split(n int) int { return multiple(n, k.lanes) }

// splitReduce is split for the reductions.
func (k *kernels) splitReduce(n int) int { return multiple(n, k.reduceLanes) }

// multiple returns the largest multiple of lanes (a power of two, or 0 for
// none) not above n.
func multiple(n, lanes int) int {
	if lanes == 0 {
		return 0
	}
	return n &^ (lanes - 1)
}

// The methods below check the lengths (by re-slicing, which panics on a
// short slice before any assembly runs), hand the leading multiple of
// lanes to the assembly and the rest to the Go loops.

func (k *kernels) reLU(y, x []float32) {
	x = x[:len(y)]
	if s := k.split(len(y)); s > 0 {
		k.asm.relu(&y[0], &x[0], s)
		y, x = y[s:], x[s:]
	}
	reluGo(y, x)
}

func (k *kernels) add(dst, x []float32) {
	x = x[:len(dst)]
	if s := k.split(len(dst)); s > 0 {
		k.asm.add(&dst[0], &x[0], s)
		dst, x = dst[s:], x[s:]
	}
	addGo(dst, x)
}

func (k *kernels) transpose8(dst []float32, ldd int, src []float32, lds, n int) {
	if n <= 0 {
		return
	}
	_ = src[7*lds+n-1] // bounds, before any assembly runs
	_ = dst[(n-1)*ldd+7]
	if s := k.split(n); s > 0 && k.asm.transpose8 != nil {
		k.asm.transpose8(&dst[0], ldd, &src[0], lds, s)
		if s == n {
			return
		}
		dst, src, n = dst[s*ldd:], src[s:], n-s
	}
	transpose8Go(dst, ldd, src, lds, n)
}

// maxWindowWidth is the widest window row the assembly moves in one
// vector (a ymm register's 8 floats).
const maxWindowWidth = 8

// windowsCheck panics unless rows and img hold the n windows described
// (see Windows), before any assembly runs, and reports whether there is
// anything to do.
func windowsCheck(rows, img []float32, n, step, blocks, plane, height, ld, width int) bool {
	if n < 0 || blocks < 0 || height < 0 || width < 0 || step < 0 || plane < 0 || ld < 0 {
		panic("vec: negative window geometry")
	}
	if n == 0 || blocks == 0 || height == 0 || width == 0 {
		return false
	}
	_ = rows[n*blocks*height*width-1]
	_ = img[(n-1)*step+(blocks-1)*plane+(height-1)*ld+width-1]
	return true
}

func (k *kernels) windows(rows, img []float32, n, step, blocks, plane, height, ld, width int) {
	if !windowsCheck(rows, img, n, step, blocks, plane, height, ld, width) {
		return
	}
	if k.asm.windows != nil && width <= maxWindowWidth {
		k.asm.windows(&rows[0], &img[0], n, step, blocks, plane, height, ld, 1<<width-1)
		return
	}
	if k.asm.windowsExact != nil && width <= maxWindowWidth {
		k.asm.windowsExact(&rows[0], &img[0], n, step, blocks, plane, height, ld, width)
		return
	}
	windowsGo(rows, img, n, step, blocks, plane, height, ld, width)
}

func (k *kernels) addReLU(y, a, b []float32) {
	a, b = a[:len(y)], b[:len(y)]
	if s := k.split(len(y)); s > 0 {
		k.asm.addReLU(&y[0], &a[0], &b[0], s)
		y, a, b = y[s:], a[s:], b[s:]
	}
	addReLUGo(y, a, b)
}

func (k *kernels) maskPositive(dst, g, m []float32) {
	g, m = g[:len(dst)], m[:len(dst)]
	if s := k.split(len(dst)); s > 0 {
		k.asm.maskPositive(&dst[0], &g[0], &m[0], s)
		dst, g, m = dst[s:], g[s:], m[s:]
	}
	maskPositiveGo(dst, g, m)
}

func (k *kernels) addMaskPositive(dst, g, m []float32) {
	g, m = g[:len(dst)], m[:len(dst)]
	if s := k.split(len(dst)); s > 0 {
		k.asm.addMaskPositive(&dst[0], &g[0], &m[0], s)
		dst, g, m = dst[s:], g[s:], m[s:]
	}
	addMaskPositiveGo(dst, g, m)
}

func (k *kernels) axpb(y, x []float32, a, b float32) {
	x = x[:len(y)]
	if s := k.split(len(y)); s > 0 {
		k.asm.axpb(&y[0], &x[0], s, a, b)
		y, x = y[s:], x[s:]
	}
	axpbGo(y, x, a, b)
}

func (k *kernels) axpbReLU(y, x []float32, a, b float32) {
	x = x[:len(y)]
	if s := k.split(len(y)); s > 0 {
		k.asm.axpbReLU(&y[0], &x[0], s, a, b)
		y, x = y[s:], x[s:]
	}
	axpbReLUGo(y, x, a, b)
}

func (k *kernels) affine2(dst, g, x, m []float32, p, q, r float32) {
	g, x = g[:len(dst)], x[:len(dst)]
	if m != nil {
		m = m[:len(dst)]
		if s := k.split(len(dst)); s > 0 {
			k.asm.affine2Masked(&dst[0], &g[0], &x[0], &m[0], s, p, q, r)
			dst, g, x, m = dst[s:], g[s:], x[s:], m[s:]
		}
		affine2MaskedGo(dst, g, x, m, p, q, r)
		return
	}
	if s := k.split(len(dst)); s > 0 {
		k.asm.affine2(&dst[0], &g[0], &x[0], s, p, q, r)
		dst, g, x = dst[s:], g[s:], x[s:]
	}
	affine2Go(dst, g, x, p, q, r)
}

func (k *kernels) addAffine2(dst, g, x, m []float32, p, q, r float32) {
	g, x = g[:len(dst)], x[:len(dst)]
	if m != nil {
		m = m[:len(dst)]
		if s := k.split(len(dst)); s > 0 {
			k.asm.addAffine2Masked(&dst[0], &g[0], &x[0], &m[0], s, p, q, r)
			dst, g, x, m = dst[s:], g[s:], x[s:], m[s:]
		}
		addAffine2MaskedGo(dst, g, x, m, p, q, r)
		return
	}
	if s := k.split(len(dst)); s > 0 {
		k.asm.addAffine2(&dst[0], &g[0], &x[0], s, p, q, r)
		dst, g, x = dst[s:], g[s:], x[s:]
	}
	addAffine2Go(dst, g, x, p, q, r)
}

func (k *kernels) shiftedSums(x []float32, c float32) (sum, sumSq float64) {
	s := k.splitReduce(len(x))
	if s == 0 {
		return shiftedSumsGo(x, c)
	}
	sum, sumSq = k.asm.shiftedSums(&x[0], s, c)
	ts, tq := shiftedSumsGo(x[s:], c)
	return sum + ts, sumSq + tq
}

func (k *kernels) sumAndDot(g, x, m []float32) (sum, dot float64) {
	x = x[:len(g)]
	if m != nil {
		m = m[:len(g)]
		s := k.splitReduce(len(g))
		if s == 0 {
			return sumAndDotMaskedGo(g, x, m)
		}
		sum, dot = k.asm.sumAndDotMasked(&g[0], &x[0], &m[0], s)
		ts, td := sumAndDotMaskedGo(g[s:], x[s:], m[s:])
		return sum + ts, dot + td
	}
	s := k.splitReduce(len(g))
	if s == 0 {
		return sumAndDotGo(g, x)
	}
	sum, dot = k.asm.sumAndDot(&g[0], &x[0], s)
	ts, td := sumAndDotGo(g[s:], x[s:])
	return sum + ts, dot + td
}

func (k *kernels) affine2ReLUOf(dst, g, y []float32, a, b, p, q, r float32) {
	g, y = g[:len(dst)], y[:len(dst)]
	if s := k.split(len(dst)); s > 0 {
		k.asm.affine2ReLUOf(&dst[0], &g[0], &y[0], s, a, b, p, q, r)
		dst, g, y = dst[s:], g[s:], y[s:]
	}
	affine2ReLUOfGo(dst, g, y, a, b, p, q, r)
}

func (k *kernels) addAffine2ReLUOf(dst, g, y []float32, a, b, p, q, r float32) {
	g, y = g[:len(dst)], y[:len(dst)]
	if s := k.split(len(dst)); s > 0 {
		k.asm.addAffine2ReLUOf(&dst[0], &g[0], &y[0], s, a, b, p, q, r)
		dst, g, y = dst[s:], g[s:], y[s:]
	}
	addAffine2ReLUOfGo(dst, g, y, a, b, p, q, r)
}

func (k *kernels) sumAndDotReLUOf(g, y []float32, a, b float32) (sum, dot float64) {
	y = y[:len(g)]
	s := k.splitReduce(len(g))
	if s == 0 {
		return sumAndDotReLUOfGo(g, y, a, b)
	}
	sum, dot = k.asm.sumAndDotReLUOf(&g[0], &y[0], s, a, b)
	ts, td := sumAndDotReLUOfGo(g[s:], y[s:], a, b)
	return sum + ts, dot + td
}
