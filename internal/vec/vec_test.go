package vec

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// specials are the float32 values where kernels usually go wrong.
var specials = []float32{
	0, float32(math.Copysign(0, -1)),
	float32(math.Inf(1)), float32(math.Inf(-1)),
	math.Float32frombits(1), math.Float32frombits(0x80000001), // smallest subnormals
	math.Float32frombits(0x007fffff), math.Float32frombits(0x807fffff), // largest subnormals
	math.MaxFloat32, -math.MaxFloat32,
	math.SmallestNonzeroFloat32 * 3,
	1, -1,
}

// anyFloat returns a float32 from a mix meant to reach every path: ordinary
// values, the specials, NaNs of either sign with random payloads (quiet and
// signalling), random subnormals and random bit patterns.
func anyFloat(r *rand.Rand) float32 {
	switch r.IntN(10) {
	case 0, 1, 2, 3:
		return float32(r.NormFloat64())
	case 4:
		return float32(r.NormFloat64() * 1e3)
	case 5:
		return specials[r.IntN(len(specials))]
	case 6:
		payload := uint32(r.IntN(1<<23-1)) + 1 // nonzero: a NaN, not an infinity
		return math.Float32frombits(r.Uint32()&(1<<31) | 0x7f800000 | payload)
	case 7:
		return math.Float32frombits(r.Uint32()&(1<<31) | uint32(r.IntN(1<<23)))
	default:
		return math.Float32frombits(r.Uint32())
	}
}

// anyScalar is mostly an ordinary value, as batch norm's per-channel
// constants are, and sometimes anything, NaN included.
func anyScalar(r *rand.Rand) float32 {
	if r.IntN(4) == 0 {
		return anyFloat(r)
	}
	return float32(r.NormFloat64())
}

// lengths are every length up to 70 (all tail sizes of both vector widths,
// with and without full unrolled passes) and some long ones.
func lengths() []int {
	var ns []int
	for n := 0; n <= 70; n++ {
		ns = append(ns, n)
	}
	return append(ns, 127, 128, 129, 1000, 4096+13, 1<<16+7)
}

// sentinel fills the elements past a destination slice, to catch writes
// past its end.
const sentinel = 0x7fc0dead

// slices returns count slices of n elements starting off floats into their
// backing arrays (so unaligned), each followed by 17 sentinel elements.
func slices(r *rand.Rand, count, n, off int) [][]float32 {
	out := make([][]float32, count)
	for i := range out {
		buf := make([]float32, off+n+17)
		for j := range buf {
			buf[j] = math.Float32frombits(sentinel)
		}
		s := buf[off : off+n]
		for j := range s {
			s[j] = anyFloat(r)
		}
		out[i] = s
	}
	return out
}

// elementwise describes one elementwise kernel for the tests: how to run
// it on a kernel set and how to run the reference loop, on dst, the inputs
// in and the scalars s.
type elementwise struct {
	name    string
	inputs  int
	scalars int
	fmaSafe bool // no multiply-add: the reference loop cannot be fused
	// accumulates: the kernel adds into dst. When dst[i] and the added
	// expression are both NaN, the sum is one of the two, and which one Go
	// returns depends on its register allocation (a -race build of the same
	// loop returns the other), so the tests accept either NaN there.
	accumulates bool
	run         func(k *kernels, dst []float32, in [][]float32, s []float32)
	ref         func(dst []float32, in [][]float32, s []float32)
}

