// Package gemm holds mirage's single-precision matrix product, the kernel
// under every backend.
//
// Sgemm follows the BLAS convention for row-major storage:
// C = alpha·op(A)·op(B) + beta·C, with op(X) = X or Xᵀ.
//
// # Structure
//
// The implementation follows the GotoBLAS/BLIS design. The product is cut
// into blocks sized for the caches: kcBlock steps of the reduction at a
// time, mcBlock rows of A (an A block, about half of the 2 MiB L2), ncBlock
// columns of B (a B block, in L3). Blocks are packed into contiguous
// micro-panels (pack.go) and a register-blocked micro-kernel multiplies one
// panel of A by one panel of B, holding an mr×nr tile of C in vector
// registers for the whole kc loop.
//
// The micro-kernels are generated Go assembly (asm/gen.go, built with avo):
// AVX-512 (12×32, and 24×16 for products with at most 16 columns) and
// AVX2+FMA (6×16), chosen once at start-up from the CPU's features
// (golang.org/x/sys/cpu). A pure-Go kernel (kernel.go) runs everywhere
// else. On one goroutine all kernels give bit-identical results: they fuse
// multiply and add, sum in the same order, and the blocking along k
// (kcBlock) is the same for all.
//
// Packing is skipped when it cannot pay for itself: an operand that is
// reused by only a few tiles (the tall-skinny products of convolutions) is
// read in place, since the kernel takes A with arbitrary row and step
// strides and B with an arbitrary row stride.
//
// Edge tiles (m, n not multiples of the tile) go through the same kernels,
// which store only the valid rows and columns (masked stores). When the
// transposed product Cᵀ = op(B)ᵀ·op(A)ᵀ fills the register tiles much
// better (a convolution's weight gradient: 16×144 with a reduction of
// 131072, where 16 rows waste a third of 12-row tiles), it is computed
// instead into a buffer and stored transposed (computeTransposed).
//
// # Parallelism
//
// Large products are split over at most GOMAXPROCS goroutines, the calling
// goroutine doing one share, each owning a disjoint part of C: a range of
// rows (the goroutines share each packed B block, packing a part of it
// each), a range of columns, or, for a short and wide reduction, a range
// of k whose partial sums are added at the end. plan picks the split that
// wastes the least memory traffic. Small products run on the calling
// goroutine alone. Row and column splits do not change any sum; a k split
// rounds differently, so results with several goroutines can depend on
// their number.
//
// # Memory
//
// Packing buffers, and the goroutines' closures, live in a sync.Pool of
// per-call contexts, so steady-state calls allocate nothing. The pool is
// the package's only package-level variable besides the immutable kernel
// tables; a context carries nothing from one call to the next but its
// buffers' capacity.
package gemm

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Blocking. kcBlock is shared by all kernels so that they give identical
// results; mcBlock is a multiple of every kernel's mr and ncBlock of every
// nr.
const (
	// kcBlock: the kc×nr B micro-panel (32 KiB at nr = 32) stays in the
	// 48 KiB L1 while the mr×kc A micro-panels stream from L2.
	kcBlock = 256
	// mcBlock: an A block of 480×256 floats is 480 KiB, a quarter of the
	// per-core L2, leaving room for the B micro-panels and C.
	mcBlock = 480
	// ncBlock: a B block of 256×4096 floats is 4 MiB, in the shared L3.
	ncBlock = 4096
)

// inPlaceReuse is the largest number of tiles that may read one A (or B)
// micro-panel before packing it pays: below it, operands are read in place.
const inPlaceReuse = 2

// compactRow is the longest row stride (in floats) at which an A operand is
// read in place however often it is reused.
const compactRow = 64

// parallelMinWork is the product size m·n·k under which a call runs on one
// goroutine: about 1 µs of kernel time at 200 GFLOP/s, the cost of waking
// another goroutine.
const parallelMinWork = 64 * 64 * 64

// defaultKernels is the kernel set chosen for this CPU at start-up; it is
// never modified.
var defaultKernels = detectKernels()

