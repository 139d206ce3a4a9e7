package conv

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

var geometries = []Geometry{
	{N: 2, C: 3, H: 5, W: 5, KH: 3, KW: 3, Stride: 1, Pad: 1},
	{N: 1, C: 2, H: 7, W: 6, KH: 3, KW: 3, Stride: 2, Pad: 1},
	{N: 2, C: 1, H: 8, W: 8, KH: 5, KW: 5, Stride: 1, Pad: 2},
	{N: 1, C: 2, H: 4, W: 5, KH: 2, KW: 4, Stride: 3, Pad: 3}, // windows wholly in padding
	{N: 3, C: 4, H: 3, W: 3, KH: 1, KW: 1, Stride: 1, Pad: 0},
	{N: 1, C: 1, H: 2, W: 1, KH: 1, KW: 1, Stride: 1, Pad: 3},   // columns past the right edge
	{N: 2, C: 3, H: 9, W: 10, KH: 3, KW: 3, Stride: 2, Pad: 1},  // ResNet's downsampling conv
	{N: 1, C: 2, H: 9, W: 11, KH: 7, KW: 7, Stride: 2, Pad: 3},  // a 7-wide kernel: the generic copy
	{N: 1, C: 2, H: 6, W: 12, KH: 2, KW: 5, Stride: 1, Pad: 0},  // no padding, 5-wide rows
	{N: 1, C: 2, H: 4, W: 2, KH: 3, KW: 3, Stride: 1, Pad: 1},   // output rows narrower than the kernel
	{N: 2, C: 5, H: 12, W: 13, KH: 3, KW: 3, Stride: 1, Pad: 0}, // no padding: long runs of interior windows
	{N: 1, C: 3, H: 11, W: 20, KH: 3, KW: 9, Stride: 2, Pad: 1}, // rows wider than one vector
}

func TestIm2colMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, g := range geometries {
		x := randSlice(rng, g.N*g.C*g.H*g.W)
		cols := make([]float32, g.Rows()*g.Cols())
		for i := range cols {
			cols[i] = float32(math.NaN()) // every entry must be written
		}
		Im2col(g, x, cols)
		eachEntry(g, func(entry, pixel int) {
			var want float32
			if pixel >= 0 {
				want = x[pixel]
			}
			require.Equal(t, want, cols[entry], "%+v: cols[%d]", g, entry)
		})
	}
}

// eachEntry calls f for every entry of g's column matrix in order (rows,
// then channel, kernel row and column), with the index of the input pixel
// it reads, or -1 for padding.
func eachEntry(g Geometry, f func(entry, pixel int)) {
	oh, ow := g.OutH(), g.OutW()
	entry := 0
	for n := 0; n < g.N; n++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				for c := 0; c < g.C; c++ {
					for ky := 0; ky < g.KH; ky++ {
						for kx := 0; kx < g.KW; kx++ {
							iy, ix := oy*g.Stride-g.Pad+ky, ox*g.Stride-g.Pad+kx
							pixel := -1
							if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
								pixel = ((n*g.C+c)*g.H+iy)*g.W + ix
							}
							f(entry, pixel)
							entry++
						}
					}
				}
			}
		}
	}
}

// TestCol2imMatchesDefinition checks Col2im bit for bit against its
// definition, which fixes the order of the FP32 additions: rows (output
// positions) in order, and in each row channel, kernel row and column in
// order, each entry added onto its pixel; with padding, onto a zeroed
// padded copy, whose interior is then added onto dx (col2imPadded). The
// emulated backends' results depend on that order (their input gradients
// go through Col2im), so a faster Col2im must keep it.
func TestCol2imMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, g := range geometries {
		cols := randSlice(rng, g.Rows()*g.Cols())
		dx := randSlice(rng, g.N*g.C*g.H*g.W)
		got := append([]float32(nil), dx...)
		want := dx
		if g.Pad > 0 {
			want = make([]float32, len(dx))
		}
		eachEntry(g, func(entry, pixel int) {
			if pixel >= 0 {
				want[pixel] += cols[entry]
			}
		})
		if g.Pad > 0 {
			for i := range want {
				want[i] = dx[i] + want[i]
			}
		}
		Col2im(g, cols, got)
		for i := range want {
			require.Equal(t, math.Float32bits(want[i]), math.Float32bits(got[i]), "%+v: dx[%d]", g, i)
		}
	}
}

// Col2im must be the adjoint of Im2col: ⟨Im2col(x), c⟩ = ⟨x, Col2im(c)⟩.
func TestCol2imIsAdjointOfIm2col(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for _, g := range geometries {
		x := randSlice(rng, g.N*g.C*g.H*g.W)
		c := randSlice(rng, g.Rows()*g.Cols())
		cols := make([]float32, len(c))
		Im2col(g, x, cols)
		dx := make([]float32, len(x))
		Col2im(g, c, dx)
		var lhs, rhs float64
		for i := range c {
			lhs += float64(cols[i]) * float64(c[i])
		}
		for i := range x {
			rhs += float64(x[i]) * float64(dx[i])
		}
		require.InDelta(t, lhs, rhs, 1e-4*(1+math.Abs(lhs)), "%+v", g) // float32 accumulation in Col2im
	}
}

func TestRowsNCHWRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, tc := range []struct{ n, o, p int }{
		{2, 3, 5},
		{3, 16, 2*transposeTile + 7}, // several tiles, the last one partial
		{40, 16, 130},                // above parallelMin: split over goroutines
	} {
		n, o, p := tc.n, tc.o, tc.p
		rows := randSlice(rng, n*p*o)
		bias := randSlice(rng, o)
		y := make([]float32, len(rows))
		RowsToNCHW(rows, bias, y, n, o, p)
		for b := 0; b < n; b++ {
			for ch := 0; ch < o; ch++ {
				for i := 0; i < p; i++ {
					require.Equal(t, rows[(b*p+i)*o+ch]+bias[ch], y[(b*o+ch)*p+i], "%+v", tc)
				}
			}
		}
		RowsToNCHW(rows, nil, y, n, o, p)
		back := make([]float32, len(rows))
		NCHWToRows(y, back, n, o, p)
		require.Equal(t, rows, back, "%+v", tc)
	}
}

// TestRowsToNCHWBits checks RowsToNCHW bit for bit against rows + bias
// computed element by element, with the sizes around the 8×8 transpose's
// (channels and positions not multiples of 8) and values whose bits an
// addition can change (-0, which + 0 turns into +0) or keep (NaN, Inf).
func TestRowsToNCHWBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 9))
	for _, tc := range []struct{ n, o, p int }{
		{1, 1, 1}, {2, 3, 7}, {2, 8, 8}, {3, 10, 17}, {2, 16, 64}, {1, 5, 9}, {40, 16, 130}, {2, 19, 1024}, {1, 4, 2048},
	} {
		n, o, p := tc.n, tc.o, tc.p
		rows := randSlice(rng, n*p*o)
		for i := range rows {
			switch rng.IntN(8) {
			case 0:
				rows[i] = float32(math.Copysign(0, -1))
			case 1:
				rows[i] = float32(math.NaN())
			case 2:
				rows[i] = float32(math.Inf(-1))
			}
		}
		bias := randSlice(rng, o)
		bias[0] = 0
		y := make([]float32, len(rows))
		for _, b := range [][]float32{bias, nil} {
			RowsToNCHW(rows, b, y, n, o, p)
			for img := 0; img < n; img++ {
				for ch := 0; ch < o; ch++ {
					var add float32
					if b != nil {
						add = b[ch]
					}
					for i := 0; i < p; i++ {
						want := rows[(img*p+i)*o+ch] + add
						got := y[(img*o+ch)*p+i]
						require.Equal(t, math.Float32bits(want), math.Float32bits(got), "%+v image %d channel %d position %d", tc, img, ch, i)
					}
				}
			}
		}
	}
}

func TestGeometryValidate(t *testing.T) {
	ok := Geometry{N: 1, C: 1, H: 4, W: 4, KH: 3, KW: 3, Stride: 1}
	for _, tc := range []struct {
		name string
		edit func(g *Geometry)
		want string
	}{
		{"valid", func(*Geometry) {}, ""},
		{"zero stride", func(g *Geometry) { g.Stride = 0 }, "conv: stride 0 must be at least 1"},
		{"empty kernel", func(g *Geometry) { g.KW = 0 }, "conv: kernel 3x0 must be at least 1x1"},
		{"negative pad", func(g *Geometry) { g.Pad = -1 }, "conv: negative padding -1"},
		{"kernel too big", func(g *Geometry) { g.KH = 5 }, "conv: kernel 5x3 is larger than the padded input 4x4 (input 4x4, padding 0)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := ok
			tc.edit(&g)
			err := g.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.want)
		})
	}
}

// Benchmark shapes: batch 64 at LeNet-5 (MNIST) and ResNet-20 (CIFAR-10).
var benchGeometries = []struct {
	name string
	g    Geometry
}{
	{"LeNet/conv1", Geometry{N: 64, C: 1, H: 28, W: 28, KH: 5, KW: 5, Stride: 1, Pad: 2}},
	{"LeNet/conv2", Geometry{N: 64, C: 6, H: 14, W: 14, KH: 5, KW: 5, Stride: 1}},
	{"ResNet20/stem", Geometry{N: 64, C: 3, H: 32, W: 32, KH: 3, KW: 3, Stride: 1, Pad: 1}},
	{"ResNet20/stage1", Geometry{N: 64, C: 16, H: 32, W: 32, KH: 3, KW: 3, Stride: 1, Pad: 1}},
	{"ResNet20/stage2", Geometry{N: 64, C: 32, H: 16, W: 16, KH: 3, KW: 3, Stride: 1, Pad: 1}},
	{"ResNet20/stage3", Geometry{N: 64, C: 64, H: 8, W: 8, KH: 3, KW: 3, Stride: 1, Pad: 1}},
	{"ResNet20/down", Geometry{N: 64, C: 16, H: 32, W: 32, KH: 3, KW: 3, Stride: 2, Pad: 1}},
}

