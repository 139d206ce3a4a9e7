package gemm

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRowsBMatchesDense checks SgemmRowsB against Sgemm on one goroutine
// with the same op(B) stored densely, for every kernel set (the AVX-512
// ones read B in place through the offsets, the others pack it): the
// results must agree bit for bit.
// Offsets overlap as a convolution's do (row i at base + a few floats),
// and shapes cover edge tiles, several k and n blocks, and both
// transpositions.
func TestRowsBMatchesDense(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, tc := range []gemmCase{
		{m: 1, n: 1, k: 1, alpha: 1},
		{m: 16, n: 1088, k: 144, alpha: 1},                           // ResNet-20 stage 1, one image
		{m: 64, n: 80, k: 576, alpha: 1, beta: 1},                    // stage 3, accumulating
		{m: 6, n: 672, k: 25, alpha: 1},                              // LeNet conv1
		{m: 13, n: 37, k: 900, alpha: 0.5, beta: 0.25},               // k blocks, edge tiles
		{m: 50, n: 4200, k: 20, alpha: 1},                            // n blocks
		{m: 7, n: 45, k: 33, alpha: 1, transA: true},                 // transposed A
		{m: 30, n: 19, k: 500, alpha: 1, transB: true},               // transposed B
		{m: 29, n: 40, k: 41, alpha: -1, transA: true, transB: true}, // both
	} {
		t.Run(tc.String(), func(t *testing.T) {
			stored, rowLen := tc.k, tc.n
			if tc.transB {
				stored, rowLen = tc.n, tc.k
			}
			// Rows start at random offsets, 0–40 floats apart, so
			// consecutive rows overlap (and some coincide).
			src := make([]float32, stored*40+rowLen)
			for i := range src {
				src[i] = rng.Float32()*2 - 1
			}
			offsets := make([]int, stored)
			dense := make([]float32, stored*rowLen)
			for i := range offsets {
				offsets[i] = rng.IntN(stored*40 + 1)
				copy(dense[i*rowLen:(i+1)*rowLen], src[offsets[i]:])
			}
			o := newOperands(tc, rng)
			for _, set := range everyKernel() {
				want := append([]float32(nil), o.c...)
				got := append([]float32(nil), o.c...)
				sgemm(set, 1, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, o.a, o.lda, dense, rowLen, tc.beta, want, o.ldc)
				if set == defaultKernels {
					SgemmRowsB(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, o.a, o.lda, src, offsets, tc.beta, got, o.ldc)
				} else {
					sgemmRowsB(set, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, o.a, o.lda, src, offsets, tc.beta, got, o.ldc)
				}
				for i := range want {
					require.Equal(t, math.Float32bits(want[i]), math.Float32bits(got[i]), "%s: element %d: %g, want %g", set.name, i, got[i], want[i])
				}
			}
		})
	}
}

func TestRowsBPanicsOnBadOffsets(t *testing.T) {
	a := make([]float32, 6)
	b := make([]float32, 10)
	c := make([]float32, 4)
	for _, tt := range []struct {
		name    string
		offsets []int
	}{
		{"too few offsets", []int{0, 1}},
		{"negative offset", []int{0, -1, 2}},
		{"row past the end", []int{0, 1, 9}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Panics(t, func() { SgemmRowsB(false, false, 2, 2, 3, 1, a, 3, b, tt.offsets, 0, c, 2) })
		})
	}
	require.NotPanics(t, func() { SgemmRowsB(false, false, 2, 2, 3, 1, a, 3, b, []int{0, 1, 8}, 0, c, 2) })
}

// TestRowsBNoAllocations checks that steady-state calls allocate nothing.
func TestRowsBNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	a := make([]float32, 16*144)
	b := make([]float32, 16*34*34+2)
	c := make([]float32, 16*1088)
	offsets := make([]int, 144)
	for i := range offsets {
		offsets[i] = i/9*34*34 + i%9/3*34 + i%3
	}
	allocs := testing.AllocsPerRun(20, func() {
		SgemmRowsB(false, false, 16, 1088, 144, 1, a, 144, b, offsets, 0, c, 1088)
	})
	require.Zero(t, allocs, "SgemmRowsB allocates")
}
