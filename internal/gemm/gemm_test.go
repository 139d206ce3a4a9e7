package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// gemmCase is one product to check. Leading dimensions are the row lengths
// plus pad, so every case also checks that strides are honoured and that
// nothing outside the m×n window of C is written.
type gemmCase struct {
	m, n, k        int
	transA, transB bool
	alpha, beta    float32
	pad            int
}

func (tc gemmCase) String() string {
	return fmt.Sprintf("m%d_n%d_k%d_tA%v_tB%v_a%g_b%g_pad%d", tc.m, tc.n, tc.k, tc.transA, tc.transB, tc.alpha, tc.beta, tc.pad)
}

// operands holds random inputs for a case; C starts as random values, or
// NaN when beta is zero (BLAS must overwrite it), with a sentinel in the
// padding that must survive.
type operands struct {
	a, b, c       []float32
	lda, ldb, ldc int
}

const sentinel = float32(-12345.5)

func newOperands(tc gemmCase, rng *rand.Rand) operands {
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = tc.k, tc.m
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = tc.n, tc.k
	}
	o := operands{lda: ac + tc.pad, ldb: bc + tc.pad, ldc: tc.n + tc.pad}
	o.a = randomMatrix(rng, ar, o.lda)
	o.b = randomMatrix(rng, br, o.ldb)
	o.c = make([]float32, tc.m*o.ldc)
	for i := range o.c {
		switch {
		case i%o.ldc >= tc.n:
			o.c[i] = sentinel
		case tc.beta == 0:
			o.c[i] = float32(math.NaN())
		default:
			o.c[i] = rng.Float32()*2 - 1
		}
	}
	return o
}

func randomMatrix(rng *rand.Rand, rows, ld int) []float32 {
	x := make([]float32, rows*ld)
	for i := range x {
		x[i] = rng.Float32()*2 - 1
	}
	return x
}

// reference computes the product in float64 with a triple loop, and for
// each element the scale Σ|alpha·a·b| + |beta·c| that bounds its rounding
// error.
func reference(tc gemmCase, o operands) (want, bound []float64) {
	want = make([]float64, tc.m*tc.n)
	bound = make([]float64, tc.m*tc.n)
	// op(A) as m×k and op(B)ᵀ as n×k, in float64, so the inner loop is a
	// plain dot product.
	opA := make([]float64, tc.m*tc.k)
	opBt := make([]float64, tc.n*tc.k)
	for i := 0; i < tc.m; i++ {
		for p := 0; p < tc.k; p++ {
			if tc.transA {
				opA[i*tc.k+p] = float64(o.a[p*o.lda+i])
			} else {
				opA[i*tc.k+p] = float64(o.a[i*o.lda+p])
			}
		}
	}
	for j := 0; j < tc.n; j++ {
		for p := 0; p < tc.k; p++ {
			if tc.transB {
				opBt[j*tc.k+p] = float64(o.b[j*o.ldb+p])
			} else {
				opBt[j*tc.k+p] = float64(o.b[p*o.ldb+j])
			}
		}
	}
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			var s, abs float64
			ar, br := opA[i*tc.k:(i+1)*tc.k], opBt[j*tc.k:(j+1)*tc.k]
			for p, av := range ar {
				prod := av * br[p]
				s += prod
				abs += math.Abs(prod)
			}
			v := float64(tc.alpha) * s
			abs *= math.Abs(float64(tc.alpha))
			if tc.beta != 0 {
				cv := float64(tc.beta) * float64(o.c[i*o.ldc+j])
				v += cv
				abs += math.Abs(cv)
			}
			want[i*tc.n+j] = v
			bound[i*tc.n+j] = abs
		}
	}
	return want, bound
}

// checkResult compares c with the reference. The tolerance is the
// worst-case rounding bound of a float32 dot product of length k with
// fused multiply-adds, γ = (k+3)·2⁻²⁴, relative to Σ|alpha·a·b| + |beta·c|
// (plus 3 roundings for alpha, beta and a k-split sum), so a correct
// kernel cannot fail it and a wrong element, index or stride will.
func checkResult(t *testing.T, tc gemmCase, o operands, c []float32) {
	t.Helper()
	want, bound := reference(tc, o)
	checkAgainst(t, tc, o, c, want, bound)
}

// checkAgainst is checkResult with the reference computed once.
func checkAgainst(t *testing.T, tc gemmCase, o operands, c []float32, want, bound []float64) {
	t.Helper()
	gamma := float64(tc.k+6) * math.Pow(2, -24)
	// Plain comparisons first, require only on the first bad element:
	// testify's per-call bookkeeping would dominate the run time.
	for i := 0; i < tc.m; i++ {
		for j := 0; j < o.ldc; j++ {
			got := c[i*o.ldc+j]
			if j >= tc.n {
				if got != sentinel {
					require.Failf(t, "write outside the product", "C[%d][%d] = %g, the padding held %g", i, j, got, sentinel)
				}
				continue
			}
			w := want[i*tc.n+j]
			tol := gamma*bound[i*tc.n+j] + 1e-30
			if d := math.Abs(float64(got) - w); !(d <= tol) {
				require.Failf(t, "wrong element", "C[%d][%d] = %g, want %g ± %g", i, j, got, w, tol)
			}
		}
	}
}

