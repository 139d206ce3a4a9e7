package bfpengine

import (
	"fmt"
	"math"

	"github.com/mirage-go/mirage/backend"
	ibfp "github.com/mirage-go/mirage/internal/bfp"
	"github.com/mirage-go/mirage/internal/gemm"
	"github.com/mirage-go/mirage/internal/parallel"
)

// Engine is the part every BFP-based backend shares: it validates a GEMM,
// sends layers listed in --fp32-layers to the FP32 kernel, quantises the
// operands of the others into reused buffers, hands them to the backend's
// product function, and keeps the per-layer, per-role statistics,
// including the relative error against an FP32 product on every
// StatsEvery-th call.
//
// An Engine is used by one goroutine at a time (backend.Backend's
// contract); its statistics may be read concurrently.
type Engine struct {
	Settings Settings
	Stats    *Stats
	// KSplit allows the engine to split a GEMM along K into blocks of
	// whole tiles, each added into C (see quantised). A backend whose
	// result depends on the order tiles are added in (ordered
	// accumulation, the RNS reference mode, the analog ADC sums) leaves it
	// false.
	KSplit bool
	// Grid allows the engine to compute a convolution's forward product
	// from runs of the padded images (see grid.go). A backend sets it when
	// its product function honours ProductDone.
	Grid bool

	quant    *ibfp.Quantiser
	a, b     ibfp.Matrix
	ref, in  []float32
	gemm     backend.GEMM
	block    backend.GEMM
	counters Counters
	// aSrc and bSrc give op(A) or op(B) for MatMulCols (nil otherwise);
	// cols holds a built im2col matrix where one is needed after all.
	aSrc, bSrc ibfp.Source
	cols       []float32
	grid       gridState
	// team runs the quantiser's loops, and those of the backend's
	// convolutions (see Team), on one set of spinning helpers; a lane's
	// runs them on the lane's goroutine.
	team *parallel.Team
	// dest is the input gradient's destination during MatMulCol2im, and
	// destK its product's K (see Col2imTarget).
	dest  *backend.Col2im
	destK int
	// lanes are the root engine's lanes (see lanes.go), made on first
	// use; lane is set on a lane engine.
	lanes *lanes
	lane  *laneState
	// Prepare, on a lane engine, is the first half of the backend's
	// product function (see PrepareFunc); nil if it has none.
	Prepare PrepareFunc
	// AddsLast, on a lane engine, says that the backend's product
	// function computes a product that adds into C (a weight gradient,
	// which every block adds into) aside and calls WaitToAdd only before
	// it adds: the engine then does not wait for the blocks before to have
	// added before it runs the product, and the lanes compute their
	// blocks' products at once.
	AddsLast bool
	// call is the GEMM being run (see begin).
	call backend.Call
	// On a lane: the quantised operands and GEMM of every chunk of the
	// GEMM being run (see quantisedOnLane), and the chunk being
	// multiplied.
	as, bs   []ibfp.Matrix
	chunks   []backend.GEMM
	chunk    int
	prepared bool
	// deferring: the lane's GEMMs leave their products to Flush, in
	// pending (see Defer).
	deferring bool
	pending   []pendingGEMM
}

// NewEngine returns an engine for valid settings.
func NewEngine(s Settings) *Engine {
	e := &Engine{Settings: s, Stats: NewStats(), quant: ibfp.NewQuantiser(s.Format, s.NoiseSeed^0x9e3779b97f4a7c15), team: new(parallel.Team)}
	e.quant.UseTeam(e.team)
	return e
}

// Team returns the parallel.Team on which the engine quantises, for the
// backend's other loops (its backend.Im2col): one set of helpers spinning
// between the loops of a product instead of one per kind of loop, each
// slowing the others down on a machine with few cores.
func (e *Engine) Team() *parallel.Team { return e.team }

// ProductFunc computes g (C = op(A)·op(B), plus C when g.Accumulate) from
// the quantised operands a (rows of op(A)) and b (columns of op(B)), and
// adds what it counted to c. The engine may call it several times per
// GEMM: on blocks of rows of op(A) and C, and, with KSplit, on blocks of
// tiles along K with g.Accumulate set for all but the first.
type ProductFunc func(g *backend.GEMM, a, b *ibfp.Matrix, c *Counters) error

