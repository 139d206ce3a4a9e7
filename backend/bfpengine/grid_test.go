package bfpengine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
	ibfp "github.com/mirage-go/mirage/internal/bfp"
	"github.com/mirage-go/mirage/internal/gemm"
)

// gridBackend is a minimal BFP backend on an engine: the FP32 product of
// the quantised operands, unless ProductDone. It counts the chunks whose
// product the grid path computed.
type gridBackend struct {
	e          *Engine
	done, rows int
}

func (*gridBackend) Name() string { return "grid test" }

func (b *gridBackend) product(g *backend.GEMM, qa, qb *ibfp.Matrix, _ *Counters) error {
	if b.e.ProductDone() {
		b.done++
		if !qa.IsView() {
			return fmt.Errorf("grid path: operand A is not a view")
		}
		return nil
	}
	b.rows += g.M
	ibfp.Product(b.e.Team(), qa, qb, g.C, g.LDC, g.Accumulate, b.e.Settings.Ordered, nil)
	return nil
}

func (b *gridBackend) MatMul(call backend.Call, g backend.GEMM) error {
	return b.e.MatMul(call, g, b.product)
}

func (b *gridBackend) MatMulCols(call backend.Call, g backend.GEMM, cols *backend.Cols) error {
	return b.e.MatMulCols(call, g, cols, b.product)
}

// matMulOnly hides MatMulCols: Im2col builds cols and calls MatMul.
type matMulOnly struct{ backend.Backend }

// TestGridPathMatchesRows: the forward product of a convolution on the
// grid path (runs of the padded images rounded as the GEMM reads them)
// equals the product of the built, row-quantised im2col matrix bit for
// bit, with the same statistics, at every stride, padding and kernel size
// the grid takes, K a multiple of the tile or not, K over gemm.KBlock;
// and the grid path is taken exactly when it may be: nearest rounding,
// tiles summed by one GEMM, finite operands, kernels it reads as runs.
//
// The grid path is forced where it may be taken (it is otherwise taken
// only where it pays: see minGridFill); TestGridPathTakenWherePays checks
// where that is.
func TestGridPathMatchesRows(t *testing.T) {
	geometries := []backend.ConvGeometry{
		{N: 3, C: 16, H: 32, W: 32, O: 16, KH: 3, KW: 3, Stride: 1, Pad: 1},
		{N: 5, C: 64, H: 8, W: 8, O: 24, KH: 3, KW: 3, Stride: 1, Pad: 1},
		{N: 4, C: 16, H: 32, W: 32, O: 32, KH: 3, KW: 3, Stride: 2, Pad: 1},
		{N: 3, C: 16, H: 16, W: 15, O: 32, KH: 1, KW: 1, Stride: 2, Pad: 0},
		{N: 4, C: 1, H: 28, W: 28, O: 6, KH: 5, KW: 5, Stride: 1, Pad: 2},
		{N: 4, C: 6, H: 14, W: 14, O: 16, KH: 5, KW: 5, Stride: 1, Pad: 0},
		{N: 2, C: 3, H: 11, W: 9, O: 4, KH: 5, KW: 5, Stride: 2, Pad: 2},
		{N: 2, C: 3, H: 1, W: 2, O: 2, KH: 3, KW: 3, Stride: 1, Pad: 1},
		{N: 2, C: 3, H: 7, W: 6, O: 4, KH: 3, KW: 2, Stride: 1, Pad: 1}, // not square: rows
	}
	settings := []struct {
		name   string
		s      Settings
		grid   bool
		nonFin bool
	}{
		{"nearest", Settings{Format: ibfp.Format{Bits: 7, Tile: 128}}, true, false},
		{"tile 16", Settings{Format: ibfp.Format{Bits: 6, Tile: 16}}, true, false},
		{"tile 7", Settings{Format: ibfp.Format{Bits: 5, Tile: 7}}, true, false},
		{"tile 16 ordered", Settings{Format: ibfp.Format{Bits: 6, Tile: 16}, Ordered: true}, false, false},
		{"stochastic", Settings{Format: ibfp.Format{Bits: 7, Tile: 16, Rounding: ibfp.Stochastic}}, false, false},
		{"non-finite image", Settings{Format: ibfp.Format{Bits: 7, Tile: 16}}, false, true},
	}
	rng := rand.New(rand.NewPCG(4, 4))
	for _, st := range settings {
		for _, g := range geometries {
			name := fmt.Sprintf("%s %+v", st.name, g)
			x := make([]float32, g.N*g.C*g.H*g.W)
			for i := range x {
				x[i] = float32(max(0, rng.NormFloat64()) * math.Ldexp(1, rng.IntN(8)-4))
			}
			clear(x[:g.C*g.H*g.W/2]) // zero blocks
			if st.nonFin {           // in every image, so that every block falls back
				for n := range g.N {
					x[n*g.C*g.H*g.W] = float32(math.Inf(1)) // pixel (0, 0), which every stride reads
				}
			}
			w := make([]float32, g.O*g.Field())
			for i := range w {
				w[i] = float32(rng.NormFloat64())
			}
			bias := make([]float32, g.O)
			for i := range bias {
				bias[i] = float32(rng.NormFloat64())
			}
			run := func(cols bool) ([]float32, *gridBackend) {
				b := &gridBackend{e: NewEngine(st.s)}
				b.e.Grid, b.e.grid.always = true, true
				y := make([]float32, g.N*g.O*g.OutH()*g.OutW())
				var im backend.Im2col
				var be backend.Backend = b
				if !cols {
					be = matMulOnly{b}
				}
				require.NoError(t, im.Forward(be, "conv", g, x, w, bias, y), name)
				return y, b
			}
			want, rows := run(false)
			got, grid := run(true)
			require.Equal(t, len(want), len(got))
			for i := range want {
				if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
					require.Failf(t, "differ", "%s: element %d: rows %v, grid %v", name, i, want[i], got[i])
				}
			}
			require.Equal(t, rows.e.Stats.Report("t"), grid.e.Stats.Report("t"), name)
			// Without the rounding kernel (no AVX-512) the grid path is
			// never taken, and the comparison above is of the row path
			// with itself.
			if st.grid && g.KH == g.KW && gemm.HasRoundedRowsB() {
				require.Positive(t, grid.done, "%s: the grid path was not taken", name)
				require.Zero(t, grid.rows, name)
			} else {
				require.Zero(t, grid.done, "%s: the grid path was taken", name)
			}
		}
	}
}