func runCase(set *kernelSet, procs int, tc gemmCase, o operands) []float32 {
	c := append([]float32(nil), o.c...)
	sgemm(set, procs, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, o.a, o.lda, o.b, o.ldb, tc.beta, c, o.ldc)
	return c
}

// everyKernel returns each kernel of each kernel set usable on this CPU as
// a set of its own, so that tests exercise every tile shape on every
// product, not only on the products a set would choose it for.
func everyKernel() []*kernelSet {
	var sets []*kernelSet
	for _, set := range availableKernels() {
		for _, spec := range set.specs {
			sets = append(sets, &kernelSet{name: spec.name, specs: []kernelSpec{spec}})
		}
	}
	return sets
}

func transposeCombos() [][2]bool {
	return [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}}
}

// TestSmallShapes runs every kernel on all combinations of odd sizes
// (smaller and larger than every register tile) and transposes.
func TestSmallShapes(t *testing.T) {
	sizes := []int{1, 2, 3, 7, 17, 33}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, set := range everyKernel() {
		for _, tr := range transposeCombos() {
			for _, m := range sizes {
				for _, n := range sizes {
					for _, k := range sizes {
						tc := gemmCase{m: m, n: n, k: k, transA: tr[0], transB: tr[1], alpha: 1, beta: 0, pad: (m + n + k) % 3}
						o := newOperands(tc, rng)
						c := runCase(set, 1, tc, o)
						t.Run(set.name+"/"+tc.String(), func(t *testing.T) { checkResult(t, tc, o, c) })
					}
				}
			}
		}
	}
}

// TestScalars covers alpha and beta values, k = 0 and alpha = 0 (both
// leave C = beta·C) and beta = 0 over NaN.
func TestScalars(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, set := range availableKernels() {
		for _, ab := range [][2]float32{{1, 0}, {1, 1}, {-0.5, 2}, {2.5, -1}, {0, 0.5}, {0, 0}, {1, float32(math.Copysign(0, -1))}} {
			for _, k := range []int{0, 1, 40} {
				for _, tr := range transposeCombos() {
					tc := gemmCase{m: 29, n: 37, k: k, transA: tr[0], transB: tr[1], alpha: ab[0], beta: ab[1], pad: 5}
					o := newOperands(tc, rng)
					c := runCase(set, 1, tc, o)
					t.Run(set.name+"/"+tc.String(), func(t *testing.T) { checkResult(t, tc, o, c) })
				}
			}
		}
	}
}

// largeCases cross the cache blocks (kcBlock 384, mcBlock 480, ncBlock
// 4096) and exercise each way of splitting work and of reading operands
// in place: tall-skinny convolution shapes, a long reduction with a small
// C (k split, transposed tiles), and a square product.
func largeCases() []gemmCase {
	var cases []gemmCase
	shapes := [][3]int{
		{1000, 70, 520},  // three A blocks, two k blocks
		{30, 4200, 300},  // two B blocks
		{3000, 16, 150},  // convolution forward: n = 16, A in place
		{3000, 6, 25},    // LeNet conv1 forward
		{2000, 150, 16},  // convolution dX
		{16, 150, 3000},  // convolution dW: k split, computed transposed
		{64, 576, 2100},  // dW with 64 output channels
		{300, 300, 300},  // square, packed
		{1100, 280, 256}, // row split sharing the packed B
		{13, 1200, 700},  // few rows: k split, B in place
		{520, 33, 1100},  // odd n beyond one tile
		{1, 3000, 700},   // a single row
		{3000, 1, 700},   // a single column
		{40, 40, 5000},   // long reduction, k split
	}
	// Strides of exactly 1024 floats, which are always packed (see
	// conflictStride).
	cases = append(cases,
		gemmCase{m: 50, n: 1000, k: 1000, alpha: 1, pad: 24},
		gemmCase{m: 50, n: 1000, k: 1000, transA: true, transB: true, alpha: 2, beta: 1, pad: 974})
	trs := transposeCombos()
	for i, s := range shapes {
		tr := trs[i%len(trs)]
		cases = append(cases, gemmCase{m: s[0], n: s[1], k: s[2], transA: tr[0], transB: tr[1], alpha: 1, beta: 0, pad: 3})
		tr = trs[(i+1)%len(trs)]
		cases = append(cases, gemmCase{m: s[0], n: s[1], k: s[2], transA: tr[0], transB: tr[1], alpha: -0.75, beta: 0.5, pad: 1})
	}
	return cases
}