// MatMul runs one GEMM through product, or through the FP32 kernel for
// layers kept in FP32.
func (e *Engine) MatMul(call backend.Call, req backend.GEMM, product ProductFunc) error {
	if err := req.Validate(); err != nil {
		return fmt.Errorf("%s: %w", call, err)
	}
	if err := e.begin(call); err != nil {
		return err
	}
	// The GEMM and the counters live in the engine, so that handing
	// pointers to product does not allocate.
	e.gemm = req
	g := &e.gemm
	d := &e.counters
	*d = Counters{Calls: 1}
	sample := e.Samples(call, req)
	if sample {
		if err := e.WaitToAdd(g); err != nil { // reference reads C's incoming values
			return err
		}
		e.reference(g)
	}
	hold := e.deferring && !sample // a sampled call needs its product now
	if e.Settings.KeepsFP32(call.Layer) {
		d.FP32 = true
		sgemm(g)
		hold = false
	} else if err := e.quantised(g, product, d, hold); err != nil {
		return fmt.Errorf("%s: %w", call, err)
	}
	if hold {
		e.deferred(call, req, d)
		return nil
	}
	if sample {
		if r, ok := e.relErr(g); ok {
			d.AddRelErr(r)
		}
	}
	e.record(call, &req, d)
	return nil
}

// Samples reports whether MatMul samples this call of g for the relative
// error against an FP32 product (every StatsEvery-th call of a layer and
// role): it then needs the product written into g.C.
func (e *Engine) Samples(call backend.Call, g backend.GEMM) bool {
	if e.Settings.StatsEvery <= 0 || g.M == 0 || g.N == 0 {
		return false
	}
	return e.callsBefore(call)%int64(e.Settings.StatsEvery) == 0
}

// MatMulCols is MatMul with one operand given as an im2col matrix
// described by cols (see backend.ColsMultiplier): the operand is
// quantised from rows filled on demand (ibfp.Quantiser.QuantiseSource)
// instead of from the built matrix, everything else as MatMul does it, so
// the result, the statistics and the random generators are those of
// MatMul on the built matrix, bit for bit.
//
// Calls that need the operand in FP32 build it and run MatMul: layers kept
// in FP32 (--fp32-layers), the calls sampled for the relative error
// (--stats-every, which need an FP32 reference product), and the rare
// products that quantised would split along K with cols as op(A) (a
// Source gives whole rows, not a range of columns).
func (e *Engine) MatMulCols(call backend.Call, req backend.GEMM, cols *backend.Cols, product ProductFunc) error {
	if err := req.ValidateCols(cols); err != nil {
		return fmt.Errorf("%s: %w", call, err)
	}
	if e.Samples(call, req) || e.Settings.KeepsFP32(call.Layer) || req.A == nil && e.splitsK(&req) {
		e.cols = grow(e.cols, cols.Rows()*cols.Width())
		cols.Build(e.cols)
		if req.A == nil {
			req.A = e.cols
		} else {
			req.B = e.cols
		}
		return e.MatMul(call, req, product)
	}
	if err := e.begin(call); err != nil {
		return err
	}
	e.gemm = req
	g := &e.gemm
	d := &e.counters
	*d = Counters{Calls: 1}
	if req.A == nil {
		e.aSrc = cols
		e.grid.cols = e.gridFor(cols, req.N)
	} else {
		e.bSrc = cols
	}
	err := e.quantised(g, product, d, e.deferring)
	if err == nil && e.grid.done {
		cols.WriteGrid(e.grid.out, e.grid.n)
	}
	e.aSrc, e.bSrc = nil, nil
	e.endGrid()
	if err != nil {
		return fmt.Errorf("%s: %w", call, err)
	}
	if e.deferring {
		e.deferred(call, req, d)
		return nil
	}
	e.record(call, &req, d)
	return nil
}

// MatMulCol2im implements backend.Col2imMultiplier for a backend whose
// product is an FP32 GEMM of the quantised operands (see Col2imTarget): it
// runs g like MatMul, and during it the backend's product may add the
// product onto dx through dst instead of writing g.C. The operands are
// quantised exactly as MatMul quantises them, so the statistics and the
// random generators end the same. Calls that need g.C go through MatMul
// as it is: those sampled for the relative error, layers kept in FP32, and
// geometries dst cannot take.
func (e *Engine) MatMulCol2im(call backend.Call, g backend.GEMM, dst *backend.Col2im, product ProductFunc) error {
	if !g.TransA || g.TransB || !dst.ProductOK(g.K) || e.Samples(call, g) || e.Settings.KeepsFP32(call.Layer) {
		return e.MatMul(call, g, product)
	}
	e.dest, e.destK = dst, g.K
	err := e.MatMul(call, g, product)
	e.dest = nil
	return err
}

