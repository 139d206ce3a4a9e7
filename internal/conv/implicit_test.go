package conv

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// implicitGeometries are stride-1 convolutions with square kernels: all
// paddings from 0 to KH−1, kernels 1, 3 and 5, non-square images, and
// grid rows (OH·PW) that do not fill the GEMM's tiles.
var implicitGeometries = []Geometry{
	{N: 2, C: 3, H: 5, W: 5, KH: 3, KW: 3, Stride: 1, Pad: 1},
	{N: 1, C: 2, H: 7, W: 6, KH: 3, KW: 3, Stride: 1, Pad: 0},
	{N: 3, C: 1, H: 8, W: 9, KH: 3, KW: 3, Stride: 1, Pad: 2},
	{N: 2, C: 4, H: 3, W: 3, KH: 1, KW: 1, Stride: 1, Pad: 0},
	{N: 2, C: 6, H: 12, W: 12, KH: 5, KW: 5, Stride: 1, Pad: 0}, // LeNet conv2
	{N: 1, C: 2, H: 6, W: 11, KH: 5, KW: 5, Stride: 1, Pad: 4},
	{N: 3, C: 16, H: 8, W: 8, KH: 3, KW: 3, Stride: 1, Pad: 1}, // ResNet-20 stage 3, fewer channels
	{N: 1, C: 1, H: 1, W: 1, KH: 1, KW: 1, Stride: 1, Pad: 0},
	{N: 2, C: 33, H: 10, W: 7, KH: 3, KW: 3, Stride: 1, Pad: 1}, // k = 297, odd channel counts
}

// forEachTerm calls visit for every product of the convolution's
// definition that lands inside the input: the indices of the output
// (n, oc, oy, ox) in y, of the input pixel in x and of the weight in w.
func forEachTerm(g Geometry, o int, visit func(yi, xi, wi int)) {
	oh, ow := g.OutH(), g.OutW()
	for n := 0; n < g.N; n++ {
		for oc := 0; oc < o; oc++ {
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					for c := 0; c < g.C; c++ {
						for ky := 0; ky < g.KH; ky++ {
							for kx := 0; kx < g.KW; kx++ {
								iy, ix := oy*g.Stride-g.Pad+ky, ox*g.Stride-g.Pad+kx
								if iy < 0 || iy >= g.H || ix < 0 || ix >= g.W {
									continue
								}
								visit(((n*o+oc)*oh+oy)*ow+ox, ((n*g.C+c)*g.H+iy)*g.W+ix, ((oc*g.C+c)*g.KH+ky)*g.KW+kx)
							}
						}
					}
				}
			}
		}
	}
}

// convReference returns the convolution of x with w plus bias by its
// definition, in float64, and for each output the bound Σ|w·x| that
// scales its float32 rounding error.
func convReference(g Geometry, o int, x, w, bias []float32) (y, bound []float64) {
	positions := g.OutH() * g.OutW()
	y, bound = make([]float64, g.N*o*positions), make([]float64, g.N*o*positions)
	if bias != nil {
		for i := range y {
			b := float64(bias[i/positions%o])
			y[i], bound[i] = b, math.Abs(b)
		}
	}
	forEachTerm(g, o, func(yi, xi, wi int) {
		p := float64(w[wi]) * float64(x[xi])
		y[yi] += p
		bound[yi] += math.Abs(p)
	})
	return y, bound
}

// inputGradReference returns the input gradient of that convolution for
// output gradient dy, by its definition, in float64, with bounds.
func inputGradReference(g Geometry, o int, dy, w []float32) (dx, bound []float64) {
	dx, bound = make([]float64, g.N*g.C*g.H*g.W), make([]float64, g.N*g.C*g.H*g.W)
	forEachTerm(g, o, func(yi, xi, wi int) {
		p := float64(dy[yi]) * float64(w[wi])
		dx[xi] += p
		bound[xi] += math.Abs(p)
	})
	return dx, bound
}

// weightGradReference returns the weight gradient of the convolution of
// x for output gradient dy by its definition, in float64, with bounds.
func weightGradReference(g Geometry, o int, x, dy []float32) (dw, bound []float64) {
	dw, bound = make([]float64, o*g.Cols()), make([]float64, o*g.Cols())
	forEachTerm(g, o, func(yi, xi, wi int) {
		p := float64(dy[yi]) * float64(x[xi])
		dw[wi] += p
		bound[wi] += math.Abs(p)
	})
	return dw, bound
}

