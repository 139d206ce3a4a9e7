package analog

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/bfpengine"
	"github.com/mirage-go/mirage/backend/bfpengine/bfptest"
)

func newBackend(t *testing.T, opts backend.Options) *Backend {
	t.Helper()
	b, err := Factory(opts)
	require.NoError(t, err)
	return b.(*Backend)
}

var fwd = backend.Call{Layer: "conv1", Role: backend.Forward}

// adcStep returns Δ = 2·h·(2^(b-1)-1)²/2^B, the ADC step in integer units.
func adcStep(bits, tile, adcBits int) float64 {
	qmax := float64(int64(1)<<(bits-1) - 1)
	return 2 * float64(tile) * qmax * qmax / math.Ldexp(1, adcBits)
}

// reference is an independent noise-free model of the ADC path: per tile
// the exact integer dot product, read as clamp(roundEven(P/Δ))·Δ, scaled
// by 2^(ea+eb), summed in FP32 in tile order, then added to C when
// accumulating.
func reference(g backend.GEMM, bits, tile, adcBits int) []float32 {
	step := adcStep(bits, tile, adcBits)
	lo, hi := -math.Ldexp(1, adcBits-1), math.Ldexp(1, adcBits-1)-1
	out := make([]float32, g.M*g.N)
	for i := 0; i < g.M; i++ {
		for j := 0; j < g.N; j++ {
			var r float32
			for _, t := range bfptest.TileParts(g, bits, tile, i, j) {
				code := math.Max(lo, math.Min(hi, math.RoundToEven(float64(t.P)/step)))
				r += float32(math.Ldexp(code*step, t.Exp))
			}
			if g.Accumulate {
				r = g.C[i*g.LDC+j] + r
			}
			out[i*g.N+j] = r
		}
	}
	return out
}

func TestNoiseFreeMatchesADCModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ bits, tile, adc int }{{6, 128, 6}, {6, 128, 8}, {5, 16, 12}, {8, 7, 20}} {
		b := newBackend(t, backend.Options{"bfp-bits": strconv.Itoa(c.bits), "tile": strconv.Itoa(c.tile), "adc-bits": strconv.Itoa(c.adc), "noise-sigma": "0"})
		for trial := range 6 {
			g := bfptest.RandomGEMM(rng, 1+rng.IntN(10), 1+rng.IntN(10), 1+rng.IntN(300), trial%2 == 0, trial%3 == 0, trial%4 == 1, rng.IntN(2))
			want := reference(g, c.bits, c.tile, c.adc)
			got := bfptest.Run(t, b, fwd, g)
			for i := range want {
				require.Equalf(t, want[i], got[i], "%+v element %d", c, i)
			}
		}
	}
}

// TestWideADCApproachesBFP: with 24 bits the converter step is below one
// integer unit, so the output is the exact BFP product up to half a step
// per tile.
func TestWideADCApproachesBFP(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	b := newBackend(t, backend.Options{"adc-bits": "24", "noise-sigma": "0", "tile": "32"})
	g := bfptest.RandomGEMM(rng, 8, 8, 100, false, true, false, 0)
	want := bfptest.Product(g, 6, 32)
	got := bfptest.Run(t, b, fwd, g)
	for i := range want {
		require.InEpsilon(t, want[i], got[i], 1e-4)
	}
}

// TestNarrowADCLosesLowBits: at the converter width of the RNS moduli (6
// bits) the relative error of a product is far larger than BFP's; it is
// what the RNS backend avoids.
func TestNarrowADCLosesLowBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	g := bfptest.RandomGEMM(rng, 16, 16, 256, false, true, false, 0)
	bfpOut := bfptest.Product(g, 6, 128)
	errAt := func(adc string) float64 {
		got := bfptest.Run(t, newBackend(t, backend.Options{"adc-bits": adc, "noise-sigma": "0"}), fwd, g)
		var num, den float64
		for i := range got {
			num += math.Pow(float64(got[i]-bfpOut[i]), 2)
			den += math.Pow(float64(bfpOut[i]), 2)
		}
		return math.Sqrt(num / den)
	}
	e6, e12 := errAt("6"), errAt("12")
	require.Greater(t, e6, 0.1, "6-bit ADC over the full range")
	require.Less(t, e12, e6/10)
}

