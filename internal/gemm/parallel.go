package gemm

import (
	"sync"

	"github.com/mirage-go/mirage/internal/parallel"
)

// contexts pools per-call state so steady-state calls allocate nothing.
var contexts = sync.Pool{New: func() any { return new(context) }}

// context is the state of one Sgemm call: the problem, how it is split,
// and one worker per goroutine, each with its own packing buffers.
//
// A call runs in rounds (one, or one per packed B block, see runSharedB).
// A round's work is handed out in chunks (ranges of rows, columns, k, or
// B panels) through an atomic counter, so a goroutine that the OS runs
// late simply takes fewer chunks, and the calling goroutine finishes the
// work alone if need be. A chunk's arithmetic does not depend on which
// goroutine runs it, so the result does not either.
//
// Every worker but the first runs on a helper goroutine of the context's
// parallel.Team, which spins between rounds rather than sleeping and
// exits 50 µs after the last one: in the virtual machines mirage is
// benchmarked on, waking a sleeping thread took 70 µs to over 300 µs, as
// long as a whole round of a 256×256×256 product, while a spinning
// goroutine takes a round in under a microsecond. A context's helpers
// outlive its calls only by that spin, so a pooled context holds no
// goroutine for long.
type context struct {
	pr      problem
	workers []*worker
	// team runs each round's chunks on the calling goroutine (worker 0)
	// and helper goroutines that spin between rounds: the caller's (see
	// SgemmOn) for the call, or else own. chunk is ctx.runChunk, made once
	// so handing it to the team allocates nothing.
	team  *parallel.Team
	own   parallel.Team
	chunk func(worker, c int)

	kind  int // split kind, see plan
	phase int // what a chunk is, see the phase constants
	count int // chunks in the current phase

	// For phaseShared: the B block multiplied in this round (mul, if
	// mul.kc > 0) and the one packed for the next round (pack, if
	// pack.kc > 0), and how many chunks of each kind the round has:
	// ranges of B panels first (so that no goroutine is left packing
	// when the others run out of rows), then row ranges.
	mul, pack             bBlock
	rowChunks, packChunks int
	sharedB               [2][]float32

	rowEnds []int // where each row chunk ends, see splitRows

	partials [][]float32 // a k split's partial products, one per chunk but the first
}

// Phases, see worker.do.
const (
	phaseAll    = iota // a chunk is a part of the whole product
	phaseShared        // a chunk multiplies rows by the current B block, or packs panels of the next
)

// bBlock is a block of B: columns [jc, jc+nc) and rows [pc, pc+kc) of
// op(B), packed into context.sharedB[buf].
type bBlock struct {
	jc, nc, pc, kc, buf int
}

// worker computes chunks: rows [m0, m1), columns [n0, n1) and reduction
// steps [k0, k1) of the product, into out (C, or a partial product in a k
// split).
type worker struct {
	ctx                    *context
	m0, m1, n0, n1, k0, k1 int
	out                    problem
	bufA, bufB             []float32 // packed A and B blocks
	edgeA, edgeB           []float32 // padded edge panels of in-place operands
	tile                   []float32 // a register tile, or a transposed product's block
}

// grow returns buf resliced to n elements, reallocating only when too small.
func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

// workerAt returns the i-th worker, creating it on first use.
func (ctx *context) workerAt(i int) *worker {
	for len(ctx.workers) <= i {
		ctx.workers = append(ctx.workers, &worker{ctx: ctx})
	}
	return ctx.workers[i]
}

// Split kinds, see plan.
const (
	splitNone = iota
	splitM
	splitN
	splitK
)

// maxPartial bounds the size of a k split's partial products.
const maxPartial = 1 << 16

// minRowsPerProc is the fewest tile rows per goroutine for which a row
// split is preferred to the others.
const minRowsPerProc = 4