// requireClose checks got against want within the float32 rounding of a
// sum of terms of absolute sum bound: |got − want| ≤ 1e-5·bound (a sum
// of k ≤ 300 float32 products rounds by at most about k·2⁻²⁴·bound ≈
// 2e-5·bound in the worst case and far less in practice), plus 1e-30 for
// exact zeros.
func requireClose(t *testing.T, want, bound []float64, got []float32, what string) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		require.InDelta(t, want[i], float64(got[i]), 1e-5*bound[i]+1e-30, "%s element %d", what, i)
	}
}

func TestImplicitForwardMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var w Workers
	for _, g := range implicitGeometries {
		require.True(t, g.Implicit(), "%+v", g)
		for _, withBias := range []bool{false, true} {
			o := 1 + rng.IntN(20)
			x := randSlice(rng, g.N*g.C*g.H*g.W)
			wts := randSlice(rng, o*g.Cols())
			var bias []float32
			if withBias {
				bias = randSlice(rng, o)
			}
			y := make([]float32, g.N*o*g.OutH()*g.OutW())
			for i := range y {
				y[i] = float32(math.NaN()) // every output must be written
			}
			w.ImplicitForward(g, o, x, wts, bias, y)
			want, bound := convReference(g, o, x, wts, bias)
			requireClose(t, want, bound, y, "forward")
		}
	}
}

// TestImplicitForwardMatchesIm2col checks the claim that the implicit
// product sums exactly as the im2col product does, bit for bit.
func TestImplicitForwardMatchesIm2col(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	for _, g := range implicitGeometries {
		o := 1 + rng.IntN(20)
		x := randSlice(rng, g.N*g.C*g.H*g.W)
		wts := randSlice(rng, o*g.Cols())
		bias := randSlice(rng, o)
		got := make([]float32, g.N*o*g.OutH()*g.OutW())
		new(Workers).ImplicitForward(g, o, x, wts, bias, got)
		requireIm2colBits(t, g, o, x, wts, bias, got)
	}
}

// requireIm2colBits checks that got holds, bit for bit, the im2col
// product cols·wtsᵀ + bias as a one-goroutine GEMM kernel sums it.
func requireIm2colBits(t *testing.T, g Geometry, o int, x, wts, bias, got []float32) {
	t.Helper()
	cols := make([]float32, g.Rows()*g.Cols())
	Im2col(g, x, cols)
	rows := make([]float32, g.Rows()*o)
	// One row at a time: the plain triple loop of a one-goroutine GEMM
	// kernel, fused multiply-adds in increasing k.
	for r := 0; r < g.Rows(); r++ {
		for oc := 0; oc < o; oc++ {
			var s float32
			for p := 0; p < g.Cols(); p++ {
				s = float32(math.FMA(float64(cols[r*g.Cols()+p]), float64(wts[oc*g.Cols()+p]), float64(s)))
			}
			rows[r*o+oc] = s
		}
	}
	want := make([]float32, len(got))
	RowsToNCHW(rows, bias, want, g.N, o, g.OutH()*g.OutW())
	for i := range want {
		require.Equal(t, math.Float32bits(want[i]), math.Float32bits(got[i]), "%+v element %d: %g, want %g", g, i, got[i], want[i])
	}
}

func TestImplicitInputGradMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	var w Workers
	for _, g := range implicitGeometries {
		for _, assign := range []bool{true, false} {
			requireInputGrad(t, &w, rng, g, 1+rng.IntN(20), assign)
		}
	}
}

// requireInputGrad checks ImplicitInputGrad on random operands of g with o
// output channels against its definition: written over NaN with assign,
// else added to what dx held.
func requireInputGrad(t *testing.T, w *Workers, rng *rand.Rand, g Geometry, o int, assign bool) {
	t.Helper()
	dy := randSlice(rng, g.N*o*g.OutH()*g.OutW())
	wts := randSlice(rng, o*g.Cols())
	dx := randSlice(rng, g.N*g.C*g.H*g.W)
	before := append([]float32(nil), dx...)
	if assign {
		for i := range dx {
			dx[i] = float32(math.NaN()) // must be overwritten
		}
	}
	w.ImplicitInputGrad(g, o, dy, wts, dx, assign)
	want, bound := inputGradReference(g, o, dy, wts)
	if !assign {
		for i := range want {
			want[i] += float64(before[i])
			bound[i] += math.Abs(float64(before[i]))
		}
	}
	requireClose(t, want, bound, dx, "input gradient")
}

