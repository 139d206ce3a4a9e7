package bfpengine

import (
	"math"

	"github.com/mirage-go/mirage/backend"
	ibfp "github.com/mirage-go/mirage/internal/bfp"
	"github.com/mirage-go/mirage/internal/gemm"
)

// The grid path of a convolution's forward product. MatMulCols of role
// Forward multiplies cols (positions × field, quantised by rows) by the
// weights. Filling cols' rows gathers each receptive field a few floats at
// a time, nine times over for a 3×3 kernel, and cost more than the rest of
// the emulation. The grid path reads cols transposed instead, as runs of
// the padded images (see backend.Cols' grid), and never writes it:
//
//   - gridScale pads the block's images once and finds every receptive
//     field's tile exponents from the runs (ibfp.Quantiser.ScaleRuns: the
//     exponents, and rounding constants, of quantising cols' rows);
//   - the product function's chunks of rows are views of the runs
//     (ibfp.Matrix.ViewRuns: exponents, zero-block flags, and values
//     rounded on demand), on which it counts, finds live tiles and draws
//     exactly as on quantised rows; on a lane the draws (in the block's
//     turn) thus need only the scales;
//   - gridMultiply multiplies the quantised weights by the runs read in
//     place, rounded as the GEMM kernel loads them
//     (gemm.SgemmRoundedRowsB), into output channels × grid columns; a
//     product function that adds to single outputs (rns's corrections)
//     does it through AddTo; and MatMulCols writes the output, bias added,
//     straight into the convolution's y (backend.Cols.WriteGrid).
//
// So the results, statistics and random generators are those of the rows
// path, bit for bit (the FP32 sums too: the GEMM kernel sums each output's
// products in the same order whichever operand is which).
//
// The path is taken when the backend allows it (Grid: its product function
// honours ProductDone), where it pays (gridFor), for nearest rounding
// (stochastic rounding hashes each element's index in the rows' layout),
// tiles summed by one GEMM, calls not sampled for the relative error, on
// CPUs with a rounding kernel (AVX-512 or AVX2), and when every block of the
// weights and of the runs is finite with a scale the FP32 rounding takes;
// otherwise the rows are filled as before.

// gridState is the grid path's part of an Engine.
type gridState struct {
	cols       *backend.Cols // the forward product's cols, when the path may be taken
	always     bool          // take the path wherever it may be taken, paying or not (tests)
	done       bool          // the current GEMM takes the grid path (ProductDone)
	multiplied bool          // and its product is in out
	runs       ibfp.Runs     // the scales of the grid columns (all images')
	images     []float32     // the block's padded canvases, one after another
	off        []int         // the runs' offsets in a padded image
	columns    []int32       // the grid column of each row of cols
	out        []float32     // the product: output channels × grid columns
	n          int           // grid columns
	packed     []float32     // the quantised weights, packed for gemm.SgemmRoundedRowsB
}

// ProductDone reports whether C already holds the FP32 product of the
// quantised operands of the chunk being multiplied (the grid path): the
// product function must not compute it again, only add to it what it adds
// (corrections) and count. Its operand a is then a view (see
// ibfp.Matrix.ViewRuns): its values are read through At.
func (e *Engine) ProductDone() bool { return e.grid.done }

// minGridFill is the least fraction of grid columns that must be outputs
// for the grid path to be taken (see gridFor): below it the arithmetic
// done in vain costs more than filling the rows. Measured with
// BenchmarkConvForward (package bfp), side by side with the rows: 0.94
// (ResNet-20's 32×32 stage) 35% faster, 0.89 (16×16) 9% faster, 0.875
// (8×8, canvases of 7 images) as fast, 0.86 (LeNet-5's conv1) 30%
// faster, 0.67 (LeNet-5's conv2) 40% slower.
const minGridFill = 0.85

