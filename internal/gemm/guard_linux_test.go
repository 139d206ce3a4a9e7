//go:build linux

package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/internal/guardpage"
)

// guardedSlice returns n floats ending at an inaccessible page.
func guardedSlice(t *testing.T, n int) []float32 { return guardpage.Floats(t, n) }

// guarded copies s into a guarded slice of the same length.
func guarded(t *testing.T, s []float32) []float32 {
	g := guardedSlice(t, len(s))
	copy(g, s)
	return g
}

// TestNoAccessPastOperands runs every kernel with A, B and C each
// ending at an inaccessible page: the masked loads and stores of edge
// tiles, operands read in place, and the prefetches must stay inside the
// operands. Results are checked as in the other tests.
func TestNoAccessPastOperands(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	shapes := [][3]int{
		{7, 25, 40},     // edges in m and n, B in place
		{6, 25, 3000},   // LeNet conv1 weight gradient
		{3000, 6, 25},   // LeNet conv1 forward
		{3000, 16, 150}, // forward with A in place and prefetched
		{16, 150, 3000}, // transposed product
		{14, 48, 3000},  // transposed, with a partial panel of B in place
		{100, 77, 300},  // packed operands
	}
	for _, set := range everyKernel() {
		for _, s := range shapes {
			for _, tr := range transposeCombos() {
				tc := gemmCase{m: s[0], n: s[1], k: s[2], transA: tr[0], transB: tr[1], alpha: 1, beta: 0.5}
				o := newOperands(tc, rng)
				o.a, o.b = guarded(t, o.a), guarded(t, o.b)
				want, bound := reference(tc, o)
				c := guarded(t, o.c)
				for _, procs := range []int{1, 2} {
					copy(c, o.c)
					sgemm(set, procs, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, o.a, o.lda, o.b, o.ldb, tc.beta, c, o.ldc)
					t.Run(fmt.Sprintf("%s/procs%d/%s", set.name, procs, tc), func(t *testing.T) { checkAgainst(t, tc, o, c, want, bound) })
				}
			}
		}
	}
}

// TestRowsBNoAccessPastOperands runs SgemmRowsB on every kernel set with
// the runs' source ending at an inaccessible page and the last run ending
// exactly there: an indexed kernel may read only the columns of its tile
// (AVX-512's masked loads; AVX2's kernel is given packed edge panels).
func TestRowsBNoAccessPastOperands(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, set := range everyKernel() {
		for _, s := range [][3]int{{7, 25, 40}, {16, 37, 144}, {6, 1, 25}, {13, 100, 9}} {
			m, n, k := s[0], s[1], s[2]
			src := guardedSlice(t, n+3*k)
			for i := range src {
				src[i] = rng.Float32()*2 - 1
			}
			offsets := make([]int, k)
			dense := make([]float32, k*n)
			for p := range offsets {
				offsets[p] = rng.IntN(3*k + 1)
				if p == k-1 {
					offsets[p] = 3 * k // ends at the guard page
				}
				copy(dense[p*n:(p+1)*n], src[offsets[p]:])
			}
			a := randomMatrix(rng, m, k)
			want := make([]float32, m*n)
			got := guardedSlice(t, m*n)
			sgemm(set, 1, false, false, m, n, k, 1, a, k, dense, n, 0, want, n)
			sgemmRowsB(set, false, false, m, n, k, 1, a, k, src, offsets, 0, got, n)
			for i := range want {
				require.Equal(t, math.Float32bits(want[i]), math.Float32bits(got[i]), "%s m%d n%d k%d: element %d", set.name, m, n, k, i)
			}
		}
	}
}

// TestRoundedNoAccessPastOperands runs each rounding kernel with the runs'
// source and the rounding constants ending at an inaccessible page, the
// last run and the last tile's constants ending exactly there, for widths
// with edge panels: the masked reads must stay inside both.
func TestRoundedNoAccessPastOperands(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, set := range availableKernels() {
		if set.rounded == nil {
			continue
		}
		for _, s := range [][3]int{{7, 25, 40}, {16, 37, 144}, {6, 1, 25}, {9, 100, 9}} {
			m, n, k := s[0], s[1], s[2]
			const tile = 16
			tiles := (k + tile - 1) / tile
			src := guardedSlice(t, n+3*k)
			for i := range src {
				src[i] = rng.Float32()*2 - 1
			}
			offsets := make([]int, k)
			for p := range offsets {
				offsets[p] = rng.IntN(3*k + 1)
			}
			offsets[k-1] = 3 * k
			q := guardedSlice(t, 3*tiles*n)
			for i := range q {
				switch i / n % 3 {
				case 0:
					q[i] = 0x1.8p17 // rounds to multiples of 2^-6
				case 1:
					q[i] = 0.75
				default:
					q[i] = -0.75
				}
			}
			a := randomMatrix(rng, m, k)
			want := make([]float32, m*n)
			sgemm(set, 1, false, false, m, n, k, 1, a, k, roundedB(src, offsets, q, n, tile, k, n), n, 0, want, n)
			got := guardedSlice(t, m*n)
			require.True(t, sgemmRoundedRowsB(set, m, n, k, packRoundedA(set, nil, a, k, m, k), src, offsets, q, n, tile, got, n))
			for i := range want {
				require.Equal(t, math.Float32bits(want[i]), math.Float32bits(got[i]), "%s m%d n%d k%d: element %d", set.name, m, n, k, i)
			}
		}
	}
}
