package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// roundedB returns B̃ of SgemmRoundedRowsB stored densely (k×n), rounded
// in Go.
func roundedB(b []float32, rowsB []int, q []float32, ldq, tile, k, n int) []float32 {
	out := make([]float32, k*n)
	for p := range k {
		t := p / tile
		for j := range n {
			x := b[rowsB[p]+j]
			m, l, nl := q[3*t*ldq+j], q[(3*t+1)*ldq+j], q[(3*t+2)*ldq+j]
			r := (x + m) - m
			r = min(r, l)
			out[p*n+j] = max(r, nl)
		}
	}
	return out
}

// TestSgemmRoundedRowsBMatchesSgemm: the product with B rounded as it is
// read equals Sgemm on one goroutine over B rounded beforehand, bit for
// bit, for tile counts and lengths that do and do not divide K and
// KBlock, edge tiles in both directions, K over KBlock, blocks flushed to
// zero and blocks whose largest values clamp; C's old contents (NaN) are
// overwritten. Every kernel set with a rounding kernel (AVX2's reads edge
// panels under lane masks, AVX-512's under mask registers).
func TestSgemmRoundedRowsBMatchesSgemm(t *testing.T) {
	var sets []*kernelSet
	for _, set := range availableKernels() {
		if set.rounded != nil {
			sets = append(sets, set)
		}
	}
	if len(sets) == 0 {
		t.Skip("no rounding kernel on this CPU (needs AVX2 or AVX-512): SgemmRoundedRowsB reports false, checked below")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, m := range []int{1, 6, 8, 16, 17} {
		for _, n := range []int{1, 31, 32, 33, 100, 1088} {
			for _, kt := range [][2]int{{1, 1}, {7, 3}, {128, 128}, {144, 128}, {384, 128}, {385, 7}, {800, 128}, {150, 16}} {
				k, tile := kt[0], kt[1]
				name := fmt.Sprintf("m %d n %d k %d tile %d", m, n, k, tile)
				a := make([]float32, m*(k+3))
				for i := range a {
					a[i] = float32(rng.NormFloat64())
				}
				// B's rows: runs of one source, overlapping, in any order.
				b := make([]float32, n+k+40)
				for i := range b {
					b[i] = float32(rng.NormFloat64() * math.Ldexp(1, rng.IntN(12)-6))
				}
				rowsB := make([]int, k)
				for p := range rowsB {
					rowsB[p] = rng.IntN(len(b) - n + 1)
				}
				tiles := (k + tile - 1) / tile
				ldq := n + rng.IntN(3)
				q := make([]float32, 3*tiles*ldq)
				for tt := range tiles {
					for j := range n {
						e := rng.IntN(12) - 10 // mantissas from tiny (zero) to clamping
						mg, l := float32(math.Ldexp(1.5, 23+e)), float32(31*math.Ldexp(1, e))
						if rng.IntN(8) == 0 { // a block flushed to zero
							mg, l = 0x1.8p23, 31
						}
						q[3*tt*ldq+j], q[(3*tt+1)*ldq+j], q[(3*tt+2)*ldq+j] = mg, l, -l
					}
				}
				want := make([]float32, m*n)
				sgemm(defaultKernels, 1, false, false, m, n, k, 1, a, k+3, roundedB(b, rowsB, q, ldq, tile, k, n), n, 0, want, n)
				got := make([]float32, m*n)
				for _, set := range sets {
					for i := range got {
						got[i] = float32(math.NaN())
					}
					var ok bool
					if set == defaultKernels {
						ok = SgemmRoundedRowsB(m, n, k, PackRoundedA(nil, a, k+3, m, k), b, rowsB, q, ldq, tile, got, n)
					} else {
						ok = sgemmRoundedRowsB(set, m, n, k, packRoundedA(set, nil, a, k+3, m, k), b, rowsB, q, ldq, tile, got, n)
					}
					require.True(t, ok)
					for i := range want {
						if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
							require.Failf(t, "differ", "%s, %s: element %d: want %v, got %v", set.name, name, i, want[i], got[i])
						}
					}
				}
			}
		}
	}
}

func TestSgemmRoundedRowsBPanics(t *testing.T) {
	if !HasRoundedRowsB() {
		ok := SgemmRoundedRowsB(1, 1, 1, make([]float32, 8), []float32{1}, []int{0}, []float32{1, 1, -1}, 1, 1, make([]float32, 1), 1)
		require.False(t, ok)
		return
	}
	c := make([]float32, 4)
	q := make([]float32, 3*2)
	pa := PackRoundedA(nil, make([]float32, 4), 2, 2, 2)
	require.Panics(t, func() { SgemmRoundedRowsB(2, 2, 1, pa, make([]float32, 4), []int{3}, q, 2, 1, c, 2) }, "a run past B's end")
	require.Panics(t, func() { SgemmRoundedRowsB(2, 2, 2, pa, make([]float32, 4), []int{0}, q, 2, 2, c, 2) }, "too few offsets")
	require.Panics(t, func() { SgemmRoundedRowsB(2, 2, 2, pa, make([]float32, 4), []int{0, 1}, q, 2, 1, c, 2) }, "too few constants")
	require.Panics(t, func() {
		SgemmRoundedRowsB(2, 2, 3, pa, make([]float32, 6), []int{0, 1, 2}, make([]float32, 9), 2, 3, c, 2)
	}, "packed A too short")
	require.Panics(t, func() { SgemmRoundedRowsB(2, 2, 2, pa, make([]float32, 4), []int{0, 1}, q, 2, 0, c, 2) }, "no tile")
	require.Panics(t, func() { PackRoundedA(nil, make([]float32, 3), 2, 2, 2) }, "A too short")
}