var elementwiseKernels = []elementwise{
	{
		name: "ReLU", inputs: 1, fmaSafe: true,
		run: func(k *kernels, d []float32, in [][]float32, _ []float32) { k.reLU(d, in[0]) },
		ref: func(d []float32, in [][]float32, _ []float32) { refReLU(d, in[0]) },
	},
	{
		name: "ReLUInPlace", inputs: 1, fmaSafe: true,
		run: func(k *kernels, d []float32, in [][]float32, _ []float32) { copy(d, in[0]); k.reLU(d, d) },
		ref: func(d []float32, in [][]float32, _ []float32) { refReLU(d, in[0]) },
	},
	{
		name: "Add", accumulates: true, inputs: 1, fmaSafe: true,
		run: func(k *kernels, d []float32, in [][]float32, _ []float32) { k.add(d, in[0]) },
		ref: func(d []float32, in [][]float32, _ []float32) { refAdd(d, in[0]) },
	},
	{
		name: "AddReLU", inputs: 2, fmaSafe: true,
		run: func(k *kernels, d []float32, in [][]float32, _ []float32) { k.addReLU(d, in[0], in[1]) },
		ref: func(d []float32, in [][]float32, _ []float32) { refAddReLU(d, in[0], in[1]) },
	},
	{
		name: "MaskPositive", inputs: 2, fmaSafe: true,
		run: func(k *kernels, d []float32, in [][]float32, _ []float32) { k.maskPositive(d, in[0], in[1]) },
		ref: func(d []float32, in [][]float32, _ []float32) { refReLUBackward(d, in[0], in[1], true) },
	},
	{
		name: "AddMaskPositive", accumulates: true, inputs: 2, fmaSafe: true,
		run: func(k *kernels, d []float32, in [][]float32, _ []float32) { k.addMaskPositive(d, in[0], in[1]) },
		ref: func(d []float32, in [][]float32, _ []float32) { refReLUBackward(d, in[0], in[1], false) },
	},
	{
		name: "Axpb", inputs: 1, scalars: 2,
		run: func(k *kernels, d []float32, in [][]float32, s []float32) { k.axpb(d, in[0], s[0], s[1]) },
		ref: func(d []float32, in [][]float32, s []float32) { refAxpb(d, in[0], s[0], s[1], false) },
	},
	{
		name: "AxpbReLU", inputs: 1, scalars: 2,
		run: func(k *kernels, d []float32, in [][]float32, s []float32) { k.axpbReLU(d, in[0], s[0], s[1]) },
		ref: func(d []float32, in [][]float32, s []float32) { refAxpb(d, in[0], s[0], s[1], true) },
	},
	{
		name: "Affine2", inputs: 2, scalars: 3,
		run: func(k *kernels, d []float32, in [][]float32, s []float32) {
			k.affine2(d, in[0], in[1], nil, s[0], s[1], s[2])
		},
		ref: func(d []float32, in [][]float32, s []float32) {
			refAddAffine2(d, in[0], in[1], nil, s[0], s[1], s[2], true)
		},
	},
	{
		name: "AddAffine2", accumulates: true, inputs: 2, scalars: 3,
		run: func(k *kernels, d []float32, in [][]float32, s []float32) {
			k.addAffine2(d, in[0], in[1], nil, s[0], s[1], s[2])
		},
		ref: func(d []float32, in [][]float32, s []float32) {
			refAddAffine2(d, in[0], in[1], nil, s[0], s[1], s[2], false)
		},
	},
	{
		name: "Affine2Masked", inputs: 3, scalars: 3,
		run: func(k *kernels, d []float32, in [][]float32, s []float32) {
			k.affine2(d, in[0], in[1], in[2], s[0], s[1], s[2])
		},
		ref: func(d []float32, in [][]float32, s []float32) {
			refAddAffine2(d, in[0], in[1], in[2], s[0], s[1], s[2], true)
		},
	},
	{
		name: "AddAffine2Masked", accumulates: true, inputs: 3, scalars: 3,
		run: func(k *kernels, d []float32, in [][]float32, s []float32) {
			k.addAffine2(d, in[0], in[1], in[2], s[0], s[1], s[2])
		},
		ref: func(d []float32, in [][]float32, s []float32) {
			refAddAffine2(d, in[0], in[1], in[2], s[0], s[1], s[2], false)
		},
	},
	// The ReLUOf kernels against the composition they replace, in the
	// reference loops: the mask materialised by AxpbReLU, then the masked
	// Affine2 (s holds a, b, p, q, r).
	{
		name: "Affine2ReLUOf", inputs: 2, scalars: 5,
		run: func(k *kernels, d []float32, in [][]float32, s []float32) {
			k.affine2ReLUOf(d, in[0], in[1], s[0], s[1], s[2], s[3], s[4])
		},
		ref: func(d []float32, in [][]float32, s []float32) {
			m := make([]float32, len(d))
			refAxpb(m, in[1][:len(d)], s[0], s[1], true)
			refAddAffine2(d, in[0], in[1], m, s[2], s[3], s[4], true)
		},
	},
	{
		name: "AddAffine2ReLUOf", accumulates: true, inputs: 2, scalars: 5,
		run: func(k *kernels, d []float32, in [][]float32, s []float32) {
			k.addAffine2ReLUOf(d, in[0], in[1], s[0], s[1], s[2], s[3], s[4])
		},
		ref: func(d []float32, in [][]float32, s []float32) {
			m := make([]float32, len(d))
			refAxpb(m, in[1][:len(d)], s[0], s[1], true)
			refAddAffine2(d, in[0], in[1], m, s[2], s[3], s[4], false)
		},
	},
}