// requireWeightGrad checks WeightGrad on random operands of g with o output
// channels against its definition, added to what dw held. Sums of up to
// N·OH·OW = 1,792 products, in chunks: 1e-5 of the absolute sum is about
// 40 float32 roundings of it.
func requireWeightGrad(t *testing.T, w *Workers, rng *rand.Rand, g Geometry, o int) {
	t.Helper()
	x := randSlice(rng, g.N*g.C*g.H*g.W)
	dy := randSlice(rng, g.N*o*g.OutH()*g.OutW())
	dw := randSlice(rng, o*g.Cols())
	before := append([]float32(nil), dw...)
	w.WeightGrad(g, o, x, dy, dw)
	want, bound := weightGradReference(g, o, x, dy)
	for i := range want {
		want[i] += float64(before[i])
		bound[i] += math.Abs(float64(before[i]))
	}
	requireClose(t, want, bound, dw, "weight gradient")
}

// TestImplicitParallelMatchesSerial checks that splitting the images
// between goroutines does not change any result.
func TestImplicitParallelMatchesSerial(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	g := Geometry{N: 9, C: 16, H: 16, W: 16, KH: 3, KW: 3, Stride: 1, Pad: 1}
	o := 16
	require.GreaterOrEqual(t, g.N*o*g.OutH()*g.OutW()*g.Cols(), parallelMin, "the test must exercise the parallel path")
	x := randSlice(rng, g.N*g.C*g.H*g.W)
	wts := randSlice(rng, o*g.Cols())
	par, ser := make([]float32, g.N*o*256), make([]float32, g.N*o*256)
	var w Workers
	w.ImplicitForward(g, o, x, wts, nil, par)
	for n := 0; n < g.N; n++ {
		one := g
		one.N = 1
		w.ImplicitForward(one, o, x[n*g.C*256:(n+1)*g.C*256], wts, nil, ser[n*o*256:(n+1)*o*256])
	}
	require.Equal(t, ser, par)

	dxPar, dxSer := make([]float32, len(x)), make([]float32, len(x))
	w.ImplicitInputGrad(g, o, par, wts, dxPar, true)
	for n := 0; n < g.N; n++ {
		one := g
		one.N = 1
		w.ImplicitInputGrad(one, o, par[n*o*256:(n+1)*o*256], wts, dxSer[n*g.C*256:(n+1)*g.C*256], true)
	}
	require.Equal(t, dxSer, dxPar)
}

func TestImplicitNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	rng := rand.New(rand.NewPCG(11, 11))
	g := Geometry{N: 8, C: 16, H: 16, W: 16, KH: 3, KW: 3, Stride: 1, Pad: 1}
	o := 16
	x := randSlice(rng, g.N*g.C*g.H*g.W)
	wts := randSlice(rng, o*g.Cols())
	y := make([]float32, g.N*o*256)
	var w Workers
	w.ImplicitForward(g, o, x, wts, nil, y) // sizes the scratch buffers
	w.ImplicitInputGrad(g, o, y, wts, x, false)
	allocs := testing.AllocsPerRun(10, func() {
		w.ImplicitForward(g, o, x, wts, nil, y)
		w.ImplicitInputGrad(g, o, y, wts, x, false)
	})
	require.Zero(t, allocs)
}

// TestWeightGradMatchesDefinition covers every geometry, strided and
// padded ones included, batches large enough to be split in chunks, and
// the layers computed without cols (16 or more channels, 3×3 or 1×1),
// with tiles of 24 rows (16 output channels) and of 8 (more).
func TestWeightGradMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	type layer struct {
		g Geometry
		o int
	}
	var layers []layer
	for _, g := range geometries {
		layers = append(layers, layer{g, 1 + rng.IntN(20)})
	}
	large := []layer{
		{Geometry{N: 9, C: 16, H: 16, W: 16, KH: 3, KW: 3, Stride: 1, Pad: 1}, 16},
		{Geometry{N: 7, C: 16, H: 33, W: 31, KH: 3, KW: 3, Stride: 2, Pad: 1}, 16},
		{Geometry{N: 9, C: 33, H: 10, W: 9, KH: 3, KW: 3, Stride: 1, Pad: 1}, 40},
		{Geometry{N: 5, C: 20, H: 12, W: 12, KH: 1, KW: 1, Stride: 1, Pad: 0}, 17},
		// Shifted copies (shifted.go): 16 and 32 channels into 16.
		{Geometry{N: 6, C: 16, H: 9, W: 11, KH: 3, KW: 3, Stride: 1, Pad: 0}, 16},
		{Geometry{N: 4, C: 32, H: 7, W: 6, KH: 3, KW: 3, Stride: 1, Pad: 2}, 16},
	}
	var w Workers
	chunked, withoutCols, shifted := 0, 0, 0
	for _, l := range append(layers, large...) {
		g, o := l.g, l.o
		if g.N*g.OutH()*g.OutW()*g.Cols()*o >= parallelMin*64 {
			chunked++
		}
		if implicitWeightRows(g, o) > 0 {
			withoutCols++
		}
		if shiftedWeightRows(g, o) {
			shifted++
		}
		requireWeightGrad(t, &w, rng, g, o)
	}
	require.GreaterOrEqual(t, chunked, 3, "large cases must be split into chunks")
	require.Equal(t, 6, withoutCols, "six cases (one of stride 2) must be computed without cols")
	require.GreaterOrEqual(t, shifted, 3, "three cases must stack shifted copies")
}

