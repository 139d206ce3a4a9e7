package conv

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mirage-go/mirage/internal/gemm"
)

// oddValues returns n values drawn from a mix that exercises the additions
// Col2imProduct must reproduce: ordinary values, exact zeros of both
// signs, values far apart in magnitude (whose sums round), and, when
// nonFinite, NaN (Go's, the one the BFP quantiser writes) and, when inf,
// ±Inf.
func oddValues(rng *rand.Rand, n int, nonFinite, inf bool) []float32 {
	s := make([]float32, n)
	for i := range s {
		switch r := rng.IntN(20); {
		case r == 0:
			s[i] = 0
		case r == 1:
			s[i] = float32(math.Copysign(0, -1))
		case r == 2:
			s[i] = float32(rng.NormFloat64() * 1e6)
		case r == 3:
			s[i] = float32(rng.NormFloat64() * 1e-6)
		case r == 4 && nonFinite && inf:
			s[i] = [3]float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}[rng.IntN(3)]
		case r == 4 && nonFinite:
			s[i] = float32(math.NaN())
		default:
			s[i] = float32(rng.NormFloat64())
		}
	}
	return s
}

// TestCol2imProductMatchesIm2colPath checks Col2imProduct bit for bit
// against what it replaces: dcols = dy2d·w with gemm, then Col2im or
// Col2imAssign, on every stride-1 padded geometry of the shared list and
// on ResNet-like ones, with an output gradient that holds zeros of both
// signs and NaN (the operands a BFP quantiser hands over: finite values and
// its NaN), and dx that starts with those and ±Inf.
func TestCol2imProductMatchesIm2colPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	cases := []struct {
		g Geometry
		o int
	}{
		{Geometry{N: 3, C: 16, H: 8, W: 8, KH: 3, KW: 3, Stride: 1, Pad: 1}, 16},
		{Geometry{N: 2, C: 32, H: 6, W: 5, KH: 3, KW: 3, Stride: 1, Pad: 1}, 24},
		{Geometry{N: 2, C: 5, H: 7, W: 9, KH: 5, KW: 5, Stride: 1, Pad: 2}, 7},
		{Geometry{N: 1, C: 3, H: 4, W: 4, KH: 3, KW: 3, Stride: 1, Pad: 2}, 1}, // padding wider than the kernel's reach
		{Geometry{N: 2, C: 4, H: 5, W: 6, KH: 2, KW: 4, Stride: 1, Pad: 1}, 3}, // even kernel, asymmetric reach
		{Geometry{N: 1, C: 2, H: 3, W: 3, KH: 3, KW: 3, Stride: 1, Pad: 1}, gemm.KBlock},
		{Geometry{N: 3, C: 6, H: 12, W: 12, KH: 5, KW: 5, Stride: 1, Pad: 0}, 16}, // LeNet's conv2: written only
		// Small images share canvases (col2imCanvas), the last one partly
		// empty.
		{Geometry{N: 5, C: 4, H: 8, W: 8, KH: 3, KW: 3, Stride: 1, Pad: 1}, 16},
		{Geometry{N: 11, C: 3, H: 4, W: 4, KH: 3, KW: 3, Stride: 1, Pad: 1}, 5},
		{Geometry{N: 4, C: 2, H: 5, W: 5, KH: 5, KW: 5, Stride: 1, Pad: 2}, 3},
		{Geometry{N: 5, C: 2, H: 6, W: 6, KH: 3, KW: 3, Stride: 1, Pad: 0}, 4},
	}
	for _, g := range geometries {
		if Col2imProductOK(g, 5, true) {
			cases = append(cases, struct {
				g Geometry
				o int
			}{g, 5})
		}
	}
	var w Workers
	shared := false // some case puts several images on a canvas, the last one partly empty
	for _, tc := range cases {
		g, o := tc.g, tc.o
		if k, _ := g.col2imCanvas(); k > 1 && g.N%k != 0 {
			shared = true
		}
		if !Col2imProductOK(g, o, true) {
			t.Fatalf("%+v, o = %d: not a Col2imProduct geometry", g, o)
		}
		rows, f := g.Rows(), g.Cols()
		ldy := rows + 3 // a block of a longer matrix
		dy := oddValues(rng, o*ldy, true, false)
		wts := oddValues(rng, o*f, false, false)
		dcols := make([]float32, rows*f)
		gemm.Sgemm(true, false, rows, f, o, 1, dy, ldy, wts, f, 0, dcols, f)
		for _, assign := range []bool{false, true} {
			if !Col2imProductOK(g, o, assign) {
				continue
			}
			dx := oddValues(rng, g.N*g.C*g.H*g.W, true, true)
			want := append([]float32(nil), dx...)
			if assign {
				w.Col2imAssign(g, dcols, want)
			} else {
				w.Col2im(g, dcols, want)
			}
			got := append([]float32(nil), dx...)
			w.Col2imProduct(g, o, dy, ldy, wts, got, assign)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%+v, o = %d, assign %v: dx[%d] = %g (%#x), the im2col path gives %g (%#x)",
						g, o, assign, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
				}
			}
		}
	}
	if !shared {
		t.Fatal("no case shares a canvas among images: the canvas path went untested")
	}
}