// Every kernel set gives the reference loops' bits on every length, start
// alignment and kind of value (dst's initial values matter to the
// accumulating kernels, and the sentinels past its end must survive).
func TestElementwiseBitIdentical(t *testing.T) {
	fused := fuses()
	for _, k := range available() {
		for _, c := range elementwiseKernels {
			t.Run(k.name+"/"+c.name, func(t *testing.T) {
				if fused && !c.fmaSafe {
					t.Skip("this build fuses multiply-adds (GOAMD64=v3?), so the reference loops round differently")
				}
				r := rand.New(rand.NewPCG(1, uint64(len(c.name))))
				for _, n := range lengths() {
					for _, off := range []int{0, 1, 2, 3, 7} {
						checkElementwise(t, k, c, c.ref, r, n, off)
					}
				}
			})
		}
	}
}

// Every kernel set gives the bits of the package's Go loops, which cannot
// fuse multiply-adds whatever GOAMD64 is: this holds in builds where the
// comparison with the reference loops above is skipped, and it is what
// makes the assembly and the Go loop for the tail of a slice agree.
func TestElementwiseMatchesGoLoops(t *testing.T) {
	for _, k := range available() {
		for _, c := range elementwiseKernels {
			goLoops := func(d []float32, in [][]float32, s []float32) { c.run(&portable, d, in, s) }
			r := rand.New(rand.NewPCG(5, uint64(len(c.name))))
			for _, n := range lengths() {
				for _, off := range []int{0, 3} {
					checkElementwise(t, k, c, goLoops, r, n, off)
				}
			}
		}
	}
}

func checkElementwise(t *testing.T, k *kernels, c elementwise, ref func([]float32, [][]float32, []float32), r *rand.Rand, n, off int) {
	t.Helper()
	bufs := slices(r, 2+c.inputs, n, off)
	got, want, in := bufs[0], bufs[1], bufs[2:]
	copy(want, got)
	orig := append([]float32(nil), got...)
	s := make([]float32, c.scalars)
	for i := range s {
		s[i] = anyScalar(r)
	}
	ref(want, in, s)
	c.run(k, got, in, s)
	full := got[:n+17]
	for i := range full {
		w := uint32(sentinel)
		if i < n {
			w = math.Float32bits(want[i])
		}
		g := math.Float32bits(full[i])
		if g != w && i < n && c.accumulates && isNaN(orig[i]) && isNaN(want[i]) && isNaN(full[i]) {
			continue // NaN + NaN: see elementwise.accumulates
		}
		if g != w {
			var at []string
			for _, x := range in {
				at = append(at, fmt.Sprintf("%#08x", math.Float32bits(x[min(i, n-1)])))
			}
			t.Fatalf("%s/%s n=%d off=%d: element %d is %#08x, want %#08x (inputs %v, scalars %v)",
				k.name, c.name, n, off, i, g, w, at, s)
		}
	}
}

