package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// boundaryScalar returns a or b for the ReLUOf tests: often a value that
// makes y·a + b land on ±0 or next to it (±0, ±1, powers of two, whose
// products are exact), sometimes anything, NaN and ±Inf included.
func boundaryScalar(r *rand.Rand) float32 {
	switch r.IntN(8) {
	case 0:
		return specials[r.IntN(2)] // ±0
	case 1:
		return float32(math.Ldexp(float64(1-2*r.IntN(2)), r.IntN(40)-20))
	case 2:
		return anyFloat(r)
	default:
		return float32(r.NormFloat64())
	}
}

// nanScalar returns a or b for the NaN cases of the ReLUOf tests: half
// the time a NaN of either sign, else ±Inf, ±0 or an ordinary value.
func nanScalar(r *rand.Rand) float32 {
	if r.IntN(2) == 0 {
		return math.Float32frombits(r.Uint32()&(1<<31) | 0x7f800000 | uint32(r.IntN(1<<23-1)) + 1)
	}
	return specials[r.IntN(4)]
}

// boundaryY returns a y for the ReLUOf tests: mostly one within two ulps of
// −b/a, where float32(y·a) + b is ±0 or the smallest values either side of
// it, otherwise ±0, a tiny value whose product with a may round to ±0, or
// anything.
func boundaryY(r *rand.Rand, a, b float32) float32 {
	switch r.IntN(8) {
	case 0:
		return specials[r.IntN(2)]
	case 1:
		return math.Float32frombits(r.Uint32()&(1<<31) | uint32(r.IntN(1<<23))) // subnormal or ±0
	case 2:
		return anyFloat(r)
	default:
		y := float32(-float64(b) / float64(a))
		if math.IsNaN(float64(y)) || math.IsInf(float64(y), 0) {
			return anyFloat(r)
		}
		for k := r.IntN(5) - 2; k != 0; {
			if k > 0 {
				y, k = math.Nextafter32(y, float32(math.Inf(1))), k-1
			} else {
				y, k = math.Nextafter32(y, float32(math.Inf(-1))), k+1
			}
		}
		return y
	}
}

// The ReLUOf kernels of every set give the bits of the composition they
// replace, run in the same set: the mask materialised by AxpbReLU, then the
// masked Affine2, AddAffine2 or SumAndDot. The data crowds the mask's
// boundary, and the test counts that it reached it: y·a + b exactly +0
// and −0 (masked off) and the smallest values either side of 0.
func TestReLUOfMatchesComposition(t *testing.T) {
	for _, k := range available() {
		t.Run(k.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, 7))
			var posZero, negZero, tinyPos, tinyNeg int
			for _, n := range lengths() {
				for _, off := range []int{0, 1, 3, 5} {
					for trial := 0; trial < 6; trial++ {
						a, b := boundaryScalar(r), boundaryScalar(r)
						p, q, c := anyScalar(r), anyScalar(r), anyScalar(r)
						bufs := slices(r, 5, n, off)
						g, y, m, got, want := bufs[0], bufs[1], bufs[2], bufs[3], bufs[4]
						if trial >= 4 {
							// Where y and a, or y·a and b, are both NaN,
							// the first operand's NaN, its sign, decides
							// the mask; that shows in the outputs only
							// where little else is NaN: finite g, p, q, r.
							a, b = nanScalar(r), nanScalar(r)
							p, q, c = finiteFloat(r), finiteFloat(r), finiteFloat(r)
							for i := range g {
								g[i] = finiteFloat(r)
							}
						}
						for i := range y {
							y[i] = boundaryY(r, a, b)
							switch v := float32(y[i]*a) + b; {
							case math.Float32bits(v) == 0:
								posZero++
							case math.Float32bits(v) == 1<<31:
								negZero++
							case v > 0 && v < 0x1p-120:
								tinyPos++
							case v < 0 && v > -0x1p-120:
								tinyNeg++
							}
						}
						k.axpbReLU(m, y, a, b)

						k.affine2(want, g, y, m, p, q, c)
						k.affine2ReLUOf(got, g, y, a, b, p, q, c)
						compareReLUOf(t, "Affine2ReLUOf", k, n, off, got[:n+17], want[:n+17], nil, g, y, a, b)

						orig := make([]float32, n)
						for i := range orig {
							orig[i] = anyFloat(r)
						}
						copy(got, orig)
						copy(want, orig)
						k.addAffine2(want, g, y, m, p, q, c)
						k.addAffine2ReLUOf(got, g, y, a, b, p, q, c)
						compareReLUOf(t, "AddAffine2ReLUOf", k, n, off, got[:n+17], want[:n+17], orig, g, y, a, b)

						// The same terms in the same order (the ReLUOf
						// reductions share the masked ones' accumulators
						// and loops), so the same sums, bit for bit; NaN
						// sums may differ in payload.
						ws, wd := k.sumAndDot(g, y, m)
						gs, gd := k.sumAndDotReLUOf(g, y, a, b)
						if !sameSum(gs, ws) || !sameSum(gd, wd) {
							t.Fatalf("SumAndDotReLUOf n=%d off=%d a=%g b=%g: (%v, %v), with the mask (%v, %v)",
								n, off, a, b, gs, gd, ws, wd)
						}
					}
				}
			}
			if posZero == 0 || negZero == 0 || tinyPos == 0 || tinyNeg == 0 {
				t.Fatalf("the data missed the mask's boundary: y·a + b was +0 %d times, −0 %d, tiny positive %d, tiny negative %d",
					posZero, negZero, tinyPos, tinyNeg)
			}
			t.Logf("y·a + b was +0 %d times, −0 %d, tiny positive %d, tiny negative %d", posZero, negZero, tinyPos, tinyNeg)
		})
	}
}

