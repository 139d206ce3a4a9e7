package bfpengine

import (
	"fmt"
	"math"

	"github.com/mirage-go/mirage/backend"
	ibfp "github.com/mirage-go/mirage/internal/bfp"
	"github.com/mirage-go/mirage/internal/gemm"
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

	quant    *ibfp.Quantiser
	a, b     ibfp.Matrix
	ref, in  []float32
	gemm     backend.GEMM
	block    backend.GEMM
	counters Counters
}

// NewEngine returns an engine for valid settings.
func NewEngine(s Settings) *Engine {
	return &Engine{Settings: s, Stats: NewStats(), quant: ibfp.NewQuantiser(s.Format, s.NoiseSeed^0x9e3779b97f4a7c15)}
}

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
	// The GEMM and the counters live in the engine, so that handing
	// pointers to product does not allocate.
	e.gemm = req
	g := &e.gemm
	d := &e.counters
	*d = Counters{Calls: 1}
	sample := e.Settings.StatsEvery > 0 && e.Stats.Calls(call)%int64(e.Settings.StatsEvery) == 0 && g.M > 0 && g.N > 0
	if sample {
		e.reference(g)
	}
	if e.Settings.KeepsFP32(call.Layer) {
		d.FP32 = true
		sgemm(g)
	} else if err := e.quantised(g, product, d); err != nil {
		return fmt.Errorf("%s: %w", call, err)
	}
	if sample {
		if r, ok := e.relErr(g); ok {
			d.AddRelErr(r)
		}
	}
	e.Stats.Add(call, d)
	e.Stats.AddShape(call, req.M, req.N, req.K, d)
	return nil
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
func (e *Engine) quantised(g *backend.GEMM, product ProductFunc, d *Counters) error {
	h := e.Settings.Format.Tile
	if e.KSplit && g.N*g.K > chunkElements && g.K > h && (g.TransA || g.M*g.K <= chunkElements) {
		return e.splitK(g, product, d)
	}
	if err := e.quant.Quantise(&e.b, g.B, g.LDB, g.N, g.K, !g.TransB); err != nil {
		return fmt.Errorf("operand B: %w", err)
	}
	d.NonFinite += int64(e.b.NonFinite)
	rows := g.M
	if !g.TransA && g.M*g.K > chunkElements {
		rows = max(64, chunkElements/g.K/64*64)
	}
	block := &e.block // in the engine, so that handing it to product does not allocate
	for m0 := 0; m0 < g.M; m0 += rows {
		*block = *g
		block.M = min(rows, g.M-m0)
		block.A = g.A[m0*g.LDA:]
		block.C = g.C[m0*g.LDC:]
		if err := e.quant.Quantise(&e.a, block.A, block.LDA, block.M, block.K, block.TransA); err != nil {
			return fmt.Errorf("operand A: %w", err)
		}
		d.NonFinite += int64(e.a.NonFinite)
		if err := product(block, &e.a, &e.b, d); err != nil {
			return err
		}
	}
	return nil
}

// splitK runs product on blocks of whole tiles along K (see quantised).
func (e *Engine) splitK(g *backend.GEMM, product ProductFunc, d *Counters) error {
	h := e.Settings.Format.Tile
	kc := max(h, chunkElements/(g.M+g.N)/h*h)
	block := &e.block
	for k0 := 0; k0 < g.K; k0 += kc {
		*block = *g
		block.K = min(kc, g.K-k0)
		block.Accumulate = g.Accumulate || k0 > 0
		if g.TransA { // A stored K×M
			block.A = g.A[k0*g.LDA:]
		} else {
			block.A = g.A[k0:]
		}
		if g.TransB { // B stored N×K
			block.B = g.B[k0:]
		} else {
			block.B = g.B[k0*g.LDB:]
		}
		if err := quantiseOperands(e.quant, block, &e.a, &e.b); err != nil {
			return err
		}
		d.NonFinite += int64(e.a.NonFinite + e.b.NonFinite)
		if err := product(block, &e.a, &e.b, d); err != nil {
			return err
		}
	}
	return nil
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

// quantiseOperands quantises op(A) by rows into a and op(B) by columns into
// b, both along the reduction dimension K of g.
func quantiseOperands(q *ibfp.Quantiser, g *backend.GEMM, a, b *ibfp.Matrix) error {
	if err := q.Quantise(a, g.A, g.LDA, g.M, g.K, g.TransA); err != nil {
		return fmt.Errorf("operand A: %w", err)
	}
	if err := q.Quantise(b, g.B, g.LDB, g.N, g.K, !g.TransB); err != nil {
		return fmt.Errorf("operand B: %w", err)
	}
	return nil
}
