package bfp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/bfpengine/bfptest"
)

// sameFloats requires bit-identical values, except that +0 and -0 are
// treated as equal (they differ only in how a kernel happens to start its
// sums).
func sameFloats(t *testing.T, want, got []float32, msg string) {
	t.Helper()
	require.Len(t, got, len(want), msg)
	for i := range want {
		if want[i] == 0 && got[i] == 0 {
			continue
		}
		require.Equalf(t, math.Float32bits(want[i]), math.Float32bits(got[i]), "%s: element %d: want %g, got %g", msg, i, want[i], got[i])
	}
}

// operands quantises op(A) by rows into a and op(B) by columns into b, as
// the BFP backend does before each product.
func operands(q *Quantiser, g *backend.GEMM, a, b *Matrix) error {
	if err := q.Quantise(a, g.A, g.LDA, g.M, g.K, g.TransA); err != nil {
		return err
	}
	return q.Quantise(b, g.B, g.LDB, g.N, g.K, !g.TransB)
}

// window copies the M×N result out of C (row stride LDC).
func window(g backend.GEMM) []float32 {
	out := make([]float32, g.M*g.N)
	for i := 0; i < g.M; i++ {
		copy(out[i*g.N:(i+1)*g.N], g.C[i*g.LDC:i*g.LDC+g.N])
	}
	return out
}

func TestProductMatchesBigReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	formats := []Format{{Bits: 6, Tile: 128}, {Bits: 5, Tile: 7}, {Bits: 8, Tile: 16}, {Bits: 4, Tile: 1}, {Bits: 12, Tile: 4}, {Bits: 2, Tile: 33}}
	var exact, rounded, differ int
	defer func() {
		t.Logf("unordered: %d outputs provably exact, %d within the rounding tolerance, %d differing from the ordered sum", exact, rounded, differ)
	}()
	for _, f := range formats {
		q := NewQuantiser(f, 1)
		var a, b Matrix
		var scratch []float32
		for trial := 0; trial < 12; trial++ {
			m, n, k := 1+rng.IntN(17), 1+rng.IntN(13), 1+rng.IntN(300)
			g := bfptest.RandomGEMM(rng, m, n, k, trial%2 == 1, trial%4 >= 2, trial%3 == 0, rng.IntN(3))
			want := bfptest.Product(g, f.Bits, f.Tile)
			tol := bfptest.Tolerance(g, f.Bits, f.Tile)
			require.NoError(t, operands(q, &g, &a, &b))
			cin := slices.Clone(g.C)
			// Tiles in order: bit for bit.
			scratch = Product(nil, &a, &b, g.C, g.LDC, g.Accumulate, true, scratch)
			sameFloats(t, want, window(g), "ordered, format "+formatName(f))
			// One GEMM: exact where the tolerance is zero, else within it.
			copy(g.C, cin)
			scratch = Product(nil, &a, &b, g.C, g.LDC, g.Accumulate, false, scratch)
			got := window(g)
			for i := range want {
				if want[i] != got[i] {
					differ++
				}
				if tol[i] == 0 {
					exact++
					require.Equalf(t, want[i], got[i], "unordered, format %s, element %d must be exact", formatName(f), i)
				} else {
					rounded++
					require.InDeltaf(t, want[i], got[i], tol[i], "unordered, format %s, element %d", formatName(f), i)
				}
			}
		}
	}
}

func formatName(f Format) string { return fmt.Sprintf("b=%d h=%d", f.Bits, f.Tile) }

func TestTileDotAndMantissas(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	f := Format{Bits: 7, Tile: 10}
	q := NewQuantiser(f, 1)
	g := bfptest.RandomGEMM(rng, 5, 4, 37, true, false, false, 1)
	var a, b Matrix
	require.NoError(t, operands(q, &g, &a, &b))
	ma := a.Mantissas(nil)
	for i := 0; i < g.M; i++ {
		for t0 := 0; t0 < a.Tiles(); t0++ {
			k0, k1 := t0*f.Tile, min((t0+1)*f.Tile, g.K)
			block := make([]float64, k1-k0)
			for p := k0; p < k1; p++ {
				block[p-k0] = float64(g.AtA(i, p))
			}
			wantQ, _ := bfptest.Quantise(block, f.Bits)
			for p := k0; p < k1; p++ {
				require.Equal(t, wantQ[p-k0], int64(ma[i*g.K+p]))
				require.Equal(t, wantQ[p-k0], a.Mantissa(i, p))
			}
			for j := 0; j < g.N; j++ {
				var want int64
				for p := k0; p < k1; p++ {
					want += a.Mantissa(i, p) * b.Mantissa(j, p)
				}
				got, _ := TileDot(&a, &b, i, j, t0)
				require.Equal(t, want, got)
			}
		}
	}
}

