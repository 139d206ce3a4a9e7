package vec

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTranspose8 checks every kernel set against the definition, for
// lengths around the 8-wide blocks, strides wider than the data, distinct
// values (so a dropped or swapped element shows) and sentinels around and
// between what must be written.
func TestTranspose8(t *testing.T) {
	rng := rand.New(rand.NewPCG(40, 40))
	for _, k := range available() {
		for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 100} {
			for _, pad := range []int{0, 3} {
				lds, ldd := n+pad, 8+pad+rng.IntN(9)
				src := make([]float32, 7*lds+n+1)
				for i := range src {
					src[i] = float32(i) + 0.5
				}
				dst := make([]float32, max(n, 1)*ldd+8)
				for i := range dst {
					dst[i] = float32(math.NaN())
				}
				k.transpose8(dst, ldd, src, lds, n)
				for i, v := range dst {
					x, r := i/ldd, i%ldd
					if x < n && r < 8 {
						require.Equal(t, src[r*lds+x], v, "%s n %d lds %d ldd %d: dst[%d]", k.name, n, lds, ldd, i)
						continue
					}
					require.True(t, math.IsNaN(float64(v)), "%s n %d: wrote dst[%d] outside the rows", k.name, n, i)
				}
			}
		}
	}
}

func TestTranspose8ChecksLengths(t *testing.T) {
	for _, k := range available() {
		require.Panics(t, func() { k.transpose8(make([]float32, 7*8+7), 8, make([]float32, 8*8), 8, 8) }, k.name)
		require.Panics(t, func() { k.transpose8(make([]float32, 8*8), 8, make([]float32, 7*8+7), 8, 8) }, k.name)
	}
}