func BenchmarkIm2col(b *testing.B) {
	for _, bg := range benchGeometries {
		b.Run(bg.name, func(b *testing.B) {
			g := bg.g
			x := make([]float32, g.N*g.C*g.H*g.W)
			cols := make([]float32, g.Rows()*g.Cols())
			b.SetBytes(int64(4 * len(cols)))
			for b.Loop() {
				Im2col(g, x, cols)
			}
		})
	}
}

func BenchmarkCol2im(b *testing.B) {
	for _, bg := range benchGeometries {
		b.Run(bg.name, func(b *testing.B) {
			g := bg.g
			dx := make([]float32, g.N*g.C*g.H*g.W)
			cols := make([]float32, g.Rows()*g.Cols())
			b.SetBytes(int64(4 * len(cols)))
			for b.Loop() {
				Col2im(g, cols, dx)
			}
		})
	}
}

// Problems above parallelMin are split over goroutines by image; the
// result must equal the single-goroutine loop exactly.
func TestParallelMatchesSerial(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	g := Geometry{N: 5, C: 8, H: 16, W: 16, KH: 3, KW: 3, Stride: 1, Pad: 1}
	require.GreaterOrEqual(t, g.Rows()*g.Cols(), parallelMin, "the test must exercise the parallel path")
	x := randSlice(rng, g.N*g.C*g.H*g.W)
	par, ser := make([]float32, g.Rows()*g.Cols()), make([]float32, g.Rows()*g.Cols())
	Im2col(g, x, par)
	im2colImages(g, x, ser, 0, g.N)
	require.Equal(t, ser, par)

	dxPar, dxSer := make([]float32, len(x)), make([]float32, len(x))
	Col2im(g, par, dxPar)
	col2imImages(g, par, dxSer, 0, g.N)
	require.Equal(t, dxSer, dxPar)
}

// TestIm2colRowsMatchesIm2col fills every range of rows, including ones
// that start and end inside an image, and compares them with Im2col's.
func TestIm2colRowsMatchesIm2col(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 1))
	for _, g := range geometries {
		x := randSlice(rng, g.N*g.C*g.H*g.W)
		rows, k := g.Rows(), g.Cols()
		want := make([]float32, rows*k)
		Im2col(g, x, want)
		var pad []float32
		for r0 := 0; r0 < rows; r0++ {
			for r1 := r0 + 1; r1 <= rows; r1 += 1 + rows/7 {
				got := make([]float32, (r1-r0)*k)
				for i := range got {
					got[i] = float32(math.NaN())
				}
				Im2colRows(g, x, got, r0, r1, &pad)
				require.Equal(t, want[r0*k:r1*k], got, "%+v rows [%d, %d)", g, r0, r1)
			}
		}
	}
}

// BenchmarkIm2colRows fills the im2col rows of one image at a time into a
// buffer that stays in cache, as a quantiser filling chunks does.
func BenchmarkIm2colRows(b *testing.B) {
	for _, bg := range benchGeometries {
		b.Run(bg.name, func(b *testing.B) {
			g := bg.g
			x := make([]float32, g.N*g.C*g.H*g.W)
			per := g.OutH() * g.OutW()
			dst := make([]float32, per*g.Cols())
			var pad []float32
			b.SetBytes(int64(4 * len(dst)))
			n := 0
			for b.Loop() {
				Im2colRows(g, x, dst, n*per, (n+1)*per, &pad)
				n = (n + 1) % g.N
			}
		})
	}
}

// BenchmarkRowsToNCHW moves a forward product's rows of one block of
// ResNet-20 images (and of LeNet-5's 6-channel conv1) into NCHW order,
// bias added, on one goroutine.
func BenchmarkRowsToNCHW(b *testing.B) {
	for _, tc := range []struct {
		name    string
		n, o, p int
	}{{"stage1", 2, 16, 1024}, {"stage2", 8, 32, 256}, {"stage3", 28, 64, 64}, {"lenet-conv1", 64, 6, 576}} {
		b.Run(tc.name, func(b *testing.B) {
			rows := make([]float32, tc.n*tc.o*tc.p)
			y := make([]float32, len(rows))
			bias := make([]float32, tc.o)
			b.SetBytes(int64(8 * len(rows)))
			for b.Loop() {
				rowsToNCHWImages(rows, bias, y, tc.o, tc.p, 0, tc.n)
			}
		})
	}
}