func TestQuantiseEdgeCases(t *testing.T) {
	f := Format{Bits: 4, Tile: 4} // mantissas in [-7, 7]
	cases := []struct {
		name  string
		block []float32
		want  []int64 // mantissas
		exp   int32
	}{
		// max 1 = 1·2^0 → e = 0-(4-2) = -2, steps of 1/4.
		{"ties to even", []float32{1, 0.125, 0.375, -0.625}, []int64{4, 0, 2, -2}, -2},
		// 1.9375 → 7.75 rounds to 8 and saturates at 7.
		{"saturates", []float32{1.9375, -1.9375, 1.75, 0}, []int64{7, -7, 7, 0}, -2},
		{"all zero", []float32{0, 0, 0, 0}, []int64{0, 0, 0, 0}, 0},
		{"subnormal flushed", []float32{1e-40, -1e-41, 0, 0}, []int64{0, 0, 0, 0}, 0},
		{"huge", []float32{3e38, -1e38, 1, 0}, []int64{7, -2, 0, 0}, 125},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, strided := range []bool{false, true} {
				ld := 4 // one row of 4
				if strided {
					ld = 1 // one column of 4
				}
				var m Matrix
				require.NoError(t, NewQuantiser(f, 1).Quantise(&m, tc.block, ld, 1, 4, strided))
				require.Equal(t, tc.exp, m.Exp[0])
				for p, w := range tc.want {
					require.Equal(t, w, m.Mantissa(0, p), "element %d strided=%v", p, strided)
				}
			}
		})
	}
}

// TestQuantiseNonFiniteBecomesNaN: a block holding Inf or NaN has no
// scale; it turns into NaNs (as the FP32 product would be poisoned) and is
// counted, in both layouts and both roundings; other blocks are untouched.
func TestQuantiseNonFiniteBecomesNaN(t *testing.T) {
	for _, x := range []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())} {
		for _, r := range []Rounding{Nearest, Stochastic} {
			for _, strided := range []bool{false, true} {
				var m Matrix
				src := []float32{1, 2, 3, 4, 1, 2, x, 3} // one vector, tiles of 4
				ld := 8
				if strided {
					ld = 1
				}
				require.NoError(t, NewQuantiser(Format{Bits: 6, Tile: 4, Rounding: r}, 1).Quantise(&m, src, ld, 1, 8, strided))
				require.Equal(t, 1, m.NonFinite)
				for p := 0; p < 4; p++ {
					require.Equal(t, int64(src[p])*4, m.Mantissa(0, p), "the finite block keeps its values (max 4 = 2^2: e = -2)")
					require.True(t, math.IsNaN(float64(m.At(0, 4+p))), "x=%v %v strided=%v element %d", x, r, strided, 4+p)
				}
			}
		}
	}
}

func TestQuantiseRefusesShortSource(t *testing.T) {
	var m Matrix
	q := NewQuantiser(Format{Bits: 6, Tile: 4}, 1)
	require.ErrorContains(t, q.Quantise(&m, make([]float32, 7), 4, 2, 4, false), "has 7 elements, needs 8")
	require.ErrorContains(t, q.Quantise(&m, make([]float32, 7), 2, 2, 4, true), "has 7 elements, needs 8")
}

