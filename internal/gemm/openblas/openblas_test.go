//go:build openblas && cgo

package openblas

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mirage-go/mirage/internal/gemm"
	"github.com/stretchr/testify/require"
)

// TestMatchesMirage checks the binding (argument order, transposes,
// strides) against mirage's Sgemm on one shape per transpose combination.
// Tolerance: (k+6)·2⁻²⁴ relative to Σ|a·b| + |beta·c|, both sides' worst-case
// rounding.
func TestMatchesMirage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const m, n, k, pad = 37, 45, 70, 3
	for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
		lda, ldb := k+pad, n+pad
		if tr[0] {
			lda = m + pad
		}
		if tr[1] {
			ldb = k + pad
		}
		a := random(rng, m*k/(lda-pad)*lda)
		b := random(rng, k*n/(ldb-pad)*ldb)
		c0 := random(rng, m*(n+pad))
		want := append([]float32(nil), c0...)
		got := append([]float32(nil), c0...)
		gemm.Sgemm(tr[0], tr[1], m, n, k, 1.5, a, lda, b, ldb, 0.5, want, n+pad)
		Sgemm(tr[0], tr[1], m, n, k, 1.5, a, lda, b, ldb, 0.5, got, n+pad)
		for i := range got {
			// Inputs are in [-1, 1): Σ|a·b| ≤ 1.5·k, |beta·c| ≤ 0.5.
			require.InDelta(t, want[i], got[i], 2*float64(k+6)*math.Pow(2, -24)*(1.5*k+0.5), "transposes %v, element %d", tr, i)
		}
	}
}

func random(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = rng.Float32()*2 - 1
	}
	return x
}