// ReLU's rule, spelled out on each class of value, through every kernel
// set (64 copies of each value, so the assembly sees them).
func TestReLUSemantics(t *testing.T) {
	nan := math.Float32frombits(0x7fc00001)
	negNaN := math.Float32frombits(0xffc00001)
	negZero := float32(math.Copysign(0, -1))
	sub := math.Float32frombits(3)
	cases := []struct{ in, want float32 }{
		{1.5, 1.5}, {-1.5, 0}, {0, 0}, {negZero, 0}, {sub, sub}, {-sub, 0},
		{float32(math.Inf(1)), float32(math.Inf(1))}, {float32(math.Inf(-1)), 0},
		{nan, nan}, {negNaN, 0},
	}
	for _, k := range available() {
		for _, c := range cases {
			x := make([]float32, 64)
			for i := range x {
				x[i] = c.in
			}
			y := make([]float32, len(x))
			k.reLU(y, x)
			for i, v := range y {
				if math.Float32bits(v) != math.Float32bits(c.want) {
					t.Fatalf("%s: ReLU(%#08x)[%d] = %#08x, want %#08x", k.name,
						math.Float32bits(c.in), i, math.Float32bits(v), math.Float32bits(c.want))
				}
			}
		}
	}
}

// The branch-free mask agrees with the comparison v > 0 on every class of
// float32 but NaN, whose sign bit decides.
func TestPositiveMask(t *testing.T) {
	for _, v := range specials {
		want := uint32(0)
		if v > 0 {
			want = ^uint32(0)
		}
		if got := PositiveMask(v); got != want {
			t.Errorf("PositiveMask(%g) = %#x, want %#x", v, got, want)
		}
	}
	if PositiveMask(math.Float32frombits(0x7fc00000)) != ^uint32(0) || PositiveMask(math.Float32frombits(0xffc00000)) != 0 {
		t.Error("PositiveMask should pass a NaN with the sign bit clear and stop one with it set")
	}
}

// reduction describes one reduction for the tests.
type reduction struct {
	name   string
	inputs int
	run    func(k *kernels, in [][]float32, c float32) (float64, float64)
	ref    func(in [][]float32, c float32) (float64, float64)
	// terms returns the float64 terms of both sums, each exact.
	terms func(in [][]float32, c float32) (a, b []float64)
}

var reductions = []reduction{
	{
		name: "ShiftedSums", inputs: 1,
		run: func(k *kernels, in [][]float32, c float32) (float64, float64) { return k.shiftedSums(in[0], c) },
		ref: func(in [][]float32, c float32) (float64, float64) { return refShiftedSums(in[0], c) },
		terms: func(in [][]float32, c float32) (a, b []float64) {
			for _, v := range in[0] {
				d := float64(v - c)
				a, b = append(a, d), append(b, d*d)
			}
			return a, b
		},
	},
	{
		name: "SumAndDot", inputs: 2,
		run: func(k *kernels, in [][]float32, _ float32) (float64, float64) { return k.sumAndDot(in[0], in[1], nil) },
		ref: func(in [][]float32, _ float32) (float64, float64) { return refSumAndDot(in[0], in[1], nil) },
		terms: func(in [][]float32, _ float32) (a, b []float64) {
			for i, v := range in[0] {
				a, b = append(a, float64(v)), append(b, float64(v)*float64(in[1][i]))
			}
			return a, b
		},
	},
	{
		name: "SumAndDotMasked", inputs: 3,
		run: func(k *kernels, in [][]float32, _ float32) (float64, float64) {
			return k.sumAndDot(in[0], in[1], in[2])
		},
		ref: func(in [][]float32, _ float32) (float64, float64) { return refSumAndDot(in[0], in[1], in[2]) },
		terms: func(in [][]float32, _ float32) (a, b []float64) {
			for i, v := range in[0] {
				if !(in[2][i] > 0) {
					v = 0
				}
				a, b = append(a, float64(v)), append(b, float64(v)*float64(in[1][i]))
			}
			return a, b
		},
	},
	{
		// SumAndDotReLUOf(g, y, a, b) with a = c and b = c/4, so that about
		// half the terms count; the reference is SumAndDot with the mask
		// materialised by the Go loop of AxpbReLU (which cannot fuse).
		name: "SumAndDotReLUOf", inputs: 2,
		run: func(k *kernels, in [][]float32, c float32) (float64, float64) {
			return k.sumAndDotReLUOf(in[0], in[1], c, c/4)
		},
		ref: func(in [][]float32, c float32) (float64, float64) {
			m := make([]float32, len(in[0]))
			axpbReLUGo(m, in[1][:len(m)], c, c/4)
			return refSumAndDot(in[0], in[1], m)
		},
		terms: func(in [][]float32, c float32) (a, b []float64) {
			for i, v := range in[0] {
				if !(float32(in[1][i]*c)+c/4 > 0) {
					v = 0
				}
				a, b = append(a, float64(v)), append(b, float64(v)*float64(in[1][i]))
			}
			return a, b
		},
	},
}