// compareReLUOf fails t unless got and want (with the 17 sentinels past n)
// have the same bits; for the accumulating kernel (orig not nil), where
// dst and the expression were both NaN either NaN will do (see
// elementwise.accumulates).
func compareReLUOf(t *testing.T, what string, k *kernels, n, off int, got, want, orig, g, y []float32, a, b float32) {
	t.Helper()
	for i := range got {
		gb, wb := math.Float32bits(got[i]), math.Float32bits(want[i])
		if gb == wb || (orig != nil && i < n && isNaN(orig[i]) && isNaN(got[i]) && isNaN(want[i])) {
			continue
		}
		t.Fatalf("%s/%s n=%d off=%d a=%g b=%g: element %d is %#08x, the composition gives %#08x (g %#08x, y %#08x)",
			k.name, what, n, off, a, b, i, gb, wb, math.Float32bits(g[min(i, n-1)]), math.Float32bits(y[min(i, n-1)]))
	}
}

// sameSum reports whether two float64 sums are the same bits or both NaN.
func sameSum(x, y float64) bool {
	return math.Float64bits(x) == math.Float64bits(y) || (math.IsNaN(x) && math.IsNaN(y))
}

// The mask rule itself, on hand-worked cases, through every set (64 copies
// of each case, so the assembly sees them): g passes where
// float32(float32(y·a) + b) is positive by PositiveMask.
func TestReLUOfMaskRule(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	tiny := math.Float32frombits(1) // 2⁻¹⁴⁹
	nan, negNaN := math.Float32frombits(0x7fc00001), math.Float32frombits(0xffc00001)
	inf := float32(math.Inf(1))
	cases := []struct {
		y, a, b float32
		pass    bool
		why     string
	}{
		{1, 1, -1, false, "1·1 − 1 = +0"},
		{1.5, 1, -1, true, "0.5"},
		{0.5, 1, -1, false, "−0.5"},
		{0, -1, negZero, false, "(+0·−1) + −0 = −0"},
		{negZero, 1, 0, false, "−0 + +0 = +0"},
		{tiny, 1, 0, true, "the smallest subnormal"},
		{-tiny, 1, 0, false, "minus the smallest subnormal"},
		{tiny, 0.5, 0, false, "2⁻¹⁵⁰ rounds to +0 (ties to even)"},
		{3 * tiny, 0.5, 0, true, "1.5·2⁻¹⁴⁹ rounds to 2⁻¹⁴⁸ (ties to even)"},
		{-tiny, 0.5, 0, false, "−2⁻¹⁵⁰ rounds to −0"},
		{1 + 0x1p-23, 1 - 0x1p-24, -1, false, "the product rounds to 1 before b is added: +0"},
		{1 + 0x1p-22, 1 - 0x1p-24, -1, true, "the product rounds to 1 + 2⁻²³: 2⁻²³"},
		{nan, 2, 1, true, "a NaN with the sign bit clear"},
		{negNaN, 2, 1, false, "a NaN with the sign bit set"},
		{1, 2, nan, true, "b's NaN, sign bit clear"},
		{1, 2, negNaN, false, "b's NaN, sign bit set"},
		{inf, 1, -1e30, true, "+Inf"},
		{inf, -1, 1e30, false, "−Inf"},
	}
	for _, k := range available() {
		for _, c := range cases {
			const n = 64
			g, y, dst := make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range g {
				g[i], y[i] = 2, c.y
			}
			want := float32(0)
			if c.pass {
				want = 2
			}
			// dst = g'·1 + y·0 + 0 is g' unless y·0 is NaN (y NaN or
			// infinite): the sum below checks those.
			k.affine2ReLUOf(dst, g, y, c.a, c.b, 1, 0, 0)
			for i, v := range dst {
				if v != want && !isNaN(c.y) && !math.IsInf(float64(c.y), 0) {
					t.Fatalf("%s: Affine2ReLUOf(y=%g, a=%g, b=%g)[%d] = %g, want %g: %s", k.name, c.y, c.a, c.b, i, v, want, c.why)
				}
			}
			sum, _ := k.sumAndDotReLUOf(g, y, c.a, c.b)
			if sum != float64(want)*n {
				t.Fatalf("%s: SumAndDotReLUOf(y=%g, a=%g, b=%g) sums %g, want %g: %s", k.name, c.y, c.a, c.b, sum, float64(want)*n, c.why)
			}
		}
	}
}

