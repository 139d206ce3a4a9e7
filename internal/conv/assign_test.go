package conv

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// ChannelRows is the plain double loop it replaces, and Col2imAssign is
// clearing dx and calling Col2im, bit for bit (NaN garbage in dx must not
// leak), with and without padding, on batches large enough to run on
// several goroutines.
func TestChannelRowsAndCol2imAssign(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	fill := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
		return s
	}
	for _, g := range []Geometry{
		{N: 9, C: 5, H: 16, W: 16, KH: 3, KW: 3, Stride: 1, Pad: 1},
		{N: 7, C: 3, H: 15, W: 15, KH: 3, KW: 3, Stride: 2, Pad: 0},
		{N: 1, C: 2, H: 5, W: 4, KH: 1, KW: 1, Stride: 1, Pad: 0},
	} {
		var w Workers
		o, p := 6, g.OutH()*g.OutW()
		y := fill(g.N * o * p)
		got := make([]float32, len(y))
		w.ChannelRows(y, got, g.N, o, p)
		want := make([]float32, len(y))
		for ch := 0; ch < o; ch++ {
			for n := 0; n < g.N; n++ {
				for i := 0; i < p; i++ {
					want[(ch*g.N+n)*p+i] = y[(n*o+ch)*p+i]
				}
			}
		}
		require.Equal(t, want, got, "%+v", g)

		cols := fill(g.Rows() * g.Cols())
		ref := make([]float32, g.N*g.C*g.H*g.W)
		w.Col2im(g, cols, ref)
		dx := make([]float32, len(ref))
		for i := range dx {
			dx[i] = float32(math.NaN())
		}
		w.Col2imAssign(g, cols, dx)
		require.Equal(t, bits(ref), bits(dx), "%+v", g)
	}
}

func bits(v []float32) []uint32 {
	out := make([]uint32, len(v))
	for i, x := range v {
		out[i] = math.Float32bits(x)
	}
	return out
}
