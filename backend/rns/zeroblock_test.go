package rns

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/bfpengine/bfptest"
	"github.com/mirage-go/mirage/internal/rns"
)

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
	for _, c := range bfptest.LeNetCases() {
		g := c.GEMM(rng)
		want := bfptest.Product(g, 6, bfptest.LeNetCaseTile)
		live := liveTileOutputs(g, 6, bfptest.LeNetCaseTile)
		tiles := int64((c.K + bfptest.LeNetCaseTile - 1) / bfptest.LeNetCaseTile)
		for _, mode := range modes {
			msg := fmt.Sprintf("%s %v", c.Name, mode)
			b := newBackend(t, maps(sixBit(backend.Options{"noise-sigma": "0", "stats-every": "0"}), mode...))
			got := bfptest.Run(t, b, fwd, g)
			if b.reference || b.engine.Settings.Ordered {
				sameFloats(t, want, got, msg)
			} else {
				tol := bfptest.Tolerance(g, 6, bfptest.LeNetCaseTile)
				for i := range want {
					require.InDeltaf(t, want[i], got[i], tol[i], "%s: element %d", msg, i)
				}
			}
			tot := b.engine.Stats.Report("rns").Total
			require.Equalf(t, tiles*int64(c.M*c.N), tot.TileOutputs, "%s: tile outputs count every tile", msg)
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
	for _, c := range bfptest.LeNetCases() {
		g := c.GEMM(rng)
		exact := bfptest.Product(g, 6, bfptest.LeNetCaseTile)
		bound := make([]float64, c.M*c.N)
		var live int64
		for i := 0; i < c.M; i++ {
			for j := 0; j < c.N; j++ {
				for _, part := range bfptest.TileParts(g, 6, bfptest.LeNetCaseTile, i, j) {
					if part.Live {
						live++
						bound[i*c.N+j] += math.Ldexp(float64(abs(part.P))+262080/2, part.Exp)
					}
				}
			}
		}
		wrongOutputs := map[string]int{}
		for _, mode := range zeroBlockModes {
			msg := fmt.Sprintf("%s %v", c.Name, mode)
			b := newBackend(t, maps(sixBit(backend.Options{"noise-sigma": fmt.Sprint(sigma), "stats-every": "0"}), mode...))
			for range runs {
				got := bfptest.Run(t, b, fwd, g)
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
		n := float64(runs * c.M * c.N)
		p1, p2 := float64(wrongOutputs["fast"])/n, float64(wrongOutputs["reference"])/n
		pool := (p1 + p2) / 2
		z := (p1 - p2) / math.Sqrt(pool*(1-pool)*2/n)
		require.Lessf(t, math.Abs(z), 3.29, "%s: wrong-output fractions %.4f (fast) vs %.4f (reference)", c.Name, p1, p2)
		t.Logf("%s: %d live of %d tile outputs; wrong outputs %.4f (fast) vs %.4f (reference), z = %.2f", c.Name, live, int64(c.M*c.N)*int64((c.K+bfptest.LeNetCaseTile-1)/bfptest.LeNetCaseTile), p1, p2, z)
	}
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