// plan chooses how to share the product among at most procs goroutines,
// giving each at least one tile row, tile column or k block:
//   - rows, when there are many tile rows and either B is read in place
//     and small, or packed and the product is large enough that
//     synchronising the goroutines once per packed B block (see
//     runSharedB) costs little;
//   - else k, when C is small: each goroutine but the first writes a
//     partial product, added at the end;
//   - else columns, each goroutine packing all of A, unless the columns
//     split unevenly (5 tile columns in 3 and 2) and rows would waste
//     less;
//   - else rows, however few.
func (pr *problem) plan(procs int) (kind, parts int) {
	if procs < 2 || pr.m*pr.n*pr.k < parallelMinWork {
		return splitNone, 1
	}
	mPanels := (pr.m + pr.spec.mr - 1) / pr.spec.mr
	nPanels := (pr.n + pr.spec.nr - 1) / pr.spec.nr
	kBlocks := (pr.k + kcBlock - 1) / kcBlock
	manyRows := mPanels >= minRowsPerProc*procs
	// The fraction of the work that a row or a column split loses.
	var rowWaste, colWaste float64
	if pr.bInPlace() {
		// Every row range reads all of B: only cheap if B is small.
		if pr.k*pr.n > smallB {
			rowWaste = 1
		}
	} else {
		rounds := kBlocks*((pr.n+ncBlock-1)/ncBlock) + 1 // see runSharedB
		rowWaste = float64(rounds) * roundCost / (2 * float64(pr.m) * float64(pr.n) * float64(pr.k))
	}
	if nPanels >= procs {
		perProc := (nPanels + procs - 1) / procs
		colWaste = 1 - float64(nPanels)/float64(perProc*procs)
		if !pr.aInPlace(min(perProc, ncBlock/pr.spec.nr)) {
			// Each goroutine packs all of A, which a row split packs once.
			colWaste += float64(procs-1) * packCostA / (2 * float64(pr.n))
		}
	}
	switch {
	case manyRows && rowWaste < 0.03:
		return splitM, procs
	case kBlocks >= procs && pr.m*pr.n <= maxPartial:
		return splitK, procs
	case nPanels >= procs && !pr.transC && !(manyRows && rowWaste < colWaste):
		return splitN, procs
	case mPanels >= procs:
		return splitM, procs
	}
	return splitNone, 1
}

// packCostA is the cost of packing one element of A, in floating-point
// operations of the kernel, on the low side: on the AVX2 machine of
// BENCHMARKS.md (session 17), packing a transposed A (a weight gradient's
// dYᵀ) took 1.4–2.8 ns per element (BenchmarkPack, and a profile of
// BERT's FFN weight gradient), in which a core does 80–150 flops of the
// kernel. Without it, a weight gradient cut along K into short blocks
// (package bfpengine's) split its columns, and both goroutines packed all
// of A.
const packCostA = 64

// smallB is the size, in floats, under which a B read in place by every
// row range of a row split stays in L2 (1 MiB) for all of them.
const smallB = 1 << 18

// roundCost is the cost of one round of a row split with shared B
// blocks, in floating-point operations: handing out the round and
// waiting for the last chunk, about 10 µs at 200 GFLOP/s (measured on
// 256×256×256, which runs in two rounds).
const roundCost = 2e6

// minRowChunk is the height of the smallest row chunk, in tiles.
const minRowChunk = 2

// splitRows cuts the rows of C into chunks for a row split among parts
// goroutines and returns how many: each chunk is a quarter (for two
// goroutines) of the rows left, down to minRowChunk tiles. Goroutines
// take chunks in order, so the last ones, which decide how long the
// first goroutine to run out of work waits for the others, are small,
// while the first are large enough to fill A blocks.
func (ctx *context) splitRows(parts int) int {
	pr := &ctx.pr
	mr := pr.spec.mr
	left := (pr.m + mr - 1) / mr
	ctx.rowEnds = ctx.rowEnds[:0]
	end := 0
	for left > 0 {
		size := min(left, max(minRowChunk, (left+2*parts-1)/(2*parts)))
		left -= size
		end += size
		ctx.rowEnds = append(ctx.rowEnds, min(end*mr, pr.m))
	}
	return len(ctx.rowEnds)
}

// rowChunk returns the rows of chunk c of splitRows.
func (ctx *context) rowChunk(c int) (lo, hi int) {
	if c > 0 {
		lo = ctx.rowEnds[c-1]
	}
	return lo, ctx.rowEnds[c]
}

// bounds returns the part-th of parts ranges splitting [0, n) at multiples
// of unit, as evenly as whole units allow.
func bounds(n, unit, part, parts int) (lo, hi int) {
	units := (n + unit - 1) / unit
	lo = min(units*part/parts*unit, n)
	hi = min(units*(part+1)/parts*unit, n)
	return lo, hi
}

// run computes the product with at most procs goroutines.
func (ctx *context) run(procs int) {
	pr := &ctx.pr
	kind, parts := pr.plan(procs)
	ctx.kind = kind
	for p := 0; p < parts; p++ {
		ctx.workerAt(p)
	}
	switch {
	case kind == splitM && !pr.bInPlace() && !(pr.transC && !pr.transB):
		ctx.runSharedB(parts, ctx.splitRows(parts))
	case kind == splitM:
		ctx.phase = phaseAll
		ctx.parallel(parts, ctx.splitRows(parts))
	case kind == splitK:
		rows, cols := pr.m, pr.n
		if pr.transC {
			rows, cols = pr.n, pr.m
		}
		for len(ctx.partials) < parts {
			ctx.partials = append(ctx.partials, nil)
		}
		for c := 1; c < parts; c++ {
			ctx.partials[c] = grow(ctx.partials[c], rows*cols)
		}
		ctx.phase = phaseAll
		ctx.parallel(parts, parts)
		ctx.sumPartials(parts)
	default:
		ctx.phase = phaseAll
		ctx.parallel(parts, parts)
	}
	for _, w := range ctx.workers {
		w.out = problem{}
	}
}

