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
// AVX-512 (12×32, and 24×16 and 8×32 for products with few columns or
// rows, chosen per product by how well they fill it) and AVX2+FMA (6×16),
// chosen once at start-up from the CPU's features (golang.org/x/sys/cpu). A pure-Go kernel (kernel.go) runs everywhere
// else. On one goroutine all kernels give bit-identical results: they fuse
// multiply and add, sum in the same order, and the blocking along k
// (kcBlock) is the same for all.
//
// SgemmRowsB multiplies by a B whose rows are given by a table of offsets
// rather than a stride (the receptive fields of a padded image, for an
// implicit-GEMM convolution); the AVX-512 12×32 and 8×32 kernels and the
// AVX2 6×16 one have indexed variants that read such rows in place
// through the table, one more load per k step (AVX2's is given an edge
// panel of fewer than 16 columns packed: it has no masked loads), and
// the portable kernel packs them.
// SgemmRoundedRowsB (rounded.go) is that product with every element of B
// rounded to block floating point as the kernel loads it (AVX-512 8×32
// and AVX2 6×16): a quantised convolution's receptive fields, never
// written out.
//
// On AVX-512 machines packing uses assembly too: a B block, or a
// transposed A, is copied row by row in one sequential pass (packStrips),
// and the panels of a row-major A, or of a transposed B, are transposed
// eight rows at a time in registers (vec.Transpose8).
//
// An operand streamed once from memory is prefetched from inside the
// kernels, a few lines per k step, so that its transfer overlaps the
// arithmetic: the next tile's rows of an A read in place (a convolution's
// forward product, prefetchKernelFunc) or the next panel of a B read in
// place (a weight gradient). Prefetching a whole tile in one burst before
// the kernel stalls the core until the line fill buffers drain, so memory
// and arithmetic took turns.
//
// Packing is skipped when it cannot pay for itself: an operand that is
// reused by only a few tiles (the tall-skinny products of convolutions) is
// read in place, since the kernel takes A with arbitrary row and step
// strides and B with an arbitrary row stride.
//
// Edge tiles (m, n not multiples of the tile) go through the same kernels,
// which store only the valid rows and columns (masked stores; the AVX-512
// kernels also load B under the column mask, so an edge panel of B is read
// in place). When no tile shape fits a product well but the transposed
// product Cᵀ = op(B)ᵀ·op(A)ᵀ fills the tiles much better (a weight
// gradient of 14×48 over a long reduction: 12×32 or 8×32 tiles waste a
// third of their lanes or more, 24×16 tiles on 48×14 an eighth), Cᵀ is
// computed instead into a buffer and stored transposed (computeTransposed).
//
// # Parallelism
//
// Large products are split over at most GOMAXPROCS goroutines, each
// owning a disjoint part of C: ranges of rows (the goroutines share each
// packed B block, packing a part of it each, in one round per block),
// ranges of columns, or, for a short and wide reduction, ranges of k whose
// partial sums are added at the end. plan picks the split that wastes the
// least: memory traffic, synchronisation between rounds, or a goroutine
// left idle by columns that split unevenly. A round's work is handed out
// in chunks through an atomic counter, the row ranges shrinking towards
// the end of the round, so the goroutines finish together and one that
// the OS starts late just takes fewer chunks. Small products run on the
// calling goroutine alone.
//
// The calling goroutine takes a share; the others are helper goroutines
// of the pooled per-call context's parallel.Team, or of the caller's
// (SgemmOn). A helper waits for the next round, and
// for the next call for up to 50 µs, by spinning while yielding its
// processor to any other thread that can run (sched_yield on Linux), then
// exits; a helper that has not taken a round up by the time the chunks
// run out is not waited for. Waking a sleeping thread took 70 µs to over
// 300 µs on the 2-core virtual machines mirage is benchmarked on, as long
// as a whole 256×256×256 product, while a spinning helper takes a round in
// under a microsecond (OpenBLAS's threads spin too). So a program that
// stops calling Sgemm has none of its goroutines left after about 50 µs;
// those helpers are the only thing besides buffers that a context carries
// from one call to the next.
//
// Row and column splits do not change any sum; a k split rounds
// differently, so results with several goroutines can depend on their
// number.
//
// # Memory
//
// Packing buffers, and the goroutines' closures, live in a sync.Pool of
// per-call contexts, so steady-state calls allocate nothing. The pool is
// the package's only package-level variable besides the immutable kernel
// tables; a context carries nothing from one call to the next but its
// buffers' capacity and, for up to 50 µs, its spinning helpers (see
// Parallelism).
package gemm