// TestStochasticRoundingUnbiased checks that stochastic rounding only ever
// picks one of the two neighbouring mantissas and is unbiased: over n
// trials the mean mantissa must be within 4 standard errors (≤ 0.5/√n) of
// the exact scaled value.
func TestStochasticRoundingUnbiased(t *testing.T) {
	f := Format{Bits: 5, Tile: 4, Rounding: Stochastic} // max 1 → e = -3
	q := NewQuantiser(f, 7)
	src := []float32{1, 0.3, -0.7, 0.0625}
	const n = 20000
	sums := make([]float64, len(src))
	var m Matrix
	for trial := 0; trial < n; trial++ {
		require.NoError(t, q.Quantise(&m, src, 4, 1, 4, false))
		for p, x := range src {
			got := float64(m.Mantissa(0, p))
			exact := float64(x) * 8
			require.True(t, got == math.Floor(exact) || got == math.Ceil(exact), "mantissa %v is not a neighbour of %v", got, exact)
			sums[p] += got
		}
	}
	for p, x := range src {
		require.InDelta(t, float64(x)*8, sums[p]/n, 4*0.5/math.Sqrt(n), "element %d", p)
	}
}

func TestStochasticRoundingStrided(t *testing.T) {
	f := Format{Bits: 5, Tile: 4, Rounding: Stochastic}
	q := NewQuantiser(f, 9)
	src := []float32{1, 0.3, -0.7, 0.0625} // one column of length 4
	const n = 20000
	var sum float64
	var m Matrix
	for trial := 0; trial < n; trial++ {
		require.NoError(t, q.Quantise(&m, src, 1, 1, 4, true))
		sum += float64(m.Mantissa(0, 1))
	}
	require.InDelta(t, 0.3*8, sum/n, 4*0.5/math.Sqrt(n))
}

// Within one quantisation the elements draw different numbers: a large
// operand of one value rounds up in the expected fraction of its elements
// (within 4 standard errors), and neighbouring elements' choices are
// uncorrelated (|r| within 4/√n), in both layouts.
func TestStochasticRoundingAcrossElements(t *testing.T) {
	const rows, k = 600, 128
	f := Format{Bits: 5, Tile: k, Rounding: Stochastic}
	for _, strided := range []bool{false, true} {
		// Every vector is 1 (its maximum, so e = -3) then 0.3s.
		src := make([]float32, rows*k)
		ld := k
		if strided {
			ld = rows // a k×rows matrix: vector v is column v
		}
		for v := range rows {
			for p := range k {
				x := float32(0.3)
				if p == 0 {
					x = 1
				}
				if strided {
					src[p*ld+v] = x
				} else {
					src[v*ld+p] = x
				}
			}
		}
		var m Matrix
		require.NoError(t, NewQuantiser(f, 3).Quantise(&m, src, ld, rows, k, strided))
		var up []float64
		for v := range rows {
			for p := 1; p < k; p++ {
				got := m.Mantissa(v, p)
				require.True(t, got == 2 || got == 3, "mantissa %d of 0.3·8 = 2.4", got)
				up = append(up, float64(got-2))
			}
		}
		n := float64(len(up))
		mean := 0.0
		for _, u := range up {
			mean += u / n
		}
		require.InDelta(t, 0.4, mean, 4*math.Sqrt(0.4*0.6/n), "strided=%v", strided)
		var cov, vr float64
		for i := 1; i < len(up); i++ {
			cov += (up[i] - mean) * (up[i-1] - mean)
		}
		for _, u := range up {
			vr += (u - mean) * (u - mean)
		}
		require.InDelta(t, 0, cov/vr, 4/math.Sqrt(n), "strided=%v: neighbours correlate", strided)
	}
}

// A large operand is rounded by several goroutines; the draws depend on
// each element's index only, so the result is the serial one, bit for
// bit, in both layouts (including columns shared out by tiles).
func TestStochasticRoundingParallelEqualsSerial(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, sh := range []struct {
		rows, k int
		strided bool
	}{{1000, 300, false}, {1000, 300, true}, {25, 4000, true}} {
		src := make([]float32, sh.rows*sh.k)
		for i := range src {
			src[i] = float32(rng.NormFloat64())
		}
		ld := sh.k
		if sh.strided {
			ld = sh.rows
		}
		f := Format{Bits: 6, Tile: 128, Rounding: Stochastic}
		var serial, par Matrix
		prev := runtime.GOMAXPROCS(1)
		err := NewQuantiser(f, 11).Quantise(&serial, src, ld, sh.rows, sh.k, sh.strided)
		runtime.GOMAXPROCS(max(prev, 2))
		require.NoError(t, err)
		require.NoError(t, NewQuantiser(f, 11).Quantise(&par, src, ld, sh.rows, sh.k, sh.strided))
		runtime.GOMAXPROCS(prev)
		require.Equal(t, serial.Exp, par.Exp)
		for i := range serial.Values {
			require.Equal(t, math.Float32bits(serial.Values[i]), math.Float32bits(par.Values[i]), "%+v element %d", sh, i)
		}
	}
}