// runSharedB runs a row split in which the goroutines share each packed
// B block, so that B is packed once, not once per goroutine. B blocks are
// double-buffered: in each round the goroutines multiply row ranges by
// one block and pack the panels of the next, so the blocks take one round
// each (plus one to pack the first) rather than a packing round and a
// multiplying round each.
func (ctx *context) runSharedB(parts, rowChunks int) {
	pr := &ctx.pr
	nr := pr.spec.nr
	ctx.mul, ctx.pack = bBlock{}, bBlock{}
	buf := 0
	for jc := 0; jc < pr.n; jc += ncBlock {
		nc := min(ncBlock, pr.n-jc)
		panels := (nc + nr - 1) / nr
		for pc := 0; pc < pr.k; pc += kcBlock {
			kc := min(kcBlock, pr.k-pc)
			ctx.sharedB[buf] = grow(ctx.sharedB[buf], panels*kc*nr)
			ctx.pack = bBlock{jc: jc, nc: nc, pc: pc, kc: kc, buf: buf}
			ctx.sharedRound(parts, rowChunks)
			ctx.mul = ctx.pack
			buf ^= 1
		}
	}
	ctx.pack = bBlock{}
	ctx.sharedRound(parts, rowChunks)
}

// sharedRound runs one round of runSharedB: multiply by mul (if any) and
// pack pack (if any).
func (ctx *context) sharedRound(parts, rowChunks int) {
	ctx.phase = phaseShared
	ctx.rowChunks, ctx.packChunks = 0, 0
	if ctx.mul.kc > 0 {
		ctx.rowChunks = rowChunks
	}
	if ctx.pack.kc > 0 {
		panels := (ctx.pack.nc + ctx.pr.spec.nr - 1) / ctx.pr.spec.nr
		ctx.packChunks = min(panels, parts)
	}
	ctx.parallel(parts, ctx.rowChunks+ctx.packChunks)
}

// parallel runs a round: count chunks of the current phase on workers
// 0..parts-1 of the context's team (worker 0 is the calling goroutine).
func (ctx *context) parallel(parts, count int) {
	ctx.count = count
	if ctx.chunk == nil {
		ctx.chunk = ctx.runChunk
	}
	ctx.team.Run(parts, count, ctx.chunk)
}

// runChunk computes chunk c of the current phase on the given worker.
func (ctx *context) runChunk(worker, c int) { ctx.workers[worker].do(c) }

// do computes chunk c of the current phase.
func (w *worker) do(c int) {
	ctx := w.ctx
	pr := &ctx.pr
	w.out = *pr
	w.m0, w.m1, w.n0, w.n1, w.k0, w.k1 = 0, pr.m, 0, pr.n, 0, pr.k
	if ctx.phase == phaseShared {
		if c < ctx.packChunks {
			b := ctx.pack
			panels := (b.nc + pr.spec.nr - 1) / pr.spec.nr
			lo, hi := bounds(panels, 1, c, ctx.packChunks)
			pr.packBlockB(ctx.sharedB[b.buf], b.jc, b.nc, b.pc, b.kc, lo, hi)
			return
		}
		b := ctx.mul
		w.m0, w.m1 = ctx.rowChunk(c - ctx.packChunks)
		w.computeBlock(b.jc, b.nc, b.pc, b.kc, ctx.sharedB[b.buf])
		return
	}
	switch ctx.kind {
	case splitM:
		w.m0, w.m1 = ctx.rowChunk(c)
	case splitN:
		w.n0, w.n1 = bounds(pr.n, pr.spec.nr, c, ctx.count)
	case splitK:
		w.k0, w.k1 = bounds(pr.k, kcBlock, c, ctx.count)
		if c > 0 {
			// A partial product in C's layout, summed at the end.
			cols := pr.n
			if pr.transC {
				cols = pr.m
			}
			w.out.c, w.out.ldc, w.out.beta = ctx.partials[c], cols, 0
		}
	}
	w.compute()
}

// sumPartials adds the partial products of chunks 1..parts-1 into C, in
// chunk order.
func (ctx *context) sumPartials(parts int) {
	pr := &ctx.pr
	rows, cols := pr.m, pr.n
	if pr.transC {
		rows, cols = pr.n, pr.m
	}
	for p := 1; p < parts; p++ {
		part := ctx.partials[p]
		for i := 0; i < rows; i++ {
			dst := pr.c[i*pr.ldc : i*pr.ldc+cols]
			src := part[i*cols : i*cols+cols]
			for j, v := range src {
				dst[j] += v
			}
		}
	}
}
