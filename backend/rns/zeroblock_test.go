package rns

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/internal/bfp/bfptest"
	"github.com/mirage-go/mirage/internal/rns"
)

// zeroCase is a GEMM shaped like one of LeNet's training products (see
// autograd/conv.go and matmul.go) with the data that exposed the zero-block
// bug: gradients far below 1, so that real BFP scales are around 2^-10 to
// 2^-20, and whole blocks of zeros, as ReLU (dead units), max pooling (3 of
// 4 positions get no gradient) and an image's black background make them.
// A zero block's exponent is a placeholder 0; a wrong residue scaled by
// its 2^0 is thousands of times too large.
type zeroCase struct {
	name                string
	m, n, k             int
	transA, transB, acc bool
	scaleA, scaleB      float64 // magnitudes of op(A) and op(B)
	zeroRowsA           []int   // rows of op(A) zero over all of K (dead units)
	zeroColsB           []int   // columns of op(B) zero over all of K
	zeroTileK           int     // a run of K, one tile long from here, zero in op(A) row 0 and op(B) column 0
	pooled              bool    // op(A) is zero at 3 of every 4 positions along K
}

const zeroCaseTile = 128 // the default tile, which the cases are built around

var zeroCases = []zeroCase{
	// conv1 dW = dyT·cols: o × (C·kh·kw), K = batch·OH·OW, many tiles, the
	// last one short; accumulates into the gradient.
	{name: "conv1 dW", m: 6, n: 25, k: 1000, acc: true, scaleA: 1e-3, scaleB: 1, zeroColsB: []int{3}, zeroTileK: 256, pooled: true},
	// conv2 dX = dyTᵀ·W: positions × (C·kh·kw), K = o, A transposed;
	// positions max pooling passed no gradient to are zero rows.
	{name: "conv2 dX", m: 40, n: 150, k: 16, transA: true, scaleA: 1e-3, scaleB: 0.1, zeroRowsA: []int{0, 5, 6, 7, 30}},
	// fc1 dW = dYᵀ·X: out × in, K = batch, A transposed; dead hidden
	// units make rows of op(A) zero.
	{name: "fc1 dW", m: 24, n: 40, k: 64, transA: true, acc: true, scaleA: 1e-4, scaleB: 1, zeroRowsA: []int{1, 2, 20}},
	// fc2 dW: the input is fc1's ReLU output, whose dead units make
	// columns of op(B) zero.
	{name: "fc2 dW", m: 10, n: 24, k: 64, transA: true, acc: true, scaleA: 1e-2, scaleB: 1, zeroColsB: []int{0, 9, 17}},
	// A forward product with B transposed and K not a multiple of the
	// tile, for the remaining layout.
	{name: "fc1 forward", m: 16, n: 12, k: 300, transB: true, scaleA: 1, scaleB: 0.05, zeroRowsA: []int{4}, zeroTileK: 128},
}

// gemm builds the case's GEMM; the row strides exceed the rows (pad 3).
func (c zeroCase) gemm(rng *rand.Rand) backend.GEMM {
	g := bfptest.RandomGEMM(rng, c.m, c.n, c.k, c.transA, c.transB, c.acc, 3)
	for i := 0; i < c.m; i++ {
		for p := 0; p < c.k; p++ {
			v := g.AtA(i, p) * float32(c.scaleA)
			if slices.Contains(c.zeroRowsA, i) || c.pooled && (i+p)%4 != 0 {
				v = 0
			}
			bfptest.SetA(&g, i, p, v)
		}
	}
	for p := 0; p < c.k; p++ {
		for j := 0; j < c.n; j++ {
			v := g.AtB(p, j) * float32(c.scaleB)
			if slices.Contains(c.zeroColsB, j) {
				v = 0
			}
			bfptest.SetB(&g, p, j, v)
		}
	}
	if c.zeroTileK > 0 {
		for p := c.zeroTileK; p < min(c.zeroTileK+zeroCaseTile, c.k); p++ {
			bfptest.SetA(&g, 0, p, 0)
			bfptest.SetB(&g, p, 0, 0)
		}
	}
	return g
}

// liveTileOutputs counts the tile outputs of g that have no zero block.
func liveTileOutputs(g backend.GEMM, bits, tile int) int64 {
	var live int64
	for i := 0; i < g.M; i++ {
		for j := 0; j < g.N; j++ {
			for _, p := range bfptest.TileParts(g, bits, tile, i, j) {
				if p.Live {
					live++
				}
			}
		}
	}
	return live
}

// zeroBlockModes are the modes whose noise-free result is the exact BFP
// product bit for bit.
var zeroBlockModes = [][]string{
	{"rns-mode", "reference"},
	{"rns-mode", "fast", "tile-accumulation", "ordered"},
}