// exactSum returns the sum of terms rounded once to float64, and Σ|t|.
// 1200 bits hold any sum of these terms exactly: they are products of two
// float32 values or float32 values, between 2⁻²⁹⁸ and 2²⁵⁶ in magnitude.
func exactSum(terms []float64) (sum, abs float64) {
	s := new(big.Float).SetPrec(1200)
	a := new(big.Float).SetPrec(1200)
	var t big.Float
	for _, v := range terms {
		s.Add(s, t.SetFloat64(v))
		a.Add(a, t.SetFloat64(math.Abs(v)))
	}
	sum, _ = s.Float64()
	abs, _ = a.Float64()
	return sum, abs
}

// finiteFloat returns an ordinary float32, a subnormal or ±0, with a
// random sign and a wide range of magnitudes (no NaN or infinity).
func finiteFloat(r *rand.Rand) float32 {
	switch r.IntN(8) {
	case 0:
		return specials[r.IntN(2)] // ±0
	case 1:
		return math.Float32frombits(r.Uint32()&(1<<31) | uint32(r.IntN(1<<23)))
	case 2:
		return float32(r.NormFloat64() * math.Pow(2, float64(r.IntN(80)-40)))
	default:
		return float32(r.NormFloat64())
	}
}

// The reductions of every set stay within the error bound of float64
// summation in any order: |computed − exact| ≤ γₙ·Σ|tᵢ| with
// γₙ = n·u/(1 − n·u), u = 2⁻⁵³ (Higham, Accuracy and Stability, §4.2).
// The reference loops meet it too (checked, so the bound is not vacuous
// for them), and a dropped or doubled term of ordinary size breaks it.
func TestReductionsAccurate(t *testing.T) {
	for _, k := range available() {
		for _, c := range reductions {
			t.Run(k.name+"/"+c.name, func(t *testing.T) {
				r := rand.New(rand.NewPCG(2, uint64(len(c.name))))
				for _, n := range lengths() {
					for _, off := range []int{0, 1, 3} {
						in := make([][]float32, c.inputs)
						for i := range in {
							buf := make([]float32, n+off)
							for j := range buf {
								buf[j] = finiteFloat(r)
							}
							in[i] = buf[off:]
						}
						shift := finiteFloat(r)
						ta, tb := c.terms(in, shift)
						ea, aa := exactSum(ta)
						eb, ab := exactSum(tb)
						u := math.Ldexp(1, -53)
						gamma := float64(n+1) * u / (1 - float64(n+1)*u)
						ga, gb := c.run(k, in, shift)
						ra, rb := c.ref(in, shift)
						for _, v := range []struct {
							what            string
							got, exact, tol float64
						}{
							{"first sum", ga, ea, gamma * aa}, {"second sum", gb, eb, gamma * ab},
							{"reference's first sum", ra, ea, gamma * aa}, {"reference's second sum", rb, eb, gamma * ab},
						} {
							if math.Abs(v.got-v.exact) > v.tol {
								t.Fatalf("n=%d off=%d: %s %g, exact %g: error %g over the bound %g",
									n, off, v.what, v.got, v.exact, math.Abs(v.got-v.exact), v.tol)
							}
						}
					}
				}
			})
		}
	}
}

