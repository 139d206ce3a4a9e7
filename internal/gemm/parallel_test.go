package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/mirage-go/mirage/internal/parallel"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// parallelCases are products that take each way of splitting the work
// (with the AVX-512 kernels; other kernel sets may split some otherwise).
var parallelCases = []gemmCase{
	{m: 2000, n: 300, k: 800, alpha: 1, beta: 0.5, pad: 1},    // rows, shared B, four rounds
	{m: 3000, n: 16, k: 150, alpha: 1, transB: true},          // rows, shared B, two rounds
	{m: 3000, n: 16, k: 150, alpha: 1, beta: 1},               // rows, B in place
	{m: 13, n: 6000, k: 300, alpha: 1, transA: true, pad: 2},  // columns
	{m: 16, n: 150, k: 3000, alpha: 1, beta: 1, transA: true}, // k
}

// TestHelpersExitWhenIdle checks that the goroutines that parallel calls
// start are gone shortly after the calls: helpers spin for at most
// 50 µs once no call needs them (parallel.Team). goleak retries for about a second,
// far longer than that, and fails if any goroutine remains.
func TestHelpersExitWhenIdle(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	rng := rand.New(rand.NewPCG(21, 22))
	for _, tc := range parallelCases {
		o := newOperands(tc, rng)
		for _, procs := range []int{2, 3} {
			for range 3 {
				runCase(defaultKernels, procs, tc, o)
			}
		}
	}
	goleak.VerifyNone(t, ignore)
}

// TestConcurrentParallelCalls runs parallel products from several
// goroutines at once, so that helpers are posted rounds, take them, miss
// them (the calling goroutine finishes first and takes the round back) and
// exit and restart while other calls run, and checks every result against
// the single-goroutine one, bit for bit (none of these products splits k).
// Run it with -race to check the hand-over of rounds.
func TestConcurrentParallelCalls(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	cases := parallelCases[:4] // not the k split
	ops := make([]operands, len(cases))
	wants := make([][]float32, len(cases))
	for i, tc := range cases {
		ops[i] = newOperands(tc, rng)
		wants[i] = runCase(defaultKernels, 1, tc, ops[i])
	}
	const callers, calls = 4, 6
	errs := make(chan error, callers*calls)
	var wg sync.WaitGroup
	for g := range callers {
		wg.Go(func() {
			for r := range calls {
				i := (g + r) % len(cases)
				got := runCase(defaultKernels, 2+r%2, cases[i], ops[i])
				for j := range got {
					if got[j] != wants[i][j] {
						errs <- fmt.Errorf("%s with %d goroutines: element %d is %g, want %g", cases[i], 2+r%2, j, got[j], wants[i][j])
						break
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestSplitRowsCoversRows checks that the row chunks of a row split tile
// the rows exactly, end on tile boundaries, never grow, and are at least
// minRowChunk tiles high but for the last.
func TestSplitRowsCoversRows(t *testing.T) {
	for _, mr := range []int{6, 8, 12, 24} {
		for _, m := range []int{1, 5, 12, 13, 100, 1000, 1023, 131072} {
			for _, parts := range []int{2, 3, 4} {
				ctx := &context{pr: problem{m: m, spec: kernelSpec{mr: mr}}}
				n := ctx.splitRows(parts)
				name := fmt.Sprintf("mr%d m%d parts%d", mr, m, parts)
				require.Positive(t, n, name)
				prev := m + mr // larger than any chunk
				end := 0
				for c := range n {
					lo, hi := ctx.rowChunk(c)
					require.Equal(t, end, lo, "%s: chunk %d does not start where the last ended", name, c)
					require.Greater(t, hi, lo, "%s: chunk %d is empty", name, c)
					require.True(t, hi == m || hi%mr == 0, "%s: chunk %d ends at %d, inside a tile", name, c, hi)
					tiles := (hi - lo + mr - 1) / mr
					require.LessOrEqual(t, tiles, prev, "%s: chunk %d is larger than the one before", name, c)
					if hi < m {
						require.GreaterOrEqual(t, tiles, minRowChunk, "%s: chunk %d is too small", name, c)
					}
					prev, end = tiles, hi
				}
				require.Equal(t, m, end, "%s: chunks do not reach the last row", name)
			}
		}
	}
}

// TestPlanAvoidsUnevenColumns checks that a product whose tile columns
// split unevenly over the goroutines (LeNet's input gradient, 150 columns
// in 5 tiles of 32) is split by rows, while one whose columns split evenly
// and is too small for cheap rounds (256³) is split by columns.
func TestPlanAvoidsUnevenColumns(t *testing.T) {
	spec := kernelSpec{mr: 12, nr: 32}
	uneven := problem{m: 12800, n: 150, k: 16, ldb: 150, spec: spec}
	kind, parts := uneven.plan(2)
	require.Equal(t, splitM, kind, "12800×150×16 should split rows")
	require.Equal(t, 2, parts)
	even := problem{m: 256, n: 256, k: 256, ldb: 256, spec: spec}
	kind, _ = even.plan(2)
	require.Equal(t, splitN, kind, "256³ should split columns")
}

// TestPlanPacksAOnce checks that a product whose column split would have
// every goroutine pack all of A (a weight gradient's block of K, dYᵀ
// transposed: 1024×256 over 128) is split by rows, which packs A once,
// while one that reads A in place (few B panels per goroutine) still
// splits its columns.
func TestPlanPacksAOnce(t *testing.T) {
	spec := kernelSpec{mr: 6, nr: 16}
	packed := problem{m: 1024, n: 256, k: 128, transA: true, lda: 1024, ldb: 256, spec: spec}
	kind, _ := packed.plan(2)
	require.Equal(t, splitM, kind, "1024×256×128 with A transposed should split rows")
	inPlace := problem{m: 1000, n: 96, k: 128, transA: true, lda: 1000, ldb: 96, spec: spec}
	kind, _ = inPlace.plan(2)
	require.Equal(t, splitN, kind, "1000×96×128 (A read in place) should split columns")
}

// TestSgemmOnMatchesSgemm checks that products run on a caller's team give
// Sgemm's result bit for bit, for every way of splitting the work, when
// the team is idle and when it is busy running the calling chunk (its
// helpers taken, so the product runs on the caller alone).
func TestSgemmOnMatchesSgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	var team parallel.Team
	for i, tc := range parallelCases {
		o := newOperands(tc, rng)
		want := append([]float32(nil), o.c...)
		Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, o.a, o.lda, o.b, o.ldb, tc.beta, want, o.ldc)
		got := append([]float32(nil), o.c...)
		SgemmOn(&team, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, o.a, o.lda, o.b, o.ldb, tc.beta, got, o.ldc)
		require.Equal(t, bitsOf(want), bitsOf(got), "case %d on an idle team", i)
		if tc.transA && tc.m == 16 {
			continue // a k split rounds by its number of goroutines: one, inside a busy team
		}
		nested := append([]float32(nil), o.c...)
		team.Run(2, 1, func(_, _ int) {
			SgemmOn(&team, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, o.a, o.lda, o.b, o.ldb, tc.beta, nested, o.ldc)
		})
		require.Equal(t, bitsOf(want), bitsOf(nested), "case %d inside the team's own loop", i)
	}
}

func bitsOf(x []float32) []uint32 {
	b := make([]uint32, len(x))
	for i, v := range x {
		b[i] = math.Float32bits(v)
	}
	return b
}