func TestLargeShapes(t *testing.T) {
	if testing.Short() {
		t.Skip("large shapes take a few seconds")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tc := range largeCases() {
		o := newOperands(tc, rng)
		want, bound := reference(tc, o)
		for _, set := range availableKernels() {
			for _, procs := range []int{1, 2, 3} {
				c := runCase(set, procs, tc, o)
				t.Run(fmt.Sprintf("%s/procs%d/%s", set.name, procs, tc), func(t *testing.T) { checkAgainst(t, tc, o, c, want, bound) })
			}
		}
	}
}

// TestKernelSetsAgree checks that the portable kernel and the assembly
// kernels, each set as it chooses its kernels and each kernel alone, give
// bit-identical results on one goroutine (they fuse and order
// the sums alike), so training is reproducible across machines. (With more
// goroutines the choice of a k split, which rounds differently, depends on
// the tile shape and so on the kernel set.)
func TestKernelSetsAgree(t *testing.T) {
	sets := append(availableKernels(), everyKernel()...)
	if len(sets) < 3 {
		t.Skip("only the portable kernel exists on this CPU")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	cases := largeCases()
	for _, m := range []int{1, 5, 13, 40} {
		cases = append(cases, gemmCase{m: m, n: 2*m + 3, k: 3*m + 1, alpha: 1.5, beta: -2, pad: 2, transB: m%2 == 0})
	}
	for _, tc := range cases {
		o := newOperands(tc, rng)
		want := runCase(sets[0], 1, tc, o)
		for _, set := range sets[1:] {
			got := runCase(set, 1, tc, o)
			require.Equal(t, want, got, "%s: %s differs from %s", tc, set.name, sets[0].name)
		}
	}
}

// TestSplitsDoNotChangeResults checks that the row and column splits give
// exactly the single-goroutine result, whichever goroutine runs a chunk.
func TestSplitsDoNotChangeResults(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, tc := range []gemmCase{
		{m: 2000, n: 300, k: 300, alpha: 1, pad: 1},               // rows, shared B
		{m: 13, n: 6000, k: 300, alpha: 1, transA: true, pad: 2},  // columns (C too big for a k split)
		{m: 3000, n: 16, k: 150, alpha: 1, beta: 1, transB: true}, // forward conv
	} {
		o := newOperands(tc, rng)
		want := runCase(defaultKernels, 1, tc, o)
		pr := problem{m: tc.m, n: tc.n, k: tc.k, transA: tc.transA, transB: tc.transB, spec: defaultKernels.choose(tc.m, tc.n)}
		kind, _ := pr.plan(2)
		require.Contains(t, []int{splitM, splitN}, kind, "%s should split rows or columns", tc)
		for _, procs := range []int{2, 3, 4} {
			require.Equal(t, want, runCase(defaultKernels, procs, tc, o), "%s with %d goroutines", tc, procs)
		}
	}
}

func TestPanicsOnBadOperands(t *testing.T) {
	a := make([]float32, 6)
	b := make([]float32, 6)
	c := make([]float32, 4)
	tests := []struct {
		name string
		call func()
	}{
		{"negative size", func() { Sgemm(false, false, -1, 2, 3, 1, a, 3, b, 2, 0, c, 2) }},
		{"short A", func() { Sgemm(false, false, 3, 2, 3, 1, a, 3, b, 2, 0, c, 2) }},
		{"short B", func() { Sgemm(false, false, 2, 2, 4, 1, make([]float32, 8), 4, b, 2, 0, c, 2) }},
		{"short C", func() { Sgemm(false, false, 2, 3, 3, 1, a, 3, make([]float32, 9), 3, 0, c, 3) }},
		{"lda too small", func() { Sgemm(false, false, 2, 2, 3, 1, a, 2, b, 2, 0, c, 2) }},
		{"ldc too small", func() { Sgemm(true, false, 2, 2, 3, 1, a, 2, b, 2, 0, c, 1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { require.Panics(t, tt.call) })
	}
	// The same sizes with correct operands do not panic.
	require.NotPanics(t, func() { Sgemm(false, false, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2) })
}

// TestNoAllocations checks that steady-state calls, serial and parallel,
// reuse pooled buffers and goroutine closures.
func TestNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	rng := rand.New(rand.NewPCG(11, 12))
	for _, tc := range []gemmCase{
		{m: 20, n: 20, k: 20, alpha: 1},
		{m: 256, n: 256, k: 256, alpha: 1, transB: true}, // column split
		{m: 2000, n: 300, k: 300, alpha: 1},              // row split, shared B
		{m: 3000, n: 16, k: 150, alpha: 1},               // row split, A in place
		{m: 16, n: 150, k: 3000, alpha: 1, transA: true}, // transposed, k split
		{m: 13, n: 6000, k: 300, alpha: 1, transA: true}, // column split
	} {
		o := newOperands(tc, rng)
		allocs := testing.AllocsPerRun(20, func() {
			Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, o.a, o.lda, o.b, o.ldb, tc.beta, o.c, o.ldc)
		})
		require.Zero(t, allocs, "%s allocates", tc)
	}
}

func TestKernelNameIsKnown(t *testing.T) {
	require.Contains(t, []string{"avx512", "avx2", "go"}, KernelName())
}
