package conv

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// canvasGeometries are stride-1 convolutions of small images that share
// grids (gridImages > 1): paddings 0, 1 and 2, kernels 1, 3 and 5, batches
// that leave the last canvas partly empty.
var canvasGeometries = []Geometry{
	{N: 5, C: 16, H: 8, W: 8, KH: 3, KW: 3, Stride: 1, Pad: 1},
	{N: 7, C: 3, H: 4, W: 5, KH: 3, KW: 3, Stride: 1, Pad: 0},
	{N: 4, C: 2, H: 6, W: 3, KH: 5, KW: 5, Stride: 1, Pad: 2},
	{N: 9, C: 5, H: 3, W: 3, KH: 1, KW: 1, Stride: 1, Pad: 0},
	{N: 6, C: 4, H: 5, W: 6, KH: 3, KW: 3, Stride: 1, Pad: 2},
	{N: 11, C: 24, H: 8, W: 8, KH: 3, KW: 3, Stride: 1, Pad: 1},
	{N: 10, C: 48, H: 6, W: 5, KH: 3, KW: 3, Stride: 1, Pad: 1},
}

func TestGridImages(t *testing.T) {
	for _, tc := range []struct {
		name string
		g    Geometry
		want int
	}{
		// 8·28 = 224 grid columns (7 tiles) for 3 images, against 96
		// computed for each image alone.
		{"ResNet-20 stage 3", Geometry{N: 128, C: 64, H: 8, W: 8, KH: 3, KW: 3, Stride: 1, Pad: 1}, 3},
		{"ResNet-20 stage 2", Geometry{N: 128, C: 32, H: 16, W: 16, KH: 3, KW: 3, Stride: 1, Pad: 1}, 1},
		{"ResNet-20 stage 1", Geometry{N: 128, C: 16, H: 32, W: 32, KH: 3, KW: 3, Stride: 1, Pad: 1}, 1},
		{"stride 2", Geometry{N: 128, C: 32, H: 16, W: 16, KH: 3, KW: 3, Stride: 2, Pad: 1}, 1},
		{"one image", Geometry{N: 1, C: 64, H: 8, W: 8, KH: 3, KW: 3, Stride: 1, Pad: 1}, 1},
	} {
		require.Equal(t, tc.want, tc.g.gridImages(), tc.name)
	}
	for _, g := range canvasGeometries {
		require.Greater(t, g.gridImages(), 1, "%+v must share grids", g)
	}
}

// TestPadCanvas checks every element of canvases, full and partly empty,
// written over NaN garbage.
func TestPadCanvas(t *testing.T) {
	rng := rand.New(rand.NewPCG(30, 30))
	for _, g := range canvasGeometries {
		k := g.gridImages()
		for _, count := range []int{k, k - 1} {
			image := g.C * g.H * g.W
			imgs := randSlice(rng, count*image)
			cw, ph := g.canvasWidth(k), g.H+2*g.Pad
			buf := make([]float32, g.C*ph*cw+5)
			for i := range buf {
				buf[i] = float32(math.NaN())
			}
			padCanvas(g, imgs, count, k, buf)
			for c := 0; c < g.C; c++ {
				for y := 0; y < ph; y++ {
					for x := 0; x < cw; x++ {
						var want float32
						i, ix := (x-g.Pad)/(g.W+g.Pad), (x-g.Pad)%(g.W+g.Pad)
						if iy := y - g.Pad; x >= g.Pad && i < count && ix < g.W && iy >= 0 && iy < g.H {
							want = imgs[i*image+(c*g.H+iy)*g.W+ix]
						}
						require.Equal(t, want, buf[(c*ph+y)*cw+x], "%+v count %d: c %d y %d x %d", g, count, c, y, x)
					}
				}
			}
			for _, v := range buf[g.C*ph*cw:] {
				require.True(t, math.IsNaN(float64(v)), "%+v: wrote past the canvas", g)
			}
		}
	}
}

// TestCanvasKernels checks the three kernels on shared grids: the forward
// product bit for bit against im2col and against the same images one at
// a time, and the gradients against their definitions.
func TestCanvasKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 31))
	var w Workers
	for _, tc := range canvasCases() {
		g, o := tc.g, tc.o
		image, out := g.C*g.H*g.W, o*g.OutH()*g.OutW()
		x := randSlice(rng, g.N*image)
		wts := randSlice(rng, o*g.Cols())
		bias := randSlice(rng, o)
		y := make([]float32, g.N*out)
		for i := range y {
			y[i] = float32(math.NaN()) // every output must be written
		}
		w.ImplicitForward(g, o, x, wts, bias, y)
		if g.Cols() <= 384 {
			// requireIm2colBits sums in one chain; the GEMM splits longer
			// reductions into blocks of 384.
			requireIm2colBits(t, g, o, x, wts, bias, y)
		}
		one := g
		one.N = 1
		for n := 0; n < g.N; n++ {
			yn := make([]float32, out)
			w.ImplicitForward(one, o, x[n*image:(n+1)*image], wts, bias, yn)
			require.Equal(t, yn, y[n*out:(n+1)*out], "%+v image %d", g, n)
		}

		for _, assign := range []bool{true, false} {
			requireInputGrad(t, &w, rng, g, o, assign)
		}
		dy := randSlice(rng, g.N*out)

		requireWeightGrad(t, &w, rng, g, o)

		// One pass for both gradients gives what the separate calls give.
		dx1, dw1 := make([]float32, len(x)), make([]float32, len(wts))
		w.ImplicitInputGrad(g, o, dy, wts, dx1, true)
		w.WeightGrad(g, o, x, dy, dw1)
		dx2, dw2 := make([]float32, len(x)), make([]float32, len(wts))
		w.Backward(g, o, x, dy, wts, dx2, dw2, true)
		require.Equal(t, dx1, dx2, "%+v input gradient", g)
		require.Equal(t, dw1, dw2, "%+v weight gradient", g)
	}
}

// canvasCases pairs every canvas geometry with 16 and 20 output
// channels: tiles of 24 and of 8 rows for the weight gradient.
func canvasCases() []struct {
	g Geometry
	o int
} {
	var cases []struct {
		g Geometry
		o int
	}
	for _, g := range canvasGeometries {
		for _, o := range []int{16, 20} {
			cases = append(cases, struct {
				g Geometry
				o int
			}{g, o})
		}
	}
	return cases
}

// The weight gradients on canvases must include cases computed without
// cols on canvas grids, and with shifted copies one image at a time.
func TestCanvasWeightGradPaths(t *testing.T) {
	grids, shifted := 0, 0
	for _, tc := range canvasCases() {
		if implicitWeightRows(tc.g, tc.o) > 0 && !shiftedWeightRows(tc.g, tc.o) {
			grids++
		}
		if shiftedWeightRows(tc.g, tc.o) {
			shifted++
		}
	}
	require.GreaterOrEqual(t, grids, 3)
	require.GreaterOrEqual(t, shifted, 1)
}