// The AVX-512 kernels of stochastic rounding return Go's results bit for
// bit (NaN for NaN), in both layouts, on lengths that are not multiples of
// 8 and on blocks that are zero, non-finite, or scaled outside FP32's
// normal range.
func TestStochasticKernelsMatchGo(t *testing.T) {
	if !hasAVX512DQ {
		t.Skip("this CPU has no AVX-512DQ: the Go loop is the only stochastic rounding")
	}
	rng := rand.New(rand.NewPCG(21, 22))
	for _, sh := range []struct {
		rows, k, tile int
		strided       bool
	}{{37, 301, 128, false}, {37, 301, 128, true}, {300, 40, 16, true}, {5, 1000, 7, false}, {1000, 60, 32, false}} {
		src := make([]float32, sh.rows*sh.k)
		for i := range src {
			src[i] = float32(rng.NormFloat64())
		}
		for i := 0; i+sh.tile <= len(src); i += 5 * sh.tile { // blocks of every kind along the way
			switch i / (5 * sh.tile) % 4 {
			case 0:
				clear(src[i : i+sh.tile])
			case 1:
				src[i+1] = float32(math.Inf(1))
			case 2:
				for j := i; j < i+sh.tile; j++ {
					src[j] *= 1e-38
				}
			case 3:
				for j := i; j < i+sh.tile; j++ {
					src[j] *= 1e37
				}
			}
		}
		ld := sh.k
		if sh.strided {
			ld = sh.rows
		}
		f := Format{Bits: 7, Tile: sh.tile, Rounding: Stochastic}
		vec, scalar := NewQuantiser(f, 4), NewQuantiser(f, 4)
		scalar.vectorStochastic = false
		var a, b Matrix
		for range 2 { // a second call draws a second key
			require.NoError(t, vec.Quantise(&a, src, ld, sh.rows, sh.k, sh.strided))
			require.NoError(t, scalar.Quantise(&b, src, ld, sh.rows, sh.k, sh.strided))
			require.Equal(t, b.Exp, a.Exp)
			require.Equal(t, b.NonFinite, a.NonFinite)
			for i := range a.Values {
				x, y := a.Values[i], b.Values[i]
				if math.IsNaN(float64(y)) {
					require.True(t, math.IsNaN(float64(x)), "%+v element %d: want NaN, got %g", sh, i, x)
					continue
				}
				require.Equal(t, math.Float32bits(y), math.Float32bits(x), "%+v element %d: want %g, got %g", sh, i, y, x)
			}
		}
	}
}

func TestFormatValidate(t *testing.T) {
	cases := []struct {
		f    Format
		want string // substring of the error, "" for valid
	}{
		{Format{Bits: 6, Tile: 128}, ""},
		{Format{Bits: 12, Tile: 4}, ""},
		{Format{Bits: 1, Tile: 128}, "--bfp-bits 1 is outside [2, 12]"},
		{Format{Bits: 13, Tile: 1}, "--bfp-bits 13"},
		{Format{Bits: 6, Tile: 0}, "--tile 0 must be at least 1"},
		{Format{Bits: 10, Tile: 128}, "lower --tile to 64"},
		{Format{Bits: 6, Tile: 128, Rounding: 5}, "unknown rounding"},
	}
	for _, tc := range cases {
		err := tc.f.Validate()
		if tc.want == "" {
			require.NoError(t, err)
			continue
		}
		require.ErrorContains(t, err, tc.want)
	}
}

func TestParseRounding(t *testing.T) {
	for _, r := range []Rounding{Nearest, Stochastic} {
		got, err := ParseRounding(r.String())
		require.NoError(t, err)
		require.Equal(t, r, got)
	}
	_, err := ParseRounding("up")
	require.ErrorContains(t, err, "nearest")
}