// TestNoiseIsUnbiasedAndRoleLimited: Gaussian ADC noise moves outputs by
// zero on average (mean error within 4 standard errors of 0), and
// --noise-roles forward leaves dW untouched.
func TestNoiseIsUnbiasedAndRoleLimited(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	g := bfptest.RandomGEMM(rng, 12, 12, 64, false, true, false, 0)
	clean := bfptest.Run(t, newBackend(t, backend.Options{"adc-bits": "12", "noise-sigma": "0"}), fwd, g)
	b := newBackend(t, backend.Options{"adc-bits": "12", "noise-sigma": "2", "noise-roles": "forward"})
	var diffs []float64
	for range 200 {
		got := bfptest.Run(t, b, fwd, g)
		for i := range got {
			diffs = append(diffs, float64(got[i]-clean[i]))
		}
	}
	var mean, sq float64
	for _, d := range diffs {
		mean += d
		sq += d * d
	}
	n := float64(len(diffs))
	mean /= n
	sd := math.Sqrt(sq/n - mean*mean)
	require.Greater(t, sd, 0.0, "noise must change outputs")
	require.InDelta(t, 0, mean, 4*sd/math.Sqrt(n))
	dW := backend.Call{Layer: "conv1", Role: backend.GradWeight}
	require.Equal(t, clean, bfptest.Run(t, b, dW, g))
}

func TestClippingCounted(t *testing.T) {
	// Every mantissa at its maximum: P = h·qmax² is the top of the range,
	// one step above the largest two's complement code.
	g := backend.GEMM{M: 1, N: 1, K: 4, A: []float32{31, 31, 31, 31}, LDA: 4, B: []float32{31, 31, 31, 31}, LDB: 1, C: []float32{0}, LDC: 1}
	b := newBackend(t, backend.Options{"tile": "4", "adc-bits": "6", "noise-sigma": "0"})
	got := bfptest.Run(t, b, fwd, g)
	require.Equal(t, float32(4*31*31)*31/32, got[0])
	rep, err := json.Marshal(b.Stats())
	require.NoError(t, err)
	require.Contains(t, string(rep), `"adc_clipped":1`)
}

func TestFactory(t *testing.T) {
	for _, tc := range []struct {
		opts backend.Options
		want string
	}{
		{backend.Options{"adc-bits": "0"}, "--adc-bits 0 is outside [1, 24]"},
		{backend.Options{"adc-bits": "x"}, `--adc-bits "x" is not an integer`},
		{backend.Options{"rns-mode": "fast"}, "option --rns-mode does not apply to backend analog"},
		{backend.Options{"tile-accumulation": "gemm"}, "option --tile-accumulation does not apply to backend analog"},
		{backend.Options{"noise-roles": "dY"}, "--noise-roles"},
	} {
		_, err := Factory(tc.opts)
		require.ErrorContains(t, err, tc.want)
	}
	b := newBackend(t, nil)
	cfg, err := json.Marshal(b.Config())
	require.NoError(t, err)
	require.Contains(t, string(cfg), `"adc_bits":6,"adc_full_range":246016,"adc_step":3844`)
	require.Contains(t, string(cfg), `"tile_accumulation":"ordered"`)
}

// TestLeNetRolesNoiseFree: on the shapes and data of the products that
// once went wrong, the noise-free backend equals the reference model bit
// for bit.
func TestLeNetRolesNoiseFree(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, c := range bfptest.LeNetCases() {
		for _, adc := range []int{6, 16} {
			g := c.GEMM(rng)
			b := newBackend(t, backend.Options{"adc-bits": strconv.Itoa(adc), "noise-sigma": "0"})
			got := bfptest.Run(t, b, backend.Call{Layer: c.Name, Role: backend.GradWeight}, g)
			require.Equalf(t, reference(g, 6, 128, adc), got, "%s, %d-bit ADC", c.Name, adc)
			var read int64
			for i := 0; i < c.M; i++ {
				for j := 0; j < c.N; j++ {
					for _, p := range bfptest.TileParts(g, 6, 128, i, j) {
						if p.Live {
							read++
						}
					}
				}
			}
			total := b.Stats().(*bfpengine.Report).Total
			require.Equalf(t, read, total.Readouts, "%s: readouts are the tiles without a zero block", c.Name)
			require.Lessf(t, total.Readouts, total.TileOutputs, "%s: the case has zero blocks", c.Name)
		}
	}
}

