package conv

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// stridedGeometries returns convolutions of strides 2 and 3 with square
// kernels 1, 3 and 5 and every padding 0 … K−1, a few of even kernels, on images whose sides are
// odd and even and mostly not multiples of the stride, with odd channel
// counts; and larger layers: ResNet-20's downsampling convolution, and
// layers of 16 or more channels (whose weight gradient is computed
// without cols) in batches that Backward splits into chunks.
func stridedGeometries() []Geometry {
	sizes := [][2]int{{7, 8}, {9, 5}, {10, 11}, {6, 13}, {5, 5}}
	var gs []Geometry
	i := 0
	for _, s := range []int{2, 3} {
		for _, k := range []int{1, 3, 5} {
			for p := 0; p < k; p++ {
				hw := sizes[i%len(sizes)]
				gs = append(gs, Geometry{N: 1 + i%3, C: 1 + 2*(i%3), H: hw[0], W: hw[1], KH: k, KW: k, Stride: s, Pad: p})
				i++
			}
		}
	}
	return append(gs,
		Geometry{N: 2, C: 3, H: 3, W: 4, KH: 3, KW: 3, Stride: 3, Pad: 0}, // one output
		// One or two pixels wide: phases of one column, or none.
		Geometry{N: 2, C: 2, H: 1, W: 1, KH: 3, KW: 3, Stride: 2, Pad: 1},
		Geometry{N: 1, C: 3, H: 2, W: 1, KH: 2, KW: 2, Stride: 2, Pad: 1},
		Geometry{N: 1, C: 1, H: 3, W: 2, KH: 4, KW: 4, Stride: 2, Pad: 2},
		Geometry{N: 1, C: 2, H: 1, W: 2, KH: 3, KW: 3, Stride: 2, Pad: 2},
		// Even kernels: the input gradient's grid is wider than OW+R−1.
		Geometry{N: 2, C: 3, H: 7, W: 5, KH: 2, KW: 2, Stride: 2, Pad: 0},
		Geometry{N: 1, C: 2, H: 9, W: 8, KH: 4, KW: 4, Stride: 2, Pad: 1},
		Geometry{N: 2, C: 1, H: 8, W: 11, KH: 4, KW: 4, Stride: 3, Pad: 3},
		Geometry{N: 1, C: 3, H: 10, W: 7, KH: 2, KW: 2, Stride: 3, Pad: 1},
		Geometry{N: 1, C: 2, H: 2, W: 9, KH: 5, KW: 5, Stride: 2, Pad: 4},    // rows of padding only
		Geometry{N: 3, C: 16, H: 16, W: 16, KH: 3, KW: 3, Stride: 2, Pad: 1}, // ResNet-20 down, fewer images
		Geometry{N: 16, C: 17, H: 23, W: 21, KH: 3, KW: 3, Stride: 2, Pad: 1},
		Geometry{N: 7, C: 16, H: 15, W: 10, KH: 1, KW: 1, Stride: 2, Pad: 0}, // a ResNet shortcut
		Geometry{N: 18, C: 16, H: 29, W: 26, KH: 3, KW: 3, Stride: 3, Pad: 2},
	)
}

// stridedChannels returns the output channels to test g with: 16 or more
// for the larger layers (so that their weight gradient skips cols, with
// both tile heights), a few otherwise.
func stridedChannels(rng *rand.Rand, g Geometry) int {
	if g.C >= 16 {
		return 16 + 8*rng.IntN(3)
	}
	return 1 + rng.IntN(7)
}

func TestStridedForwardMatchesDefinitionAndIm2col(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 21))
	var w Workers
	for _, g := range stridedGeometries() {
		require.NoError(t, g.Validate(), "%+v", g)
		require.True(t, g.Implicit(), "%+v", g)
		for _, withBias := range []bool{false, true} {
			o := stridedChannels(rng, g)
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
			requireIm2colBits(t, g, o, x, wts, bias, y)
		}
	}
}

func TestStridedInputGradMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(22, 22))
	var w Workers
	for _, g := range stridedGeometries() {
		for _, assign := range []bool{true, false} {
			requireInputGrad(t, &w, rng, g, stridedChannels(rng, g), assign)
		}
	}
}

func TestStridedWeightGradMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 23))
	var w Workers
	chunked, withoutCols := 0, 0
	for _, g := range stridedGeometries() {
		o := stridedChannels(rng, g)
		if g.N*g.OutH()*g.OutW()*g.Cols()*o >= parallelMin*64 {
			chunked++
		}
		if implicitWeightRows(g, o) > 0 {
			withoutCols++
		}
		requireWeightGrad(t, &w, rng, g, o)
	}
	require.GreaterOrEqual(t, chunked, 2, "large cases must be split into chunks")
	require.Equal(t, 4, withoutCols, "the layers of 16 or more channels must be computed without cols")
}

