package autograd

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend/fp32"
)

// erf32 against math.Erf on a dense grid covering both branches, their
// boundary and the saturated tails. Tolerance: 1e-7 relative, plus float32
// rounding of the result (6e-8 relative).
func TestErf32MatchesMathErf(t *testing.T) {
	for i := -100000; i <= 100000; i++ {
		x := float32(i) * 1e-4 // [-10, 10] in steps of 1e-4
		want := math.Erf(float64(x))
		got := float64(erf32(x))
		require.InDelta(t, want, got, 1.6e-7*math.Abs(want)+1e-45, "erf(%g)", x)
	}
	for _, x := range []float32{1e-30, -1e-30, 1e-8, 0.4999999, 0.5, 0.5000001, 30, -30, float32(math.Inf(1))} {
		want := math.Erf(float64(x))
		require.InDelta(t, want, float64(erf32(x)), 1.6e-7*math.Abs(want)+1e-45, "erf(%g)", x)
	}
}

// Φ and φ keep their relative accuracy in the lower tail, where
// 1 + erf(x/√2) would cancel: compared with math.Erfc down to Φ ≈ 1e-300.
// Tolerance: 2e-7 relative.
func TestNormalCDFPDFTails(t *testing.T) {
	for i := -37000; i <= 10000; i++ {
		x := float64(i) * 1e-3 // [-37, 10]
		wantCDF := 0.5 * math.Erfc(-x/math.Sqrt2)
		wantPDF := math.Exp(-x*x/2) / math.Sqrt(2*math.Pi)
		cdf, pdf := normalCDFPDF(x)
		require.InEpsilon(t, wantCDF, cdf, 2e-7, "Φ(%g)", x)
		require.InEpsilon(t, wantPDF, pdf, 2e-7, "φ(%g)", x)
	}
}

// The GELU op and its gradient against the float64 formulas with
// math.Erf, on values spread over the range BERT's activations take.
// Tolerance: 5e-7 relative plus 1e-30 absolute (values that underflow
// float32). The derivative Φ(x) + x·φ(x) cancels near x ≈ −0.75, so its
// error is bounded relative to the size of the two terms, not of the sum.
func TestGELUMatchesFloat64Reference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	x := Zeros(1 << 16) // large enough to run on several goroutines
	for i := range x.data {
		x.data[i] = float32(rng.NormFloat64() * 4)
	}
	x.SetRequiresGrad(true)
	tp := NewTape(fp32.New())
	y := tp.GELU(x)
	require.NoError(t, tp.Backward(tp.Sum(y)))
	for i, v := range x.data {
		xv := float64(v)
		cdf := 0.5 * math.Erfc(-xv/math.Sqrt2)
		want := xv * cdf
		require.InDelta(t, want, float64(y.data[i]), 5e-7*math.Abs(want)+1e-30, "GELU(%g)", v)
		xpdf := xv * math.Exp(-xv*xv/2) / math.Sqrt(2*math.Pi)
		wantGrad := cdf + xpdf
		require.InDelta(t, wantGrad, float64(x.grad[i]), 5e-7*(cdf+math.Abs(xpdf))+1e-30, "GELU'(%g)", v)
	}
}

func BenchmarkGELU(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := randn(rng, 32*128, 1024) // BERT's FFN activation at batch 32
	tp := NewTape(fp32.New())
	for b.Loop() {
		tp.Reset()
		y := tp.GELU(x)
		if err := tp.Backward(tp.Sum(y)); err != nil {
			b.Fatal(err)
		}
	}
}