import (
	"fmt"
	"runtime"

	"github.com/mirage-go/mirage/internal/parallel"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Blocking. kcBlock is shared by all kernels so that they give identical
// results; mcBlock is a multiple of every kernel's mr and ncBlock of every
// nr. The values were measured: on 1024³ on one core, kc = 384 or 512
// were 4-6% faster than kc = 256 (kc from 192 to 1024 and mc from 96 to
// 480 were tried; mc mattered little); on two cores and the convolution
// shapes they were within ±8% of each other, each ahead on some shape,
// and 384 the best compromise.
const (
	// kcBlock: steps of the reduction per block. Each block is one pass
	// over the C tiles it covers (read and written), so longer blocks
	// mean fewer passes; the kc×nr B micro-panel (48 KiB at nr = 32) then
	// fills the L1 and partly streams from L2 with the A micro-panel,
	// which costs less.
	kcBlock = 384
	// mcBlock: an A block of 480×384 floats is 720 KiB, about a third of
	// the per-core 2 MiB L2, leaving room for B micro-panels and C.
	mcBlock = 480
	// ncBlock: a B block of 384×4096 floats is 6 MiB, in the shared L3.
	ncBlock = 4096
)

// KBlock is the number of reduction steps every kernel sums in one block.
// A product with K ≤ KBlock computes each element of C as one chain of
// fused multiply-adds in increasing k, starting from zero, and stores
// alpha·sum + beta·C (a k split between goroutines needs at least two
// blocks). With alpha = beta = 1 that is C + sum, bit for bit what storing
// the product with beta = 0 and adding it to C afterwards gives.
const KBlock = kcBlock

// inPlaceReuse is the largest number of tiles that may read one A (or B)
// micro-panel in place, from cache after the first: beyond it, packing
// pays. Operands whose row stride is a multiple of 4 KiB are packed
// whatever their reuse, as their rows would all fall in the same L1 sets.
const inPlaceReuse = 4

// inPlaceReuseB is inPlaceReuse for B, whose in-place micro-panels the
// kernels read row by row from L2 at full speed: a weight gradient with
// 64 output channels (8 tiles of 8 rows) ran 1.45× faster on one core
// reading B in place than packing it, the copy costing more than the
// strided reads.
const inPlaceReuseB = 16

// conflictStride reports whether rows ld floats apart map to the same L1
// cache sets (48 KiB, 12 ways: sets repeat every 4 KiB).
func conflictStride(ld int) bool { return ld%1024 == 0 }

// compactRow is the longest row stride (in floats) at which an A operand is
// read in place however often it is reused.
const compactRow = 64

// parallelMinWork is the product size m·n·k under which a call runs on one
// goroutine: about 2.5 µs of kernel time at 200 GFLOP/s, comparable to
// the cost of handing a round to a spinning helper and waiting for it.
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

// SgemmOn is Sgemm with its goroutines taken from team instead of the
// pooled context's own, for a caller that runs other parallel loops
// between its products (a backend quantising operands in chunks, each
// multiplied as soon as it is ready). With one team, the helpers that
// spin between loops are the same goroutines whatever the loop; with a
// team per kind of loop, each switch leaves the previous team's helpers
// spinning for up to 50 µs beside the new team's workers, a third thread
// on a 2-core machine. A nil team is the context's own, as in Sgemm.
//
// The result is Sgemm's, bit for bit, with one exception: called from
// inside a loop of the same team (whose helpers are then taken), the
// product runs on the calling goroutine alone, and a product that Sgemm
// would split along k rounds as it does on one goroutine (see
// Parallelism).
func SgemmOn(team *parallel.Team, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmProblem(defaultKernels, runtime.GOMAXPROCS(0), team, problem{
		m: m, n: n, k: k,
		transA: transA, transB: transB,
		a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc,
		alpha: alpha, beta: beta,
	})
}

// SgemmSerial is Sgemm on the calling goroutine alone, for callers that
// run independent products in parallel themselves.
func SgemmSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm(defaultKernels, 1, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
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

// SgemmRowsB is Sgemm for a B operand whose stored rows are not evenly
// spaced: stored row i of B (row i of op(B), or column i when transB) is
// the n (k when transB) floats starting at b[rowsB[i]], for i < k (< n
// when transB). Rows may overlap. This is what a convolution needs to
// multiply by the receptive fields of a zero-padded image without writing
// them out (an implicit GEMM): packing gathers the rows, which it does
// anyway, so the column matrix is never built.
//
// It runs on the calling goroutine alone (a convolution runs one product
// per image, in parallel), and gives the same results, bit for bit, as
// Sgemm on one goroutine with op(B) stored densely. It panics on sizes,
// strides or offsets that would read outside a, b or c, as Sgemm does.
func SgemmRowsB(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, rowsB []int, beta float32, c []float32, ldc int) {
	stored, rowLen := k, n
	if transB {
		stored, rowLen = n, k
	}
	if len(rowsB) != stored && m > 0 && n > 0 && k > 0 {
		panic(fmt.Sprintf("gemm: B needs %d row offsets, got %d", stored, len(rowsB)))
	}
	if m > 0 && n > 0 && k > 0 {
		for i, off := range rowsB {
			if off < 0 || off+rowLen > len(b) {
				panic(fmt.Sprintf("gemm: row %d of B at offset %d (length %d) lies outside B's %d elements", i, off, rowLen, len(b)))
			}
		}
	}
	sgemmProblem(defaultKernels, 1, nil, problem{
		m: m, n: n, k: k,
		transA: transA, transB: transB,
		a: a, lda: lda, b: b, ldb: rowLen, rowsB: rowsB, c: c, ldc: ldc,
		alpha: alpha, beta: beta,
	})
}

// sgemmRowsB is SgemmRowsB with an explicit kernel set, for tests; it
// does not check the offsets.
func sgemmRowsB(set *kernelSet, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, rowsB []int, beta float32, c []float32, ldc int) {
	rowLen := n
	if transB {
		rowLen = k
	}
	sgemmProblem(set, 1, nil, problem{
		m: m, n: n, k: k,
		transA: transA, transB: transB,
		a: a, lda: lda, b: b, ldb: rowLen, rowsB: rowsB, c: c, ldc: ldc,
		alpha: alpha, beta: beta,
	})
}

// sgemm is Sgemm with an explicit kernel set and goroutine budget, so
// tests can run every kernel set and every way of splitting the work.
func sgemm(set *kernelSet, procs int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmProblem(set, procs, nil, problem{
		m: m, n: n, k: k,
		transA: transA, transB: transB,
		a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc,
		alpha: alpha, beta: beta,
	})
}

// sgemmProblem checks the operands of pr (B's only when its rows are
// evenly spaced: SgemmRowsB checks its offsets) and computes it on team,
// or on the pooled context's own team when team is nil.
func sgemmProblem(set *kernelSet, procs int, team *parallel.Team, pr problem) {
	m, n, k := pr.m, pr.n, pr.k
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative size m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if pr.transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if pr.transB {
		br, bc = n, k
	}
	checkOperand("A", pr.a, ar, ac, pr.lda)
	if pr.rowsB == nil {
		checkOperand("B", pr.b, br, bc, pr.ldb)
	}
	checkOperand("C", pr.c, m, n, pr.ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || pr.alpha == 0 {
		scale(pr.c, m, n, pr.ldc, pr.beta)
		return
	}

	ctx := contexts.Get().(*context)
	ctx.pr = pr
	ctx.team = team
	if team == nil {
		ctx.team = &ctx.own
	}
	if pr.rowsB == nil && transposeHelps(set, m, n, k) {
		// Cᵀ = op(B)ᵀ·op(A)ᵀ: op(B)ᵀ is the new A, stored as B is, and
		// transposed exactly when B was not.
		ctx.pr.m, ctx.pr.n = n, m
		ctx.pr.a, ctx.pr.lda, ctx.pr.transA = pr.b, pr.ldb, !pr.transB
		ctx.pr.b, ctx.pr.ldb, ctx.pr.transB = pr.a, pr.lda, !pr.transA
		ctx.pr.transC = true
	}
	if pr.rowsB != nil && !pr.transB {
		ctx.pr.spec = set.chooseIndexed(m, n)
	} else {
		ctx.pr.spec = set.choose(ctx.pr.m, ctx.pr.n)
	}
	ctx.run(procs)
	ctx.pr = problem{} // drop the caller's slices and team before pooling
	ctx.team = nil
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

// transposeHelps reports whether computing Cᵀ fills the tiles at least a
// quarter better. The transposed product is accumulated in a buffer of
// the size of C, so it is kept for long reductions with a small C.
func transposeHelps(set *kernelSet, m, n, k int) bool {
	if k < kcBlock || m*n > maxPartial {
		return false
	}
	direct := tileEfficiency(m, n, set.choose(m, n))
	flipped := tileEfficiency(n, m, set.choose(n, m))
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
	rowsB          []int // if not nil, stored row i of B starts at b[rowsB[i]] (ldb unused)
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

// mergeTransposed stores a rows×cols tile, computed with alpha = 1 and
// beta = 0, transposed into C at (i, j) of the computed product: element
// (r, q) goes to c[(j+q)·ldc + i+r]. It rounds exactly as the kernels do.
// Only a transposed product whose B cannot be read in place needs it (see
// computeTransposed for the usual case).
func (pr *problem) mergeTransposed(tile []float32, nr, i, j, rows, cols int, beta float32) {
	for r := 0; r < rows; r++ {
		for q, v := range tile[r*nr : r*nr+cols] {
			idx := (j+q)*pr.ldc + i + r
			t := float32(pr.alpha * v)
			if beta == 0 {
				pr.c[idx] = t
			} else {
				pr.c[idx] = fma32(beta, pr.c[idx], t)
			}
		}
	}
}