// gridFor returns the cols of a forward product's MatMulCols (cols as
// op(A), outputs output channels) if the grid path may take it (nil when
// it may not), where it pays: stride 1 (at stride 2 the rows were faster:
// 2.2 against 2.8 ms for ResNet-20's first stride-2 convolution), at
// least minGridFill of the grid outputs, and, where the rounding kernel is
// AVX2's (16 columns wide, its rounding constants read from memory), fewer
// output channels than that width, unless e.grid.always (tests). On AVX2
// (an AMD EPYC, Zen 3), BenchmarkConvForward measured the grid path 3–38%
// slower than the rows for ResNet-20's stride-1 convolutions (16 to 64
// output channels) and 2.7–4.3× faster for LeNet-5's conv1 (6), whose rows
// product fills 6 of each register tile's 16 columns.
func (e *Engine) gridFor(cols *backend.Cols, outputs int) *backend.Cols {
	if !e.Grid || e.deferring || !cols.CanWriteGrid() || e.Settings.Format.Rounding != ibfp.Nearest || e.Settings.Ordered ||
		!gemm.HasRoundedRowsB() || !cols.HasGrid() || int64(cols.Canvases())*int64(cols.GridWidth()) > math.MaxInt32 {
		return nil
	}
	if e.grid.always {
		return cols
	}
	if w := gemm.RoundedRowsBWidth(); cols.Stride() > 1 || cols.GridFill() < minGridFill || w <= avx2RoundedWidth && outputs >= w {
		return nil
	}
	return cols
}

// avx2RoundedWidth is the width of AVX2's rounding kernel (see gridFor).
const avx2RoundedWidth = 16

// gridScale starts the grid path for g, whose quantised weights (op(B),
// one vector per output channel) are qb: it pads the images and scales
// the runs and, if every block can be rounded in FP32 (finite, scales in
// range), reports true (ProductDone from then on); else the rows are
// filled as before. The product itself is gridMultiply's, run before the
// product function's first chunk: on a lane, the draws (in the block's
// turn) then need only the scales, and the next block waits less.
func (e *Engine) gridScale(g *backend.GEMM, qb *ibfp.Matrix) (bool, error) {
	gs := &e.grid
	cols := gs.cols
	if qb.NonFinite > 0 {
		return false, nil
	}
	canvases, width, canvasLen := cols.Canvases(), cols.GridWidth(), cols.PaddedCanvas()
	gs.n = canvases * width
	e.quant.ShapeRuns(&gs.runs, gs.n, g.K)
	gs.off = cols.GridOffsets(gs.off)
	gs.images = grow(gs.images, canvases*canvasLen)
	for i := range canvases {
		img := gs.images[i*canvasLen : (i+1)*canvasLen]
		cols.PadCanvas(i, img)
		if ok, err := e.quant.ScaleRuns(&gs.runs, i*width, width, img, gs.off); !ok || err != nil {
			return false, err
		}
	}
	gs.columns = cols.GridColumns(gs.columns)
	gs.done, gs.multiplied = true, false
	return true, nil
}

// gridMultiply computes the grid path's product, output channels × grid
// columns, into gs.out, once per GEMM.
func (e *Engine) gridMultiply(g *backend.GEMM, qb *ibfp.Matrix) {
	gs := &e.grid
	if gs.multiplied {
		return
	}
	cols := gs.cols
	width, canvasLen := cols.GridWidth(), cols.PaddedCanvas()
	gs.out = grow(gs.out, g.N*gs.n)
	gs.packed = gemm.PackRoundedA(gs.packed, qb.Values, g.K, g.N, g.K)
	for i := range cols.Canvases() {
		gemm.SgemmRoundedRowsB(g.N, width, g.K, gs.packed, gs.images[i*canvasLen:(i+1)*canvasLen], gs.off,
			gs.runs.Consts[i*width:], gs.n, e.Settings.Format.Tile, gs.out[i*width:], gs.n)
	}
	gs.multiplied = true
}

// AddTo adds v to element (i, j) of the product of chunk g, whose
// quantised op(A) is qa: to g.C, or on the grid path (ProductDone) to the
// product's place on the grid. Corrections of single outputs (rns's
// wrong readouts) go through it.
func (e *Engine) AddTo(g *backend.GEMM, qa *ibfp.Matrix, i, j int, v float32) {
	if e.grid.done {
		e.grid.out[j*e.grid.n+qa.ViewedVector(i)] += v
		return
	}
	g.C[i*g.LDC+j] += v
}

// gridView makes dst the view of rows m0 … m0+rows-1 of cols on the grid
// path.
func (e *Engine) gridView(dst *ibfp.Matrix, m0, rows int) error {
	gs := &e.grid
	return dst.ViewRuns(&gs.runs, gs.columns[m0:m0+rows], gs.images, gs.cols.PaddedCanvas(), gs.cols.GridWidth(), gs.off)
}

// endGrid ends the grid path's GEMM, keeping no reference to the caller's
// operands.
func (e *Engine) endGrid() { e.grid.cols, e.grid.done, e.grid.multiplied = nil, false, false }