// TestStridedBackwardMatchesSeparateGradients checks that Backward's one
// pass gives exactly what ImplicitInputGrad and WeightGrad give
// separately.
func TestStridedBackwardMatchesSeparateGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(24, 24))
	for _, g := range stridedGeometries() {
		o := stridedChannels(rng, g)
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

// TestStridedParallelMatchesSerial checks that splitting the images
// between goroutines does not change the forward or input gradient.
func TestStridedParallelMatchesSerial(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 25))
	g := Geometry{N: 9, C: 16, H: 17, W: 16, KH: 3, KW: 3, Stride: 2, Pad: 1}
	o := 32
	oh, ow := g.OutH(), g.OutW()
	require.GreaterOrEqual(t, g.N*o*oh*ow*g.Cols(), parallelMin, "the test must exercise the parallel path")
	image, out := g.C*g.H*g.W, o*oh*ow
	x := randSlice(rng, g.N*image)
	wts := randSlice(rng, o*g.Cols())
	par, ser := make([]float32, g.N*out), make([]float32, g.N*out)
	var w Workers
	w.ImplicitForward(g, o, x, wts, nil, par)
	one := g
	one.N = 1
	for n := 0; n < g.N; n++ {
		w.ImplicitForward(one, o, x[n*image:(n+1)*image], wts, nil, ser[n*out:(n+1)*out])
	}
	require.Equal(t, ser, par)

	dxPar, dxSer := make([]float32, len(x)), make([]float32, len(x))
	w.ImplicitInputGrad(g, o, par, wts, dxPar, true)
	for n := 0; n < g.N; n++ {
		w.ImplicitInputGrad(one, o, par[n*out:(n+1)*out], wts, dxSer[n*image:(n+1)*image], true)
	}
	require.Equal(t, dxSer, dxPar)
}

func TestStridedNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	rng := rand.New(rand.NewPCG(26, 26))
	g := Geometry{N: 8, C: 16, H: 16, W: 16, KH: 3, KW: 3, Stride: 2, Pad: 1}
	o := 32
	x := randSlice(rng, g.N*g.C*g.H*g.W)
	wts := randSlice(rng, o*g.Cols())
	y := make([]float32, g.N*o*g.OutH()*g.OutW())
	dx, dw := make([]float32, len(x)), make([]float32, len(wts))
	var w Workers
	step := func() {
		w.ImplicitForward(g, o, x, wts, nil, y)
		w.ImplicitInputGrad(g, o, y, wts, dx, false)
		w.Backward(g, o, x, y, wts, dx, dw, true)
	}
	step() // sizes the scratch buffers
	require.Zero(t, testing.AllocsPerRun(10, step))
}

// TestPhaseImageMatchesDefinition checks every element of the phase
// images against the padded image, over buffers full of NaN, and that the
// planes past C of each phase are left alone.
func TestPhaseImageMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 27))
	for _, g := range append(stridedGeometries(), implicitGeometries...) {
		planes := g.C + 1
		img := randSlice(rng, g.C*g.H*g.W)
		buf := make([]float32, g.phasedImage(planes))
		for i := range buf {
			buf[i] = float32(math.NaN())
		}
		phaseImage(g, img, buf, planes)
		sp, qh, qw := g.phases()
		if g.Stride == 1 {
			planes = g.C // padImage writes one plane after the other
		}
		for a := 0; a < sp; a++ {
			for b := 0; b < sp; b++ {
				for c := 0; c < planes; c++ {
					for i := 0; i < qh; i++ {
						for j := 0; j < qw; j++ {
							got := buf[(((a*sp+b)*planes+c)*qh+i)*qw+j]
							if c >= g.C {
								require.True(t, math.IsNaN(float64(got)), "%+v: wrote plane %d of phase (%d, %d)", g, c, a, b)
								continue
							}
							var want float32
							if y, x := g.Stride*i+a-g.Pad, g.Stride*j+b-g.Pad; y >= 0 && y < g.H && x >= 0 && x < g.W {
								want = img[(c*g.H+y)*g.W+x]
							}
							require.Equal(t, want, got, "%+v phase (%d, %d) c %d i %d j %d", g, a, b, c, i, j)
						}
					}
				}
			}
		}
	}
}

// BenchmarkStrided measures the kernels of ResNet-20's first downsampling
// convolution (batch 64, 16 → 32 channels, 32×32 → 16×16) one at a time:
// building one image's phases, the forward, the input gradient, and
// Backward's weight and input gradients together.
func BenchmarkStrided(b *testing.B) {
	g := Geometry{N: 64, C: 16, H: 32, W: 32, KH: 3, KW: 3, Stride: 2, Pad: 1}
	o := 32
	rng := rand.New(rand.NewPCG(1, 1))
	x := randSlice(rng, g.N*g.C*g.H*g.W)
	wts := randSlice(rng, o*g.Cols())
	y := make([]float32, g.N*o*g.OutH()*g.OutW())
	dx, dw := make([]float32, len(x)), make([]float32, len(wts))
	var w Workers
	b.Run("phases", func(b *testing.B) {
		buf := make([]float32, g.phasedImage(g.C))
		for b.Loop() {
			phaseImage(g, x[:g.C*g.H*g.W], buf, g.C)
		}
	})
	b.Run("forward", func(b *testing.B) {
		for b.Loop() {
			w.ImplicitForward(g, o, x, wts, nil, y)
		}
	})
	b.Run("inputgrad", func(b *testing.B) {
		for b.Loop() {
			w.ImplicitInputGrad(g, o, y, wts, dx, true)
		}
	})
	b.Run("backward", func(b *testing.B) {
		for b.Loop() {
			w.Backward(g, o, x, y, wts, dx, dw, true)
		}
	})
}