// On data whose sums are exact in float64 in any order (multiples of 2⁻⁶
// below 2¹⁰, so every partial sum fits in 53 bits), every set must give
// exactly the exact sums: this catches a lost or repeated term of any size.
func TestReductionsExactOnDyadicData(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	dyadic := func() float32 { return float32(r.IntN(1<<17)-1<<16) / 64 }
	for _, k := range available() {
		for _, c := range reductions {
			for _, n := range lengths() {
				for _, off := range []int{0, 2} {
					in := make([][]float32, c.inputs)
					for i := range in {
						buf := make([]float32, n+off)
						for j := range buf {
							buf[j] = dyadic()
						}
						in[i] = buf[off:]
					}
					shift := dyadic()
					ta, tb := c.terms(in, shift)
					ea, _ := exactSum(ta)
					eb, _ := exactSum(tb)
					ga, gb := c.run(k, in, shift)
					if ga != ea || gb != eb {
						t.Fatalf("%s/%s n=%d off=%d: got (%v, %v), exact (%v, %v)", k.name, c.name, n, off, ga, gb, ea, eb)
					}
				}
			}
		}
	}
}

// With NaNs and infinities in the data, every set's sums are NaN, +Inf,
// −Inf or finite exactly when the reference loops' are: which of these a
// sum is does not depend on the order of the terms (the finite terms here
// cannot overflow float64).
func TestReductionsSpecialValues(t *testing.T) {
	class := func(v float64) string {
		switch {
		case math.IsNaN(v):
			return "NaN"
		case math.IsInf(v, 1):
			return "+Inf"
		case math.IsInf(v, -1):
			return "-Inf"
		}
		return "finite"
	}
	for _, k := range available() {
		for _, c := range reductions {
			r := rand.New(rand.NewPCG(4, uint64(len(c.name))))
			for _, n := range lengths() {
				for trial := 0; trial < 3; trial++ {
					in := make([][]float32, c.inputs)
					for i := range in {
						in[i] = make([]float32, n)
						for j := range in[i] {
							in[i][j] = finiteFloat(r)
							// Few specials, so that some sums stay finite or
							// infinite rather than all turning NaN.
							if r.IntN(4*n+1) < 1+trial {
								in[i][j] = anyFloat(r)
							}
						}
					}
					shift := finiteFloat(r)
					ga, gb := c.run(k, in, shift)
					ra, rb := c.ref(in, shift)
					if class(ga) != class(ra) || class(gb) != class(rb) {
						t.Fatalf("%s/%s n=%d: got (%v, %v), reference (%v, %v)", k.name, c.name, n, ga, gb, ra, rb)
					}
				}
			}
		}
	}
}

// The exported functions use the chosen set and check lengths: a source
// shorter than the destination panics rather than being read past its end.
func TestExportedAndShortSlices(t *testing.T) {
	x := []float32{-1, 2, -3, 4}
	y := make([]float32, 4)
	ReLU(y, x)
	if y[0] != 0 || y[1] != 2 || y[2] != 0 || y[3] != 4 {
		t.Fatalf("ReLU(%v) = %v", x, y)
	}
	s, q := ShiftedSums([]float32{1, 2, 3}, 1)
	if s != 3 || q != 5 {
		t.Fatalf("ShiftedSums = %v, %v; want 3, 5", s, q)
	}
	for _, k := range available() {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: ReLU with a short source did not panic", k.name)
				}
			}()
			k.reLU(make([]float32, 40), make([]float32, 39))
		}()
	}
	if detect() != active {
		t.Error("active is not the detected set")
	}
}

func isNaN(v float32) bool { return v != v }
