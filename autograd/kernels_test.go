package autograd

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// parallelFor and parallelChannels must cover their range exactly once,
// in disjoint pieces, whatever the size.
func TestParallelHelpersCoverRangeOnce(t *testing.T) {
	tape := NewTape(nil) // the helpers only use its team
	for _, n := range []int{0, 1, 17, parallelMinElems - 1, parallelMinElems, 3*parallelChunkElems + 5} {
		hits := make([]atomic.Int32, n)
		tape.parallelFor(n, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				hits[i].Add(1)
			}
		})
		for i := range hits {
			require.Equal(t, int32(1), hits[i].Load(), "parallelFor n=%d index %d", n, i)
		}
	}
	for _, c := range []int{1, 3, 64} {
		hits := make([]atomic.Int32, c)
		tape.parallelChannels(c, 1<<20, func(c0, c1 int) {
			for i := c0; i < c1; i++ {
				hits[i].Add(1)
			}
		})
		for i := range hits {
			require.Equal(t, int32(1), hits[i].Load(), "parallelChannels c=%d channel %d", c, i)
		}
	}
}

// The branch-free mask agrees with the comparison v > 0 on every class of
// float32 but NaN (which it lets through, as PyTorch's ReLU does).
func TestPositiveMask(t *testing.T) {
	negZero := float32(0)
	negZero = -negZero
	for _, v := range []float32{0, negZero, 1e-45, -1e-45, 1, -1, 3.4e38, -3.4e38} {
		want := uint32(0)
		if v > 0 {
			want = ^uint32(0)
		}
		require.Equal(t, want, positiveMask(v), "%g", v)
	}
}
