package gemm

import (
	"sync"
	"sync/atomic"
)

// contexts pools per-call state so steady-state calls allocate nothing.
var contexts = sync.Pool{New: func() any { return new(context) }}

// context is the state of one Sgemm call: the problem, how it is split,
// and one worker per goroutine, each with its own packing buffers.
//
// Work is handed out in chunks (ranges of rows, columns, k, or B panels)
// through an atomic counter, so a goroutine that the OS runs late simply
// takes fewer chunks, and the calling goroutine finishes the work alone if
// need be. A chunk's arithmetic does not depend on which goroutine runs it,
// so the result does not either.
type context struct {
	pr      problem
	workers []*worker
	wg      sync.WaitGroup

	kind  int          // split kind, see plan
	phase int          // what a chunk is, see the phase constants
	next  atomic.Int64 // the next chunk to hand out
	count int          // chunks in the current phase

	// For phaseShared: the B block multiplied in this round (mul, if
	// mul.kc > 0) and the one packed for the next round (pack, if
	// pack.kc > 0), and how many chunks of each kind the round has: row
	// ranges first, then ranges of B panels.
	mul, pack             bBlock
	rowChunks, packChunks int
	sharedB               [2][]float32

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
	run                    func()    // runs work on a new goroutine; made once so go statements allocate nothing
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
		w := &worker{ctx: ctx}
		w.run = func() {
			w.work()
			w.ctx.wg.Done()
		}
		ctx.workers = append(ctx.workers, w)
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

// rowChunksPerProc is how many row ranges each goroutine gets in a row
// split, on average: enough that a goroutine started late by the OS
// leaves little work to wait for, few enough that each range still fills
// an A block.
const rowChunksPerProc = 4

// plan chooses how to share the product among at most procs goroutines,
// giving each at least one tile row, tile column or k block:
//   - rows, when there are many tile rows and either B is read in place
//     and small, or packed and the product is large enough that
//     synchronising the goroutines once per packed B block (see
//     runSharedB) costs little;
//   - else k, when C is small: each goroutine but the first writes a
//     partial product, added at the end;
//   - else columns: each goroutine packs all of A;
//   - else rows, however few.
func (pr *problem) plan(procs int) (kind, parts int) {
	if procs < 2 || pr.m*pr.n*pr.k < parallelMinWork {
		return splitNone, 1
	}
	mPanels := (pr.m + pr.spec.mr - 1) / pr.spec.mr
	nPanels := (pr.n + pr.spec.nr - 1) / pr.spec.nr
	kBlocks := (pr.k + kcBlock - 1) / kcBlock
	var rowsCheap bool
	if pr.bInPlace() {
		// Every row range reads all of B: only cheap if B is small.
		rowsCheap = pr.k*pr.n <= smallB
	} else {
		rounds := kBlocks*((pr.n+ncBlock-1)/ncBlock) + 1 // see runSharedB
		rowsCheap = float64(rounds)*roundCost < 0.03*2*float64(pr.m)*float64(pr.n)*float64(pr.k)
	}
	switch {
	case mPanels >= rowChunksPerProc*procs && rowsCheap:
		return splitM, procs
	case kBlocks >= procs && pr.m*pr.n <= maxPartial:
		return splitK, procs
	case nPanels >= procs && !pr.transC:
		return splitN, procs
	case mPanels >= procs:
		return splitM, procs
	}
	return splitNone, 1
}

// smallB is the size, in floats, under which a B read in place by every
// row range of a row split stays in L2 (1 MiB) for all of them.
const smallB = 1 << 18

// roundCost is the cost of one round of handing work to the goroutines
// and waiting for all, in floating-point operations: about 10 µs at
// 200 GFLOP/s.
const roundCost = 2e6

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
	mPanels := (pr.m + pr.spec.mr - 1) / pr.spec.mr
	switch {
	case kind == splitM && !pr.bInPlace() && !(pr.transC && !pr.transB):
		ctx.runSharedB(parts, min(mPanels, parts*rowChunksPerProc))
	case kind == splitM:
		ctx.phase = phaseAll
		ctx.parallel(parts, min(mPanels, parts*rowChunksPerProc))
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

// parallel hands count chunks of the current phase to workers 0..parts-1,
// worker 0 on the calling goroutine, and waits for all.
func (ctx *context) parallel(parts, count int) {
	ctx.count = count
	ctx.next.Store(0)
	ctx.wg.Add(parts - 1)
	for p := 1; p < parts; p++ {
		go ctx.workers[p].run()
	}
	ctx.workers[0].work()
	ctx.wg.Wait()
}

// work runs chunks until none is left.
func (w *worker) work() {
	for {
		c := int(w.ctx.next.Add(1) - 1)
		if c >= w.ctx.count {
			return
		}
		w.do(c)
	}
}

// do computes chunk c of the current phase.
func (w *worker) do(c int) {
	ctx := w.ctx
	pr := &ctx.pr
	w.out = *pr
	w.m0, w.m1, w.n0, w.n1, w.k0, w.k1 = 0, pr.m, 0, pr.n, 0, pr.k
	if ctx.phase == phaseShared {
		if c < ctx.rowChunks {
			b := ctx.mul
			w.m0, w.m1 = bounds(pr.m, pr.spec.mr, c, ctx.rowChunks)
			w.computeBlock(b.jc, b.nc, b.pc, b.kc, ctx.sharedB[b.buf])
			return
		}
		b := ctx.pack
		panels := (b.nc + pr.spec.nr - 1) / pr.spec.nr
		lo, hi := bounds(panels, 1, c-ctx.rowChunks, ctx.packChunks)
		pr.packBlockB(ctx.sharedB[b.buf], b.jc, b.nc, b.pc, b.kc, lo, hi)
		return
	}
	switch ctx.kind {
	case splitM:
		w.m0, w.m1 = bounds(pr.m, pr.spec.mr, c, ctx.count)
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