// KernelName reports which micro-kernels Sgemm uses on this machine
// ("avx512", "avx2" or "go"), for benchmark reports.
func KernelName() string { return defaultKernels.name }

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices,
// where op(A) is m×k and op(B) is k×n. A is stored m×k with row stride lda
// (k×m when transA), B is stored k×n with row stride ldb (n×k when transB)
// and C is m×n with row stride ldc. When beta is zero C is only written,
// so it may hold garbage (NaN included). With k = 0, C = beta·C.
//
// Sgemm panics if a size is negative or a slice is too short for the
// sizes and strides given, as BLAS does: the kernels use assembly, and a
// bad stride must never become an out-of-bounds read. Callers handling
// user data validate first (backend.GEMM.Validate).
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm(defaultKernels, runtime.GOMAXPROCS(0), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Gonum runs gonum's pure-Go blas32 kernel, kept as a baseline for benchmarks.
func Gonum(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ta, tb := blas.NoTrans, blas.NoTrans
	if transA {
		ta = blas.Trans
	}
	if transB {
		tb = blas.Trans
	}
	blas32.Implementation().Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// checkOperand panics unless data can hold a rows×cols matrix with row
// stride ld.
func checkOperand(name string, data []float32, rows, cols, ld int) {
	if rows == 0 || cols == 0 {
		return
	}
	if ld < cols {
		panic(fmt.Sprintf("gemm: %s has row stride %d < %d columns", name, ld, cols))
	}
	if need := (rows-1)*ld + cols; len(data) < need {
		panic(fmt.Sprintf("gemm: %s is %d×%d with row stride %d and needs %d elements, has %d", name, rows, cols, ld, need, len(data)))
	}
}

// sgemm is Sgemm with an explicit kernel set and goroutine budget, so
// tests can run every kernel set and every way of splitting the work.
func sgemm(set *kernelSet, procs int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative size m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkOperand("A", a, ar, ac, lda)
	checkOperand("B", b, br, bc, ldb)
	checkOperand("C", c, m, n, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scale(c, m, n, ldc, beta)
		return
	}

	ctx := contexts.Get().(*context)
	ctx.pr = problem{
		m: m, n: n, k: k,
		transA: transA, transB: transB,
		a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc,
		alpha: alpha, beta: beta,
	}
	if transposeHelps(set, m, n, k) {
		// Cᵀ = op(B)ᵀ·op(A)ᵀ: op(B)ᵀ is the new A, stored as B is, and
		// transposed exactly when B was not.
		ctx.pr.m, ctx.pr.n = n, m
		ctx.pr.a, ctx.pr.lda, ctx.pr.transA = b, ldb, !transB
		ctx.pr.b, ctx.pr.ldb, ctx.pr.transB = a, lda, !transA
		ctx.pr.transC = true
	}
	ctx.pr.spec = set.forN(ctx.pr.n)
	ctx.run(procs)
	ctx.pr = problem{} // drop the caller's slices before pooling
	contexts.Put(ctx)
}

// scale sets C = beta·C, writing zeros (not 0·C, which keeps NaN) when
// beta is zero.
func scale(c []float32, m, n, ldc int, beta float32) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// tileEfficiency is the fraction of the register tiles' work that lands in
// an m×n product.
func tileEfficiency(m, n int, spec kernelSpec) float64 {
	pm := (m + spec.mr - 1) / spec.mr * spec.mr
	pn := (n + spec.nr - 1) / spec.nr * spec.nr
	return float64(m*n) / float64(pm*pn)
}

// transposeHelps reports whether computing Cᵀ fills the tiles at least a
// quarter better. The transposed product is accumulated in a buffer of
// the size of C, so it is kept for long reductions with a small C.
func transposeHelps(set *kernelSet, m, n, k int) bool {
	if k < kcBlock || m*n > maxPartial {
		return false
	}
	direct := tileEfficiency(m, n, set.forN(n))
	flipped := tileEfficiency(n, m, set.forN(m))
	return flipped > 1.25*direct
}

// problem is one product as the driver sees it, after choosing whether to
// compute C or Cᵀ. When transC is set, element (i, j) of the computed m×n
// product is stored at c[j·ldc + i].
type problem struct {
	m, n, k        int
	transA, transB bool
	a              []float32
	lda            int
	b              []float32
	ldb            int
	c              []float32
	ldc            int
	transC         bool
	alpha, beta    float32
	spec           kernelSpec
}

// inPlaceA returns A's micro-panel starting at (i, p) as the kernel reads
// it in place: pointer, row stride and step stride.
func (pr *problem) inPlaceA(i, p int) (*float32, int, int) {
	if pr.transA {
		return &pr.a[p*pr.lda+i], 1, pr.lda
	}
	return &pr.a[i*pr.lda+p], pr.lda, 1
}

// merge stores a rows×cols tile computed with alpha = 1 and beta = 0 into
// C at (i, j), rounding exactly as the kernels do.
func (pr *problem) merge(tile []float32, nr, i, j, rows, cols int, beta float32) {
	for r := 0; r < rows; r++ {
		src := tile[r*nr : r*nr+cols]
		for q, v := range src {
			idx := (i+r)*pr.ldc + j + q
			if pr.transC {
				idx = (j+q)*pr.ldc + i + r
			}
			t := float32(pr.alpha * v)
			if beta == 0 {
				pr.c[idx] = t
			} else {
				pr.c[idx] = fma32(beta, pr.c[idx], t)
			}
		}
	}
}

// contexts pools per-call state so steady-state calls allocate nothing.
var contexts = sync.Pool{New: func() any { return new(context) }}

// context is the state of one Sgemm call: the problem and one worker per
// goroutine, each with its own packing buffers.
type context struct {
	pr      problem
	workers []*worker
	wg      sync.WaitGroup

	// The phase the workers run next, and for phasePackB and phaseBlock
	// the B block: columns [jc, jc+nc), rows [pc, pc+kc), packed into
	// sharedB. parts is the number of workers taking part.
	phase          int
	parts          int
	jc, nc, pc, kc int
	sharedB        []float32
}

// Worker phases, see step.
const (
	phaseAll   = iota // the worker's whole part of the product
	phasePackB        // pack a share of the shared B block
	phaseBlock        // multiply the worker's rows by the shared B block
)

// worker computes one part of the product: rows [m0, m1), columns
// [n0, n1) and reduction steps [k0, k1), into out (C, or a private partial
// sum in a k split).
type worker struct {
	ctx                    *context
	m0, m1, n0, n1, k0, k1 int
	out                    problem
	bufA, bufB             []float32 // packed A and B blocks
	edgeA, edgeB           []float32 // padded edge panels of in-place operands
	tile                   []float32 // one register tile, for edge tiles
	partial                []float32 // private C for a k split
	index                  int       // position in context.workers
	run                    func()    // runs step on a new goroutine; made once so go statements allocate nothing
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
		w.index = i
		w.run = func() {
			w.step()
			w.ctx.wg.Done()
		}
		ctx.workers = append(ctx.workers, w)
	}
	return ctx.workers[i]
}

// split kinds, see run.
const (
	splitNone = iota
	splitM
	splitN
	splitK
)

// maxPartial bounds the size of the per-goroutine partial C of a k split.
const maxPartial = 1 << 16

// plan chooses how to share the product among at most procs goroutines.
// Each way of splitting costs some redundant memory traffic: a row split
// packs B once per goroutine (unless B is read in place), a column split
// packs A once per goroutine, a k split writes and sums a partial C per
// goroutine. plan takes the cheapest split that gives every goroutine at
// least one tile row, tile column or k block.
func (pr *problem) plan(procs int) (kind, parts int) {
	if procs < 2 || pr.m*pr.n*pr.k < parallelMinWork {
		return splitNone, 1
	}
	mPanels := (pr.m + pr.spec.mr - 1) / pr.spec.mr
	nPanels := (pr.n + pr.spec.nr - 1) / pr.spec.nr
	kBlocks := (pr.k + kcBlock - 1) / kcBlock
	extra := procs - 1
	best, bestCost := splitNone, math.MaxInt
	if mPanels >= procs {
		cost := extra * pr.k * pr.n
		if pr.transC && !pr.transB || !pr.transB && pr.ldb == pr.spec.nr {
			cost = 0 // B is read in place
		}
		best, bestCost = splitM, cost
	}
	if nPanels >= procs && extra*pr.m*pr.k < bestCost && !pr.transC {
		best, bestCost = splitN, extra*pr.m*pr.k
	}
	if kBlocks >= procs && pr.m*pr.n <= maxPartial && 2*extra*pr.m*pr.n < bestCost {
		best = splitK
	}
	if best == splitNone {
		return splitNone, 1
	}
	return best, procs
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
	ctx.parts = parts
	for p := 0; p < parts; p++ {
		w := ctx.workerAt(p)
		w.out = *pr
		w.m0, w.m1, w.n0, w.n1, w.k0, w.k1 = 0, pr.m, 0, pr.n, 0, pr.k
		switch kind {
		case splitM:
			w.m0, w.m1 = bounds(pr.m, pr.spec.mr, p, parts)
		case splitN:
			w.n0, w.n1 = bounds(pr.n, pr.spec.nr, p, parts)
		case splitK:
			w.k0, w.k1 = bounds(pr.k, kcBlock, p, parts)
			if p > 0 {
				// A private C in the caller's layout, summed at the end.
				rows, cols := pr.m, pr.n
				if pr.transC {
					rows, cols = pr.n, pr.m
				}
				w.partial = grow(w.partial, rows*cols)
				w.out.c, w.out.ldc, w.out.beta = w.partial, cols, 0
			}
		}
	}
	if kind == splitM && !pr.bInPlace() {
		ctx.runSharedB(parts)
	} else {
		ctx.phase = phaseAll
		ctx.parallel(parts)
	}
	if kind == splitK {
		ctx.sumPartials(parts)
	}
	for p := 0; p < parts; p++ {
		ctx.workers[p].out = problem{}
	}
}

// runSharedB runs a row split in which the goroutines share each packed
// B block: for every block they first pack a share of its panels, then,
// after all have finished, multiply their own rows by all of it. This
// avoids packing B once per goroutine.
func (ctx *context) runSharedB(parts int) {
	pr := &ctx.pr
	nr := pr.spec.nr
	for jc := 0; jc < pr.n; jc += ncBlock {
		nc := min(ncBlock, pr.n-jc)
		panels := (nc + nr - 1) / nr
		for pc := 0; pc < pr.k; pc += kcBlock {
			kc := min(kcBlock, pr.k-pc)
			ctx.sharedB = grow(ctx.sharedB, panels*kc*nr)
			ctx.jc, ctx.nc, ctx.pc, ctx.kc = jc, nc, pc, kc
			ctx.phase = phasePackB
			ctx.parallel(parts)
			ctx.phase = phaseBlock
			ctx.parallel(parts)
		}
	}
}

// parallel runs step on workers 0..parts-1, worker 0 on the calling
// goroutine, and waits for all.
func (ctx *context) parallel(parts int) {
	ctx.wg.Add(parts - 1)
	for p := 1; p < parts; p++ {
		go ctx.workers[p].run()
	}
	ctx.workers[0].step()
	ctx.wg.Wait()
}

// step does the worker's share of the context's current phase.
func (w *worker) step() {
	ctx := w.ctx
	switch ctx.phase {
	case phaseAll:
		w.compute()
	case phasePackB:
		panels := (ctx.nc + w.out.spec.nr - 1) / w.out.spec.nr
		lo, hi := bounds(panels, 1, w.index, ctx.parts)
		w.out.packBlockB(ctx.sharedB, ctx.jc, ctx.nc, ctx.pc, ctx.kc, lo, hi)
	case phaseBlock:
		w.computeBlock(ctx.jc, ctx.nc, ctx.pc, ctx.kc, ctx.sharedB)
	}
}

// sumPartials adds the partial products of workers 1..parts-1 into C.
func (ctx *context) sumPartials(parts int) {
	pr := &ctx.pr
	rows, cols := pr.m, pr.n
	if pr.transC {
		rows, cols = pr.n, pr.m
	}
	for p := 1; p < parts; p++ {
		part := ctx.workers[p].partial
		for i := 0; i < rows; i++ {
			dst := pr.c[i*pr.ldc : i*pr.ldc+cols]
			src := part[i*cols : i*cols+cols]
			for j, v := range src {
				dst[j] += v
			}
		}
	}
}

// bInPlace reports whether B is read in place rather than packed: when
// its panels are reused by few tiles (see inPlaceReuse), or already in
// packed order (rows of exactly nr floats). A transposed B never is, as
// the kernel needs its rows contiguous.
func (pr *problem) bInPlace() bool {
	mPanels := (pr.m + pr.spec.mr - 1) / pr.spec.mr
	return !pr.transB && (mPanels <= inPlaceReuse || pr.ldb == pr.spec.nr)
}

// compute runs the blocked product over the worker's ranges on its own.
func (w *worker) compute() {
	pr := &w.out
	if pr.transC && !pr.transB {
		w.computeTransposed()
		return
	}
	nr := pr.spec.nr
	bInPlace := pr.bInPlace()
	for jc := w.n0; jc < w.n1; jc += ncBlock {
		nc := min(ncBlock, w.n1-jc)
		panels := (nc + nr - 1) / nr
		for pc := w.k0; pc < w.k1; pc += kcBlock {
			kc := min(kcBlock, w.k1-pc)
			if bInPlace {
				w.computeBlock(jc, nc, pc, kc, nil)
				continue
			}
			w.bufB = grow(w.bufB, panels*kc*nr)
			pr.packBlockB(w.bufB, jc, nc, pc, kc, 0, panels)
			w.computeBlock(jc, nc, pc, kc, w.bufB)
		}
	}
}

// computeBlock multiplies the worker's rows of A, columns [pc, pc+kc), by
// the B block of rows [pc, pc+kc) and columns [jc, jc+nc): packedB, or B in
// place when packedB is nil.
func (w *worker) computeBlock(jc, nc, pc, kc int, packedB []float32) {
	pr := &w.out
	spec := pr.spec
	mr, nr := spec.mr, spec.nr
	beta := pr.beta
	if pc != w.k0 {
		beta = 1
	}
	panelsB := (nc + nr - 1) / nr
	lastCols := nc - (panelsB-1)*nr
	if packedB == nil && lastCols < nr {
		w.edgeB = grow(w.edgeB, kc*nr)
		pr.packPanelB(w.edgeB, pc, kc, jc+(panelsB-1)*nr, lastCols, nr)
	}
	// Rows of A at most compactRow floats apart are already nearly packed:
	// a micro-panel spans a few KiB (the input gradient's dY, 16 floats a
	// row), so packing it would only copy it.
	aInPlace := panelsB <= inPlaceReuse || (!pr.transA && pr.lda <= compactRow)
	// A blocks of equal size, each at most mcBlock rows.
	rows := w.m1 - w.m0
	blocks := (rows + mcBlock - 1) / mcBlock
	mcStep := ((rows+blocks-1)/blocks + mr - 1) / mr * mr
	w.tile = grow(w.tile, mr*nr)
	for ic := w.m0; ic < w.m1; ic += mcStep {
		mc := min(mcStep, w.m1-ic)
		panelsA := (mc + mr - 1) / mr
		lastRows := mc - (panelsA-1)*mr
		if aInPlace {
			if lastRows < mr {
				w.edgeA = grow(w.edgeA, kc*mr)
				pr.packPanelA(w.edgeA, ic+(panelsA-1)*mr, lastRows, pc, kc, mr)
			}
		} else {
			w.bufA = grow(w.bufA, panelsA*kc*mr)
			pr.packBlockA(w.bufA, ic, mc, pc, kc, mr)
		}
		for qb := 0; qb < panelsB; qb++ {
			j := jc + qb*nr
			cols := min(nr, nc-qb*nr)
			var bp *float32
			psb := nr
			switch {
			case packedB != nil:
				bp = &packedB[qb*kc*nr]
			case cols < nr:
				bp = &w.edgeB[0]
			default:
				bp, psb = &pr.b[pc*pr.ldb+j], pr.ldb
			}
			for qa := 0; qa < panelsA; qa++ {
				i := ic + qa*mr
				rows := min(mr, mc-qa*mr)
				var ap *float32
				rsa, psa := 1, mr
				switch {
				case !aInPlace:
					ap = &w.bufA[qa*kc*mr]
				case rows < mr:
					ap = &w.edgeA[0]
				default:
					ap, rsa, psa = pr.inPlaceA(i, pc)
					// A read once from memory (a convolution's forward
					// product): fetch the next tile's rows while this one
					// computes; the hardware prefetchers do not follow
					// mr short row streams well (measured ~1.3× faster).
					if !pr.transA && panelsB == 1 && qa+2 < panelsA {
						prefetchRows(&pr.a[(i+mr)*pr.lda+pc], pr.lda, mr, kc)
					}
				}
				if !pr.transC {
					spec.fn(kc, ap, rsa, psa, bp, psb, &pr.c[i*pr.ldc+j], pr.ldc, rows, cols, pr.alpha, beta)
					continue
				}
				spec.fn(kc, ap, rsa, psa, bp, psb, &w.tile[0], nr, mr, nr, 1, 0)
				pr.merge(w.tile, nr, i, j, rows, cols, beta)
			}
		}
	}
}

// computeTransposed computes a transposed product (see transposeHelps)
// with both operands read in place (only edge panels are packed). The
// worker's whole block of the product (at most maxPartial floats) is
// accumulated in a buffer that stands in for C (loaded from it when
// beta ≠ 0) and stored transposed once at the end, so each k block is
// visited once: its B panels (kc×nr) stay in L1 while the A panels stream
// past, and its A rows are read from memory once. (Packing A here was
// measured 1.7× slower: the product is bound by reading A, and the copy
// does not overlap the arithmetic.) The kernels see the same k blocks, alpha and beta as in the
// direct path, so the result is bit-identical to it.
func (w *worker) computeTransposed() {
	pr := &w.out
	spec := pr.spec
	mr, nr := spec.mr, spec.nr
	rows := w.m1 - w.m0
	panelsA := (rows + mr - 1) / mr
	panelsB := (w.n1 - w.n0 + nr - 1) / nr
	lastRows := rows - (panelsA-1)*mr
	lastCols := w.n1 - w.n0 - (panelsB-1)*nr
	// block holds the product in tile-padded row-major order, ld = width.
	width := panelsB * nr
	w.tile = grow(w.tile, panelsA*mr*width)
	block := w.tile
	if pr.beta != 0 {
		for i := w.m0; i < w.m1; i++ {
			for j := w.n0; j < w.n1; j++ {
				block[(i-w.m0)*width+j-w.n0] = pr.c[j*pr.ldc+i]
			}
		}
	}
	for pc := w.k0; pc < w.k1; pc += kcBlock {
		kc := min(kcBlock, w.k1-pc)
		beta := pr.beta
		if pc != w.k0 {
			beta = 1
		}
		if lastRows < mr {
			w.edgeA = grow(w.edgeA, kc*mr)
			pr.packPanelA(w.edgeA, w.m1-lastRows, lastRows, pc, kc, mr)
		}
		if lastCols < nr {
			w.edgeB = grow(w.edgeB, kc*nr)
			pr.packPanelB(w.edgeB, pc, kc, w.n1-lastCols, lastCols, nr)
		}
		for qb := 0; qb < panelsB; qb++ {
			j := w.n0 + qb*nr
			var bp *float32
			psb := nr
			if qb < panelsB-1 || lastCols == nr {
				bp, psb = &pr.b[pc*pr.ldb+j], pr.ldb
			} else {
				bp = &w.edgeB[0]
			}
			for qa := 0; qa < panelsA; qa++ {
				var ap *float32
				rsa, psa := 1, mr
				if qa == panelsA-1 && lastRows < mr {
					ap = &w.edgeA[0]
				} else {
					ap, rsa, psa = pr.inPlaceA(w.m0+qa*mr, pc)
				}
				spec.fn(kc, ap, rsa, psa, bp, psb, &block[qa*mr*width+qb*nr], width, mr, nr, pr.alpha, beta)
			}
		}
	}
	for i := w.m0; i < w.m1; i++ {
		for j := w.n0; j < w.n1; j++ {
			pr.c[j*pr.ldc+i] = block[(i-w.m0)*width+j-w.n0]
		}
	}
}