// The exported functions run the chosen set's kernels and check lengths.
func TestReLUOfExported(t *testing.T) {
	g := []float32{1, 2, 3, 4, 5}
	y := []float32{-1, 0.5, 2, -3, 1}
	// a = 1, b = −0.75: y·a + b = −1.75, −0.25, 1.25, −3.75, 0.25.
	s, d := SumAndDotReLUOf(g, y, 1, -0.75)
	if s != 8 || d != 11 {
		t.Fatalf("SumAndDotReLUOf = %v, %v; want 8, 11", s, d)
	}
	dst := make([]float32, 5)
	Affine2ReLUOf(dst, g, y, 1, -0.75, 2, 1, 0.5)
	want := []float32{-0.5, 1, 8.5, -2.5, 11.5}
	for i := range dst {
		if dst[i] != want[i] {
			t.Fatalf("Affine2ReLUOf = %v, want %v", dst, want)
		}
	}
	AddAffine2ReLUOf(dst, g, y, 1, -0.75, 2, 1, 0.5)
	for i := range dst {
		if dst[i] != 2*want[i] {
			t.Fatalf("AddAffine2ReLUOf = %v, want %v", dst, want)
		}
	}
	for _, k := range available() {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Affine2ReLUOf with a short y did not panic", k.name)
				}
			}()
			k.affine2ReLUOf(make([]float32, 40), make([]float32, 40), make([]float32, 39), 1, 0, 1, 1, 0)
		}()
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: SumAndDotReLUOf with a short y did not panic", k.name)
				}
			}()
			k.sumAndDotReLUOf(make([]float32, 40), make([]float32, 39), 1, 0)
		}()
	}
}