// TestZeroBlocksNoiseFree: on the zero-block patterns, the noise-free
// result is the exact BFP product (bit for bit, or within the cross-tile
// FP32 rounding of the default single GEMM), and only the tiles without a
// zero block are read out, in both modes.
func TestZeroBlocksNoiseFree(t *testing.T) {
	rng := rand.New(rand.NewPCG(111, 112))
	modes := append(slices.Clone(zeroBlockModes), []string{"rns-mode", "fast", "tile-accumulation", "gemm"})
	for _, c := range zeroCases {
		g := c.gemm(rng)
		want := bfptest.Product(g, 6, zeroCaseTile)
		live := liveTileOutputs(g, 6, zeroCaseTile)
		tiles := int64((c.k + zeroCaseTile - 1) / zeroCaseTile)
		for _, mode := range modes {
			msg := fmt.Sprintf("%s %v", c.name, mode)
			b := newBackend(t, maps(backend.Options{"noise-sigma": "0", "stats-every": "0"}, mode...))
			got := result(t, b, fwd, g)
			if b.reference || b.engine.Settings.Ordered {
				sameFloats(t, want, got, msg)
			} else {
				tol := bfptest.Tolerance(g, 6, zeroCaseTile)
				for i := range want {
					require.InDeltaf(t, want[i], got[i], tol[i], "%s: element %d", msg, i)
				}
			}
			tot := b.engine.Stats.Report("rns").Total
			require.Equalf(t, tiles*int64(c.m*c.n), tot.TileOutputs, "%s: tile outputs count every tile", msg)
			require.Equalf(t, live*3, tot.Readouts, "%s: readouts are 3 moduli × the tiles without a zero block", msg)
			require.Lessf(t, live, tot.TileOutputs, "%s: the case has zero blocks", msg)
		}
	}
}

// TestZeroBlockTilesDrawNoNoise is the regression test of the zero-block
// bug. At σ = 0.3 steps (a readout is wrong with probability
// p = erfc(0.5/(0.3·√2)) ≈ 0.096, so about a quarter of the live tiles
// are hit), in both modes and with no redundant moduli:
//
//   - an output whose every tile has a zero block stays exactly equal to
//     the noise-free result in every run;
//   - every output's error is at most Σ over its live tiles of
//     (|P| + M/2)·2^(ea+eb), the largest a wrong CRT decode (a value in
//     the signed range of M = 262080) can move a tile, plus 1e-5 of
//     relative slack for the FP32 additions. A wrong residue on a tile
//     with a zero block, scaled by the placeholder exponent, exceeds this
//     by a factor 2^10 or more (the operands here are 1e-4 to 1e-1);
//   - the counted readouts are exactly runs × 3 × the live tile outputs,
//     and the residue errors among them are within 3 standard errors of
//     p × readouts, so that the fast mode's error positions, drawn among
//     the live tiles, keep the per-readout rate of the reference mode;
//   - the fraction of wrong outputs agrees between the modes (two-
//     proportion z test, |z| < 3.29, significance 0.001).
func TestZeroBlockTilesDrawNoNoise(t *testing.T) {
	const sigma, runs = 0.3, 40
	p := rns.ErrorProbability(sigma)
	rng := rand.New(rand.NewPCG(121, 122))
	for _, c := range zeroCases {
		g := c.gemm(rng)
		exact := bfptest.Product(g, 6, zeroCaseTile)
		bound := make([]float64, c.m*c.n)
		var live int64
		for i := 0; i < c.m; i++ {
			for j := 0; j < c.n; j++ {
				for _, part := range bfptest.TileParts(g, 6, zeroCaseTile, i, j) {
					if part.Live {
						live++
						bound[i*c.n+j] += math.Ldexp(float64(abs(part.P))+262080/2, part.Exp)
					}
				}
			}
		}
		wrongOutputs := map[string]int{}
		for _, mode := range zeroBlockModes {
			msg := fmt.Sprintf("%s %v", c.name, mode)
			b := newBackend(t, maps(backend.Options{"noise-sigma": fmt.Sprint(sigma), "stats-every": "0"}, mode...))
			for range runs {
				got := result(t, b, fwd, g)
				for o := range got {
					e := float64(got[o]) - float64(exact[o])
					if bound[o] == 0 {
						require.Zerof(t, e, "%s: output %d has no live tile and must stay exact", msg, o)
						continue
					}
					slack := 1e-5 * (bound[o] + math.Abs(float64(exact[o])))
					require.LessOrEqualf(t, math.Abs(e), bound[o]+slack, "%s: output %d is off by %g, more than its live tiles can give (%g)", msg, o, e, bound[o])
					if e != 0 {
						wrongOutputs[mode[1]]++
					}
				}
			}
			tot := b.engine.Stats.Report("rns").Total
			readouts := int64(runs) * 3 * live
			require.Equalf(t, readouts, tot.Readouts, "%s: readouts", msg)
			mean := p * float64(readouts)
			se := math.Sqrt(p * (1 - p) * float64(readouts))
			require.InDeltaf(t, mean, float64(tot.ResidueErrors), 3*se, "%s: %d residue errors in %d readouts, expected %.1f ± %.1f", msg, tot.ResidueErrors, readouts, mean, se)
		}
		n := float64(runs * c.m * c.n)
		p1, p2 := float64(wrongOutputs["fast"])/n, float64(wrongOutputs["reference"])/n
		pool := (p1 + p2) / 2
		z := (p1 - p2) / math.Sqrt(pool*(1-pool)*2/n)
		require.Lessf(t, math.Abs(z), 3.29, "%s: wrong-output fractions %.4f (fast) vs %.4f (reference)", c.name, p1, p2)
		t.Logf("%s: %d live of %d tile outputs; wrong outputs %.4f (fast) vs %.4f (reference), z = %.2f", c.name, live, int64(c.m*c.n)*int64((c.k+zeroCaseTile-1)/zeroCaseTile), p1, p2, z)
	}
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