// TestGridPathTakenWherePays: without forcing, the grid path is taken for
// stride-1 convolutions whose grids are mostly outputs (ResNet-20's
// stages, LeNet-5's conv1) and not for the others (stride 2, LeNet-5's
// conv2, whose grid is two-thirds outputs).
func TestGridPathTakenWherePays(t *testing.T) {
	if !gemm.HasRoundedRowsB() {
		t.Skip("no rounding kernel on this CPU (needs AVX2 or AVX-512): the grid path is never taken")
	}
	// AVX2's rounding kernel takes the grid only for fewer output channels
	// than its 16 columns (see gridFor).
	wide := gemm.RoundedRowsBWidth() > avx2RoundedWidth
	for _, c := range []struct {
		g    backend.ConvGeometry
		grid bool
	}{
		{backend.ConvGeometry{N: 4, C: 16, H: 32, W: 32, O: 16, KH: 3, KW: 3, Stride: 1, Pad: 1}, wide},
		{backend.ConvGeometry{N: 4, C: 32, H: 16, W: 16, O: 32, KH: 3, KW: 3, Stride: 1, Pad: 1}, wide},
		{backend.ConvGeometry{N: 16, C: 64, H: 8, W: 8, O: 64, KH: 3, KW: 3, Stride: 1, Pad: 1}, wide},
		{backend.ConvGeometry{N: 4, C: 1, H: 28, W: 28, O: 6, KH: 5, KW: 5, Stride: 1, Pad: 0}, true},
		{backend.ConvGeometry{N: 4, C: 16, H: 32, W: 32, O: 32, KH: 3, KW: 3, Stride: 2, Pad: 1}, false},
		{backend.ConvGeometry{N: 4, C: 6, H: 12, W: 12, O: 16, KH: 5, KW: 5, Stride: 1, Pad: 0}, false},
	} {
		g := c.g
		s := DefaultSettings()
		s.StatsEvery = 0 // a sampled call needs the FP32 operands: rows
		b := &gridBackend{e: NewEngine(s)}
		b.e.Grid = true
		y := make([]float32, g.N*g.O*g.OutH()*g.OutW())
		var im backend.Im2col
		require.NoError(t, im.Forward(b, "conv", g, make([]float32, g.N*g.C*g.H*g.W), make([]float32, g.O*g.Field()), nil, y))
		require.Equal(t, c.grid, b.done > 0, "%+v", g)
	}
}