// Col2imTarget returns, during MatMulCol2im, where the product function
// may add the product of qa and qb for g instead of writing g.C, or nil
// when it must write g.C: dst.AddProduct adds the FP32 GEMM of the
// quantised values (one chain of multiply-adds per element, K ≤
// gemm.KBlock), which is bit for bit what ibfp.Product followed by col2im
// gives unless the product is split along K (g.K short of the call's K,
// or accumulating), the weights hold a non-finite block (see
// conv.Workers.Col2imProduct), an operand was not quantised column-wise
// (KMajor), or --tile-accumulation ordered adds several tiles one after
// another.
func (e *Engine) Col2imTarget(g *backend.GEMM, qa, qb *ibfp.Matrix) *backend.Col2im {
	if e.dest == nil || g.K != e.destK || g.Accumulate || qb.NonFinite > 0 || !qa.KMajor || !qb.KMajor ||
		e.Settings.Ordered && qa.Tiles() > 1 {
		return nil
	}
	return e.dest
}

// chunkElements bounds the part of an operand quantised at a time: 1 MiB
// of FP32, so that the quantised copy is still in the L2 cache when the
// GEMM reads it. Quantising all of a large operand first (a convolution's
// im2col matrix can be tens of MiB) would write it to memory and read it
// back, doubling the memory traffic of products that are memory-bound
// already.
const chunkElements = 1 << 18

// quantised quantises the operands and runs product, in blocks when an
// operand is large:
//
//   - blocks of rows of op(A) (when A is stored row-major, so that a row
//     block is contiguous): every output row depends on one row of op(A)
//     and all of op(B), so the blocks are independent GEMMs and the result
//     is unchanged;
//   - otherwise, when op(B) is large and the backend allows it (KSplit),
//     blocks of whole tiles along K, each added into C: a tile's value is
//     unchanged, only the FP32 order of the additions across tiles
//     differs, which --tile-accumulation gemm leaves to the kernel anyway.
//
// On a lane, hold leaves the products to Flush (see Defer).
func (e *Engine) quantised(g *backend.GEMM, product ProductFunc, d *Counters, hold bool) error {
	if e.lane != nil {
		return e.quantisedOnLane(g, product, d, hold)
	}
	if e.splitsK(g) {
		return e.splitK(g, product, d)
	}
	if err := e.quantiseB(&e.b, g, 0); err != nil {
		return fmt.Errorf("operand B: %w", err)
	}
	d.NonFinite += int64(e.b.NonFinite)
	if e.grid.cols != nil {
		ok, err := e.gridScale(g, &e.b)
		if err != nil {
			return fmt.Errorf("operand A: %w", err)
		}
		if ok {
			e.gridMultiply(g, &e.b)
		}
	}
	rows := chunkRows(g)
	block := &e.block // in the engine, so that handing it to product does not allocate
	for m0 := 0; m0 < g.M; m0 += rows {
		*block = e.rowChunk(g, m0, rows)
		if err := e.quantiseA(&e.a, block, m0); err != nil {
			return fmt.Errorf("operand A: %w", err)
		}
		d.NonFinite += int64(e.a.NonFinite)
		if err := product(block, &e.a, &e.b, d); err != nil {
			return err
		}
	}
	return nil
}

// chunkRows returns how many rows of op(A) quantised quantises and
// multiplies at a time: all of them, unless A is stored row-major and
// larger than chunkElements.
func chunkRows(g *backend.GEMM) int {
	if !g.TransA && g.M*g.K > chunkElements {
		return max(64, chunkElements/g.K/64*64)
	}
	return g.M
}

// rowChunk returns the GEMM of rows m0… (at most rows) of op(A) and C.
func (e *Engine) rowChunk(g *backend.GEMM, m0, rows int) backend.GEMM {
	c := *g
	c.M = min(rows, g.M-m0)
	c.C = g.C[m0*g.LDC:]
	if e.aSrc == nil {
		c.A = g.A[m0*g.LDA:]
	}
	return c
}

// quantiseA quantises op(A) of chunk c, rows m0… of the GEMM's op(A),
// into dst: from c.A, or from e.aSrc (cols, never TransA), or, on the
// grid path, makes dst the view of those rows' quantised runs.
func (e *Engine) quantiseA(dst *ibfp.Matrix, c *backend.GEMM, m0 int) error {
	if e.grid.done {
		return e.gridView(dst, m0, c.M)
	}
	if e.aSrc != nil {
		return e.quant.QuantiseSource(dst, e.aSrc, m0, c.M, c.K, false)
	}
	return e.quant.Quantise(dst, c.A, c.LDA, c.M, c.K, c.TransA)
}