// TestNoiseHasTheModelledSizePerTile checks the size of the ADC noise in
// output units. A tile read with noise z ~ N(0, σ²) (in ADC steps) comes
// out as Δ·round(P/Δ + z)·2^(ea+eb), so its error against the exact
// P·2^(ea+eb) is Δ·2^(ea+eb)·(z - rounding error): standard deviation
// Δ·2^(ea+eb)·√(σ² + 1/12), the 1/12 being the converter's own rounding,
// made uniform and independent of P by the noise (to within 0.1% for
// σ ≥ 0.5). Tiles add independently, and tiles with a zero block are not
// read at all. So every output error divided by
// √(Σ_read tiles (Δ·2^(ea+eb))²) must have mean 0 and standard deviation
// √(σ² + 1/12):
//
//   - the standard deviation within 3% (about 5 standard errors of a
//     sample standard deviation at the ≥ 15000 samples of each case);
//   - the mean within 4 standard errors of 0;
//   - no sample beyond 6 standard deviations (noise scaled by a wrong
//     block's scale is hundreds to thousands of times too large);
//   - outputs whose every tile has a zero block exactly unchanged.
//
// The reference is independent: mantissas, exponents and P come from
// bfptest, the scales from the format's definition.
func TestNoiseHasTheModelledSizePerTile(t *testing.T) {
	const adcBits, bits, tile = 16, 6, 128
	step := adcStep(bits, tile, adcBits)
	rng := rand.New(rand.NewPCG(13, 14))
	for _, c := range bfptest.LeNetCases() {
		for _, sigma := range []float64{0.5, 3} {
			g := c.GEMM(rng)
			exact := make([]float64, c.M*c.N) // Σ P·2^(ea+eb), exact in float64
			sd := make([]float64, c.M*c.N)    // √Σ (Δ·2^(ea+eb))² over read tiles
			for i := 0; i < c.M; i++ {
				for j := 0; j < c.N; j++ {
					var v float64
					for _, p := range bfptest.TileParts(g, bits, tile, i, j) {
						exact[i*c.N+j] += math.Ldexp(float64(p.P), p.Exp)
						if p.Live {
							v += math.Pow(math.Ldexp(step, p.Exp), 2)
						}
					}
					sd[i*c.N+j] = math.Sqrt(v)
				}
			}
			b := newBackend(t, backend.Options{"adc-bits": strconv.Itoa(adcBits), "noise-sigma": strconv.FormatFloat(sigma, 'g', -1, 64)})
			call := backend.Call{Layer: c.Name, Role: backend.GradWeight}
			var z []float64
			for len(z) < 15000 {
				got := bfptest.Run(t, b, call, g)
				for i := 0; i < c.M; i++ {
					for j := 0; j < c.N; j++ {
						e := float64(got[i*c.N+j]) - exact[i*c.N+j]
						if c.Acc {
							e -= float64(g.C[i*g.LDC+j])
						}
						if sd[i*c.N+j] == 0 {
							require.Zerof(t, e, "%s: output (%d, %d) has no tile to read and must stay exact", c.Name, i, j)
							continue
						}
						z = append(z, e/sd[i*c.N+j])
					}
				}
			}
			want := math.Sqrt(sigma*sigma + 1.0/12)
			var mean, sq, worst float64
			for _, v := range z {
				mean += v
				sq += v * v
				worst = max(worst, math.Abs(v))
			}
			n := float64(len(z))
			mean /= n
			got := math.Sqrt(sq/n - mean*mean)
			t.Logf("%s, σ = %g: normalised error sd %.4f (model %.4f), mean %+.4f, max |z| %.2f, %d samples", c.Name, sigma, got, want, mean, worst, len(z))
			require.InEpsilonf(t, want, got, 0.03, "%s, σ = %g: standard deviation of the normalised error", c.Name, sigma)
			require.InDeltaf(t, 0, mean, 4*want/math.Sqrt(n), "%s, σ = %g: mean of the normalised error", c.Name, sigma)
			require.Lessf(t, worst, 6*want, "%s, σ = %g: largest normalised error", c.Name, sigma)
		}
	}
}
