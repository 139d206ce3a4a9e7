package rns

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestTailDeltaAtMaxSigmaIsUniform checks the claim behind MaxStepSigma:
// at the largest σ accepted, a wrong readout's residue error δ mod m is
// uniform over the m residues (a chi-square test; the critical value is
// the 99.9% quantile for m-1 = 64 degrees of freedom, so the test fails
// by chance once in a thousand seeds), and δ itself stays far from int64
// saturation. Before the cap, σ = 1e19 made every δ the same saturated
// value.
func TestTailDeltaAtMaxSigmaIsUniform(t *testing.T) {
	const m, draws = 65, 65 * 2000
	rng := rand.New(rand.NewPCG(3, 4))
	var counts [m]int
	for range draws {
		d := TailDelta(rng, MaxStepSigma)
		if d == math.MaxInt64 || d == math.MinInt64 || math.Abs(float64(d)) > 100*MaxStepSigma {
			t.Fatalf("δ = %d is not a sample of N(0, %g²)", d, MaxStepSigma)
		}
		counts[Mod(d, m)]++
	}
	want := float64(draws) / m
	chi2 := 0.0
	for _, c := range counts {
		chi2 += (float64(c) - want) * (float64(c) - want) / want
	}
	const critical = 104.0 // χ²(64) 99.9% quantile ≈ 103.4
	if chi2 > critical {
		t.Fatalf("δ mod %d is not uniform at σ = %g: χ² = %.1f > %.1f", m, MaxStepSigma, chi2, critical)
	}
}