// TestWeightGradIsDeterministic checks that repeated calls, with the
// goroutines scheduled differently, give identical results.
func TestWeightGradIsDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 13))
	g := Geometry{N: 9, C: 16, H: 16, W: 16, KH: 3, KW: 3, Stride: 1, Pad: 1}
	o := 16
	x := randSlice(rng, g.N*g.C*g.H*g.W)
	dy := randSlice(rng, g.N*o*g.OutH()*g.OutW())
	first := make([]float32, o*g.Cols())
	var w Workers
	w.WeightGrad(g, o, x, dy, first)
	for i := 0; i < 5; i++ {
		again := make([]float32, o*g.Cols())
		w.WeightGrad(g, o, x, dy, again)
		require.Equal(t, first, again)
	}
}

// TestPadImageOverwritesEverything checks that padImage writes every
// element of the padded image (border zeros included) over a buffer full
// of NaN, as the scratch buffers it is given hold other data.
func TestPadImageOverwritesEverything(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 14))
	for _, g := range append(append([]Geometry{}, geometries...), implicitGeometries...) {
		img := randSlice(rng, g.C*g.H*g.W)
		buf := make([]float32, g.paddedImage()+3)
		for i := range buf {
			buf[i] = float32(math.NaN())
		}
		padImage(g, img, buf)
		pw, ph := g.W+2*g.Pad, g.H+2*g.Pad
		for c := 0; c < g.C; c++ {
			for y := 0; y < ph; y++ {
				for x := 0; x < pw; x++ {
					var want float32
					if iy, ix := y-g.Pad, x-g.Pad; iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
						want = img[(c*g.H+iy)*g.W+ix]
					}
					require.Equal(t, want, buf[(c*ph+y)*pw+x], "%+v c %d y %d x %d", g, c, y, x)
				}
			}
		}
		for _, v := range buf[g.paddedImage():] {
			require.True(t, math.IsNaN(float64(v)), "%+v: wrote past the padded image", g)
		}
	}
}

// TestBackwardMatchesSeparateGradients checks that Backward's one pass
// gives exactly what ImplicitInputGrad and WeightGrad give separately.
func TestBackwardMatchesSeparateGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 15))
	for _, tc := range []struct {
		g Geometry
		o int
	}{
		{Geometry{N: 9, C: 16, H: 12, W: 12, KH: 3, KW: 3, Stride: 1, Pad: 1}, 16}, // without cols
		{Geometry{N: 7, C: 6, H: 12, W: 12, KH: 5, KW: 5, Stride: 1, Pad: 0}, 16},  // with cols
		{Geometry{N: 1, C: 2, H: 5, W: 4, KH: 3, KW: 3, Stride: 1, Pad: 2}, 3},
	} {
		g, o := tc.g, tc.o
		x := randSlice(rng, g.N*g.C*g.H*g.W)
		dy := randSlice(rng, g.N*o*g.OutH()*g.OutW())
		wts := randSlice(rng, o*g.Cols())
		for _, assign := range []bool{true, false} {
			dx0 := randSlice(rng, len(x))
			dw0 := randSlice(rng, len(wts))
			wantDX, wantDW := append([]float32(nil), dx0...), append([]float32(nil), dw0...)
			var w Workers
			w.ImplicitInputGrad(g, o, dy, wts, wantDX, assign)
			w.WeightGrad(g, o, x, dy, wantDW)
			gotDX, gotDW := append([]float32(nil), dx0...), append([]float32(nil), dw0...)
			w.Backward(g, o, x, dy, wts, gotDX, gotDW, assign)
			require.Equal(t, wantDX, gotDX, "%+v input gradient", g)
			require.Equal(t, wantDW, gotDW, "%+v weight gradient", g)
		}
	}
}