func TestProductEmptyShapes(t *testing.T) {
	q := NewQuantiser(Format{Bits: 6, Tile: 8}, 1)
	var a, b Matrix
	// K = 0: C is zeroed, or kept when accumulating.
	for _, acc := range []bool{false, true} {
		g := backend.GEMM{M: 2, N: 2, K: 0, LDA: 1, LDB: 2, LDC: 2, C: []float32{1, 2, 3, 4}, Accumulate: acc}
		require.NoError(t, operands(q, &g, &a, &b))
		Product(nil, &a, &b, g.C, g.LDC, g.Accumulate, true, nil)
		if acc {
			require.Equal(t, []float32{1, 2, 3, 4}, g.C)
		} else {
			require.Equal(t, []float32{0, 0, 0, 0}, g.C)
		}
	}
}

// TestQuantiseAllLayoutsAndRanges compares mantissas and exponents with the
// reference for both layouts, block lengths around the SIMD width, and
// magnitudes from 1e-38 to 1e38, which exercise the float64 path for scales
// outside FP32's normal range.
func TestQuantiseAllLayoutsAndRanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, bits := range []int{2, 6, 12} {
		for _, mag := range []float64{1e-38, 3e-37, 1e-20, 1, 1e30, 1.5e38} {
			f := Format{Bits: bits, Tile: 21}
			rows, k := 19, 47 // tiles of 21, 21, 5; 19 columns: two SIMD blocks and a tail
			src := make([]float32, rows*k)
			for i := range src {
				src[i] = float32(rng.NormFloat64() * mag / 3)
			}
			for _, strided := range []bool{false, true} {
				var m Matrix
				ld := k
				if strided {
					ld = rows
				}
				require.NoError(t, NewQuantiser(f, 1).Quantise(&m, src, ld, rows, k, strided))
				for v := 0; v < rows; v++ {
					for t0 := 0; t0 < m.Tiles(); t0++ {
						k0, k1 := t0*f.Tile, min((t0+1)*f.Tile, k)
						block := make([]float64, k1-k0)
						for p := k0; p < k1; p++ {
							if strided {
								block[p-k0] = float64(src[p*ld+v])
							} else {
								block[p-k0] = float64(src[v*ld+p])
							}
						}
						wantQ, wantE := bfptest.Quantise(block, bits)
						if slicesAnyNonzero(wantQ) { // zero blocks keep exponent 0
							require.Equal(t, int32(wantE), m.Exp[v*m.Tiles()+t0], "b=%d mag=%g strided=%v", bits, mag, strided)
						}
						for p := k0; p < k1; p++ {
							require.Equal(t, wantQ[p-k0], m.Mantissa(v, p), "b=%d mag=%g strided=%v v=%d p=%d", bits, mag, strided, v, p)
						}
					}
				}
			}
		}
	}
}

func slicesAnyNonzero(q []int64) bool {
	for _, x := range q {
		if x != 0 {
			return true
		}
	}
	return false
}

// TestQuantiseMixedRows interleaves rows the SIMD kernel hands back to Go
// (scales outside FP32's normal range) with ordinary ones, and checks
// every mantissa against the reference, then puts a NaN in a middle row.
func TestQuantiseMixedRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	f := Format{Bits: 6, Tile: 16}
	rows, k := 9, 40
	src := make([]float32, rows*k)
	for v := 0; v < rows; v++ {
		mag := 1.0
		if v%3 == 1 {
			mag = 2e-37
		}
		for p := 0; p < k; p++ {
			src[v*k+p] = float32(rng.NormFloat64() * mag)
		}
	}
	var m Matrix
	require.NoError(t, NewQuantiser(f, 1).Quantise(&m, src, k, rows, k, false))
	for v := 0; v < rows; v++ {
		for t0 := 0; t0 < m.Tiles(); t0++ {
			k0, k1 := t0*f.Tile, min((t0+1)*f.Tile, k)
			block := make([]float64, k1-k0)
			for p := k0; p < k1; p++ {
				block[p-k0] = float64(src[v*k+p])
			}
			wantQ, _ := bfptest.Quantise(block, f.Bits)
			for p := k0; p < k1; p++ {
				require.Equal(t, wantQ[p-k0], m.Mantissa(v, p), "row %d element %d", v, p)
			}
		}
	}
	src[5*k+33] = float32(math.NaN())
	require.NoError(t, NewQuantiser(f, 1).Quantise(&m, src, k, rows, k, false))
	require.Equal(t, 1, m.NonFinite)
	for p := 0; p < k; p++ {
		require.Equal(t, p >= 32, math.IsNaN(float64(m.At(5, p))), "row 5 element %d", p)
		require.False(t, math.IsNaN(float64(m.At(6, p))), "row 6 element %d", p)
	}
}