func TestCol2imProductOK(t *testing.T) {
	for _, tc := range []struct {
		g      Geometry
		o      int
		assign bool
		want   bool
	}{
		{Geometry{N: 1, C: 1, H: 4, W: 4, KH: 3, KW: 3, Stride: 1, Pad: 1}, 16, false, true},
		{Geometry{N: 1, C: 1, H: 4, W: 4, KH: 3, KW: 3, Stride: 2, Pad: 1}, 16, true, false},  // strided
		{Geometry{N: 1, C: 1, H: 4, W: 4, KH: 3, KW: 3, Stride: 1, Pad: 0}, 16, false, false}, // Col2im adds onto dx directly
		{Geometry{N: 1, C: 1, H: 4, W: 4, KH: 3, KW: 3, Stride: 1, Pad: 0}, 16, true, true},   // onto a cleared dx
		{Geometry{N: 1, C: 1, H: 4, W: 4, KH: 3, KW: 3, Stride: 1, Pad: 1}, gemm.KBlock + 1, true, false},
		{Geometry{N: 1, C: 1, H: 4, W: 4, KH: 3, KW: 3, Stride: 1, Pad: 1}, 0, true, false},
	} {
		if got := Col2imProductOK(tc.g, tc.o, tc.assign); got != tc.want {
			t.Errorf("Col2imProductOK(%+v, %d, %v) = %v, want %v", tc.g, tc.o, tc.assign, got, tc.want)
		}
	}
}

// BenchmarkInputGrad compares Col2imProduct (bfp's and rns's input
// gradient) with ImplicitInputGrad (fp32's) on ResNet-20's three stages,
// 8 images each; the rate counts the product's flops. Run on one core
// (GOMAXPROCS=1) and compare medians.
func BenchmarkInputGrad(b *testing.B) {
	for _, s := range []struct {
		name string
		g    Geometry
	}{
		{"stage1", Geometry{N: 8, C: 16, H: 32, W: 32, KH: 3, KW: 3, Stride: 1, Pad: 1}},
		{"stage2", Geometry{N: 8, C: 32, H: 16, W: 16, KH: 3, KW: 3, Stride: 1, Pad: 1}},
		{"stage3", Geometry{N: 8, C: 64, H: 8, W: 8, KH: 3, KW: 3, Stride: 1, Pad: 1}},
	} {
		g, o := s.g, s.g.C
		rng := rand.New(rand.NewPCG(5, 6))
		dy := oddValues(rng, o*g.Rows(), false, false)
		wts := oddValues(rng, o*g.Cols(), false, false)
		dx := make([]float32, g.N*g.C*g.H*g.W)
		flops := 2 * float64(g.Rows()) * float64(g.Cols()) * float64(o)
		for _, impl := range []string{"col2imProduct", "implicit"} {
			b.Run(s.name+"/"+impl, func(b *testing.B) {
				w := new(Workers)
				for b.Loop() {
					if impl == "implicit" {
						w.ImplicitInputGrad(g, o, dy, wts, dx, true)
					} else {
						w.Col2imProduct(g, o, dy, g.Rows(), wts, dx, true)
					}
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