// splitsK reports whether quantised splits g along K.
func (e *Engine) splitsK(g *backend.GEMM) bool {
	return e.KSplit && g.N*g.K > chunkElements && g.K > e.Settings.Format.Tile && (g.TransA || g.M*g.K <= chunkElements)
}

// quantiseB quantises op(B) rows k0… along K into dst: from g.B (already
// offset to k0 by the caller), or from e.bSrc, whose stored rows are
// op(B)'s rows (never TransB).
func (e *Engine) quantiseB(dst *ibfp.Matrix, g *backend.GEMM, k0 int) error {
	if e.bSrc != nil {
		return e.quant.QuantiseSource(dst, e.bSrc, k0, g.N, g.K, true)
	}
	return e.quant.Quantise(dst, g.B, g.LDB, g.N, g.K, !g.TransB)
}

// splitK runs product on blocks of whole tiles along K (see quantised).
func (e *Engine) splitK(g *backend.GEMM, product ProductFunc, d *Counters) error {
	kc := e.chunkK(g)
	block := &e.block
	for k0 := 0; k0 < g.K; k0 += kc {
		*block = e.kChunk(g, k0, kc)
		if err := e.quant.Quantise(&e.a, block.A, block.LDA, block.M, block.K, block.TransA); err != nil {
			return fmt.Errorf("operand A: %w", err)
		}
		if err := e.quantiseB(&e.b, block, k0); err != nil {
			return fmt.Errorf("operand B: %w", err)
		}
		d.NonFinite += int64(e.a.NonFinite + e.b.NonFinite)
		if err := product(block, &e.a, &e.b, d); err != nil {
			return err
		}
	}
	return nil
}

// chunkK returns the length along K, in whole tiles, of splitK's blocks.
func (e *Engine) chunkK(g *backend.GEMM) int {
	h := e.Settings.Format.Tile
	return max(h, chunkElements/(g.M+g.N)/h*h)
}

// kChunk returns the GEMM of tiles k0… (at most kc along K) of g, added
// into C after the first.
func (e *Engine) kChunk(g *backend.GEMM, k0, kc int) backend.GEMM {
	c := *g
	c.K = min(kc, g.K-k0)
	c.Accumulate = g.Accumulate || k0 > 0
	if g.TransA { // A stored K×M
		c.A = g.A[k0*g.LDA:]
	} else {
		c.A = g.A[k0:]
	}
	switch {
	case e.bSrc != nil: // rows k0… of cols, quantised by quantiseB
		c.B = nil
	case g.TransB: // B stored N×K
		c.B = g.B[k0:]
	default:
		c.B = g.B[k0*g.LDB:]
	}
	return c
}

func sgemm(g *backend.GEMM) {
	var beta float32
	if g.Accumulate {
		beta = 1
	}
	gemm.Sgemm(g.TransA, g.TransB, g.M, g.N, g.K, 1, g.A, g.LDA, g.B, g.LDB, beta, g.C, g.LDC)
}

// reference computes the exact FP32 product of g into e.ref and, when g
// accumulates, saves C's incoming values into e.in.
func (e *Engine) reference(g *backend.GEMM) {
	m, n := g.M, g.N
	e.ref = grow(e.ref, m*n)
	gemm.Sgemm(g.TransA, g.TransB, m, n, g.K, 1, g.A, g.LDA, g.B, g.LDB, 0, e.ref, n)
	if g.Accumulate {
		e.in = grow(e.in, m*n)
		for i := range m {
			copy(e.in[i*n:(i+1)*n], g.C[i*g.LDC:i*g.LDC+n])
		}
	}
}

// relErr returns ‖C_out - C_in - ref‖/‖ref‖, or false when ref is zero.
func (e *Engine) relErr(g *backend.GEMM) (float64, bool) {
	m, n := g.M, g.N
	var num, den float64
	for i := range m {
		row := g.C[i*g.LDC : i*g.LDC+n]
		for j, c := range row {
			got := float64(c)
			if g.Accumulate {
				got -= float64(e.in[i*n+j])
			}
			r := float64(e.ref[i*n+j])
			num += (got - r) * (got - r)
			den += r * r
		}
	}
	if den == 0 || math.IsInf(den, 0) || math.IsNaN(num) {
		return 0, false
	}
	return math.Sqrt(num / den), true
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