// TestZeroBlocksMatchesDefinition: on random matrices in both layouts,
// with whole zero blocks (many or few per tile), partly zero blocks, NaN
// and a short last tile,
// ZeroBlocks flags exactly the blocks whose every value is 0.
func TestZeroBlocksMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	f := Format{Bits: 6, Tile: 16}
	for trial := range 40 {
		rows, k := 1+rng.IntN(60), 1+rng.IntN(100)
		kMajor := trial%2 == 1
		src := make([]float32, rows*k)
		at := func(v, p int) *float32 {
			if kMajor {
				return &src[p*rows+v]
			}
			return &src[v*k+p]
		}
		for v := range rows {
			for p := range k {
				switch r := rng.IntN(10); {
				case trial%4 < 2 && (p/f.Tile+v)%3 == 0: // whole zero blocks, many
				case trial%4 >= 2 && v%10 == 3 && (p/f.Tile)%2 == 0: // few
				case r < 4: // zeros within live blocks
				case r == 9 && trial%5 == 0:
					*at(v, p) = float32(math.NaN())
				default:
					*at(v, p) = float32(rng.NormFloat64() * 20)
				}
			}
		}
		ld := k
		if kMajor {
			ld = rows
		}
		var m Matrix
		require.NoError(t, NewQuantiser(f, 1).Quantise(&m, src, ld, rows, k, kMajor))
		tiles := m.Tiles()
		want := make([]bool, rows*tiles)
		for v := range rows {
			for tl := range tiles {
				want[v*tiles+tl] = true
				for p := tl * f.Tile; p < min((tl+1)*f.Tile, k); p++ {
					if m.At(v, p) != 0 {
						want[v*tiles+tl] = false
					}
				}
			}
		}
		require.Equal(t, want, m.ZeroBlocks(nil), "trial %d: %d×%d kMajor %v", trial, rows, k, kMajor)
	}
}

// TestZeroBlocks: only blocks flushed to zero are flagged, not blocks whose
// exponent happens to be 0 (largest magnitude in [2^(b-2), 2^(b-1))), nor
// NaN blocks, in both layouts and with a short last tile.
func TestZeroBlocks(t *testing.T) {
	f := Format{Bits: 6, Tile: 4}
	// Three vectors of length 10 (tiles 4, 4, 2), element p of vector v at
	// rows[v][p].
	rows := [][]float32{
		{0, 0, 0, 0, 16, 0, 0, 0, 0, 0},                     // zero, exponent 0 (16 = 2^(b-2)), zero
		{1e-40, 0, 0, 0, 0.5, 0, 0, 0, 31, -17},             // flushed subnormal, 0.5, exponent 0
		{float32(math.NaN()), 0, 0, 0, 0, 0, 0, 0, 0, 1e-3}, // NaN, zero, tiny
	}
	want := []bool{true, false, true, true, false, false, false, true, false}
	for _, kMajor := range []bool{false, true} {
		src := make([]float32, 3*10)
		for v, r := range rows {
			for p, x := range r {
				if kMajor {
					src[p*3+v] = x
				} else {
					src[v*10+p] = x
				}
			}
		}
		ld := 10
		if kMajor {
			ld = 3
		}
		var m Matrix
		require.NoError(t, NewQuantiser(f, 1).Quantise(&m, src, ld, 3, 10, kMajor))
		require.Equal(t, int32(0), m.Exp[1], "the block holding 16 has exponent 0")
		require.Equal(t, want, m.ZeroBlocks(nil), "kMajor %v", kMajor)
	}
}
