package bfp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// blockKindsOperand returns a rows×k matrix (vector v's element p at
// [v*k+p]) whose blocks of tile elements are of every kind the quantiser
// tells apart: all zero, subnormal (flushed), scales below and above the
// SIMD kernels' range, exponent 0 (largest magnitude in [2^(b-2),
// 2^(b-1))), partly zero, holding Inf or NaN, and ordinary.
func blockKindsOperand(rng *rand.Rand, rows, k, tile, bits int) []float32 {
	x := make([]float32, rows*k)
	for v := range rows {
		for t := 0; t*tile < k; t++ {
			k0, k1 := t*tile, min((t+1)*tile, k)
			kind := rng.IntN(9)
			mag := math.Ldexp(1, rng.IntN(40)-20)
			for p := k0; p < k1; p++ {
				y := rng.NormFloat64() * mag
				switch kind {
				case 0, 1:
					y = 0
				case 2:
					y = rng.NormFloat64() * 1e-40
				case 3:
					y *= 1e-37
				case 4:
					y = math.Min(y*1e30, 3e38)
				case 5:
					// |y| < 2^(b-2): exponent 0 once one element reaches it.
					y = (rng.Float64()*2 - 1) * math.Ldexp(1, bits-2)
				case 6:
					if rng.IntN(2) == 0 {
						y = 0
					}
				}
				x[v*k+p] = float32(y)
			}
			p := k0 + rng.IntN(k1-k0)
			switch kind {
			case 5:
				x[v*k+p] = float32(math.Ldexp(1, bits-2) * (1 + rng.Float64()*0.9))
			case 7:
				x[v*k+p] = []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}[rng.IntN(3)]
			}
		}
	}
	return x
}

// zeroByDefinition returns, for every block of m, whether all its values
// are zero: the definition of ZeroBlocks, computed from the values alone.
func zeroByDefinition(m *Matrix) []bool {
	tiles := m.Tiles()
	want := make([]bool, m.Rows*tiles)
	for v := range m.Rows {
		for t := range tiles {
			want[v*tiles+t] = true
			for p := t * m.Tile; p < min((t+1)*m.Tile, m.K); p++ {
				if m.At(v, p) != 0 {
					want[v*tiles+t] = false
				}
			}
		}
	}
	return want
}

// TestZeroBlocksEveryPath: the zero-block flags the quantiser sets while
// quantising equal the definition (every value of the block is zero) and
// what a scan of the values finds, on every quantiser path: rows through
// the SIMD kernel and through Go (Inf, NaN and wide scales), columns with
// and without the fused kernels, nearest and stochastic rounding, operands
// split among goroutines by vectors and by tiles, and both layouts of
// QuantiseSource; into matrices that held other flags before.
func TestZeroBlocksEveryPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 3))
	type shape struct{ rows, k int }
	shapes := []shape{{1, 1}, {3, 10}, {7, 130}, {40, 257}}
	for range 6 {
		shapes = append(shapes, shape{1 + rng.IntN(60), 1 + rng.IntN(400)})
	}
	shapes = append(shapes, shape{300, 600}, shape{20, 5000}) // split among goroutines, by vectors and by tiles
	formats := []Format{{Bits: 6, Tile: 16}, {Bits: 6, Tile: 128}, {Bits: 4, Tile: 7, Rounding: Stochastic}, {Bits: 8, Tile: 1}}
	var m Matrix // reused throughout: stale flags must not survive
	for _, f := range formats {
		for _, s := range shapes {
			x := blockKindsOperand(rng, s.rows, s.k, f.Tile, f.Bits)
			xt := make([]float32, len(x)) // the vectors as columns of a k×rows matrix
			for v := range s.rows {
				for p := range s.k {
					xt[p*s.rows+v] = x[v*s.k+p]
				}
			}
			for _, path := range []string{"rows", "columns", "columns row by row", "source rows", "source columns"} {
				name := fmt.Sprintf("%s %s %d×%d %s", formatName(f), f.Rounding, s.rows, s.k, path)
				q := NewQuantiser(f, 7)
				var err error
				switch path {
				case "rows":
					err = q.Quantise(&m, x, s.k, s.rows, s.k, false)
				case "columns":
					err = q.Quantise(&m, xt, s.rows, s.rows, s.k, true)
				case "columns row by row":
					q.fusedColumns = false
					err = q.Quantise(&m, xt, s.rows, s.rows, s.k, true)
				case "source rows":
					err = q.QuantiseSource(&m, &denseSource{data: x, width: s.k, rows: s.rows, block: 1 + rng.IntN(9)}, 0, s.rows, s.k, false)
				case "source columns":
					err = q.QuantiseSource(&m, &denseSource{data: xt, width: s.rows, rows: s.k, block: 1 + rng.IntN(9)}, 0, s.rows, s.k, true)
				}
				require.NoError(t, err, name)
				require.True(t, m.zeroKnown, name)
				want := zeroByDefinition(&m)
				require.Equal(t, want, m.ZeroBlocks(nil), name)
				scanned := Matrix{Rows: m.Rows, K: m.K, Tile: m.Tile, Values: m.Values, KMajor: m.KMajor, Exp: m.Exp}
				require.Equal(t, want, scanned.ZeroBlocks(nil), name+": scan")
			}
		}
	}
}
