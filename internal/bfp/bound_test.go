package bfp

import (
	"math"
	"testing"

	"github.com/mirage-go/mirage/backend"
)

// TestUnorderedBoundUsesProductMagnitudes is the example behind the bound
// stated for Product's unordered accumulation: the second tile's products
// +1 and -1 cancel (its exact sum is 0), yet the FP32 GEMM adds them one
// at a time and can absorb the first tile's 1e-8 in the intermediate
// 1 + 1e-8. A bound in terms of tile sums (2·T·2^-24·Σ|T_t| ≈ 2.3e-15)
// does not hold; the documented one, in terms of Σ_k |qa_k·qb_k|, does.
func TestUnorderedBoundUsesProductMagnitudes(t *testing.T) {
	const k = 130
	a, b := make([]float32, k), make([]float32, k)
	a[0], b[0] = 1e-4, 1e-4
	a[128], b[128] = 1, 1
	a[129], b[129] = 1, -1
	f := Format{Bits: 6, Tile: 128, Rounding: Nearest}
	g := backend.GEMM{M: 1, N: 1, K: k, A: a, LDA: k, B: b, LDB: 1, C: make([]float32, 1), LDC: 1}
	var qa, qb Matrix
	quantise(t, NewQuantiser(f, 1), &g, &qa, &qb)
	ordered, unordered := make([]float32, 1), make([]float32, 1)
	Product(nil, &qa, &qb, ordered, 1, false, true, nil)
	Product(nil, &qa, &qb, unordered, 1, false, false, nil)
	var sumAbs float64
	for p := range k {
		sumAbs += math.Abs(float64(qa.At(0, p)) * float64(qb.At(0, p)))
	}
	tiles := qa.Tiles()
	bound := float64(k+tiles) * math.Ldexp(1, -24) * sumAbs
	diff := math.Abs(float64(ordered[0]) - float64(unordered[0]))
	t.Logf("ordered %g, unordered %g, |difference| %g, bound %g", ordered[0], unordered[0], diff, bound)
	if diff > bound {
		t.Fatalf("|ordered - unordered| = %g exceeds the documented bound %g", diff, bound)
	}
	if ordered[0] == 0 {
		t.Fatalf("the ordered sum keeps the first tile's product, got 0")
	}
}

// TestProductOverflowsLikeFP32 pins the upper limit stated in the package
// documentation: a single dequantised product beyond FP32's range makes
// the one-GEMM product +Inf even though the exact sum is 0, while the
// tile-exact integer sum (TileDot, what reference mode computes) is 0.
func TestProductOverflowsLikeFP32(t *testing.T) {
	a, b := []float32{2e19, 2e19}, []float32{2e19, -2e19}
	g := backend.GEMM{M: 1, N: 1, K: 2, A: a, LDA: 2, B: b, LDB: 1, C: make([]float32, 1), LDC: 1}
	var qa, qb Matrix
	quantise(t, NewQuantiser(Format{Bits: 6, Tile: 128, Rounding: Nearest}, 1), &g, &qa, &qb)
	c := make([]float32, 1)
	Product(nil, &qa, &qb, c, 1, false, false, nil)
	if !math.IsInf(float64(c[0]), 1) {
		t.Fatalf("one-GEMM product = %g, want +Inf (a product beyond FP32's range)", c[0])
	}
	if p, _ := TileDot(&qa, &qb, 0, 0, 0); p != 0 {
		t.Fatalf("exact tile sum = %d, want 0", p)
	}
}

// quantise quantises op(A) by rows and op(B) by columns, along K.
func quantise(t *testing.T, q *Quantiser, g *backend.GEMM, a, b *Matrix) {
	t.Helper()
	if err := q.Quantise(a, g.A, g.LDA, g.M, g.K, g.TransA); err != nil {
		t.Fatal(err)
	}
	if err := q.Quantise(b, g.B, g.LDB, g.N, g.K, !g.TransB); err != nil {
		t.Fatal(err)
	}
}
