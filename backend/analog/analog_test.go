package analog

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/bfp"
	"github.com/mirage-go/mirage/internal/bfp/bfptest"
)

func newBackend(t *testing.T, opts backend.Options) *Backend {
	t.Helper()
	b, err := Factory(opts)
	require.NoError(t, err)
	return b.(*Backend)
}

func run(t *testing.T, b backend.Backend, call backend.Call, g backend.GEMM) []float32 {
	t.Helper()
	g.C = slices.Clone(g.C)
	require.NoError(t, b.MatMul(call, g))
	out := make([]float32, g.M*g.N)
	for i := 0; i < g.M; i++ {
		copy(out[i*g.N:(i+1)*g.N], g.C[i*g.LDC:i*g.LDC+g.N])
	}
	return out
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
			got := run(t, b, fwd, g)
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
	got := run(t, b, fwd, g)
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
		got := run(t, newBackend(t, backend.Options{"adc-bits": adc, "noise-sigma": "0"}), fwd, g)
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
	clean := run(t, newBackend(t, backend.Options{"adc-bits": "12", "noise-sigma": "0"}), fwd, g)
	b := newBackend(t, backend.Options{"adc-bits": "12", "noise-sigma": "2", "noise-roles": "forward"})
	var diffs []float64
	for range 200 {
		got := run(t, b, fwd, g)
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
	require.Equal(t, clean, run(t, b, dW, g))
}

func TestClippingCounted(t *testing.T) {
	// Every mantissa at its maximum: P = h·qmax² is the top of the range,
	// one step above the largest two's complement code.
	g := backend.GEMM{M: 1, N: 1, K: 4, A: []float32{31, 31, 31, 31}, LDA: 4, B: []float32{31, 31, 31, 31}, LDB: 1, C: []float32{0}, LDC: 1}
	b := newBackend(t, backend.Options{"tile": "4", "adc-bits": "6", "noise-sigma": "0"})
	got := run(t, b, fwd, g)
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

// roleCase is a GEMM shaped like one of LeNet's training products (see
// autograd/conv.go and matmul.go), with the data that broke the backend:
// gradients far below 1, and whole blocks of zeros, as ReLU, max pooling
// (3 of 4 positions get no gradient) and an image's black background make
// them.
type roleCase struct {
	name                string
	m, n, k             int
	transA, transB, acc bool
	scaleA, scaleB      float64 // magnitudes of op(A) and op(B)
	zeroRowsA           []int   // rows of op(A) zero over all of K (dead units)
	zeroColsB           []int   // columns of op(B) zero over all of K
	zeroTileK           int     // a run of K, one tile long from here, zero in op(A) row 0 and op(B) column 0
	pooled              bool    // op(A) is zero at 3 of every 4 positions along K
}

var roleCases = []roleCase{
	// conv1 dW = dyT·cols: o × (C·kh·kw), K = batch·OH·OW, many tiles, the
	// last one short; accumulates into the gradient.
	{name: "conv1 dW", m: 6, n: 25, k: 1000, acc: true, scaleA: 1e-3, scaleB: 1, zeroColsB: []int{3}, zeroTileK: 256, pooled: true},
	// conv2 dX = dyTᵀ·W: positions × (C·kh·kw), K = o, A transposed with
	// a row stride longer than M.
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
func (c roleCase) gemm(rng *rand.Rand) backend.GEMM {
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
		for p := c.zeroTileK; p < min(c.zeroTileK+128, c.k); p++ {
			bfptest.SetA(&g, 0, p, 0)
			bfptest.SetB(&g, p, 0, 0)
		}
	}
	return g
}

// TestLeNetRolesNoiseFree: on the shapes and data of the products that
// once went wrong, the noise-free backend equals the reference model bit
// for bit.
func TestLeNetRolesNoiseFree(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, c := range roleCases {
		for _, adc := range []int{6, 16} {
			g := c.gemm(rng)
			b := newBackend(t, backend.Options{"adc-bits": strconv.Itoa(adc), "noise-sigma": "0"})
			got := run(t, b, backend.Call{Layer: c.name, Role: backend.GradWeight}, g)
			require.Equalf(t, reference(g, 6, 128, adc), got, "%s, %d-bit ADC", c.name, adc)
			var read int64
			for i := 0; i < c.m; i++ {
				for j := 0; j < c.n; j++ {
					for _, p := range bfptest.TileParts(g, 6, 128, i, j) {
						if p.Live {
							read++
						}
					}
				}
			}
			total := b.Stats().(bfp.Report).Total
			require.Equalf(t, read, total.Readouts, "%s: readouts are the tiles without a zero block", c.name)
			require.Lessf(t, total.Readouts, total.TileOutputs, "%s: the case has zero blocks", c.name)
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
	for _, c := range roleCases {
		for _, sigma := range []float64{0.5, 3} {
			g := c.gemm(rng)
			exact := make([]float64, c.m*c.n) // Σ P·2^(ea+eb), exact in float64
			sd := make([]float64, c.m*c.n)    // √Σ (Δ·2^(ea+eb))² over read tiles
			for i := 0; i < c.m; i++ {
				for j := 0; j < c.n; j++ {
					var v float64
					for _, p := range bfptest.TileParts(g, bits, tile, i, j) {
						exact[i*c.n+j] += math.Ldexp(float64(p.P), p.Exp)
						if p.Live {
							v += math.Pow(math.Ldexp(step, p.Exp), 2)
						}
					}
					sd[i*c.n+j] = math.Sqrt(v)
				}
			}
			b := newBackend(t, backend.Options{"adc-bits": strconv.Itoa(adcBits), "noise-sigma": strconv.FormatFloat(sigma, 'g', -1, 64)})
			call := backend.Call{Layer: c.name, Role: backend.GradWeight}
			var z []float64
			for len(z) < 15000 {
				got := run(t, b, call, g)
				for i := 0; i < c.m; i++ {
					for j := 0; j < c.n; j++ {
						e := float64(got[i*c.n+j]) - exact[i*c.n+j]
						if c.acc {
							e -= float64(g.C[i*g.LDC+j])
						}
						if sd[i*c.n+j] == 0 {
							require.Zerof(t, e, "%s: output (%d, %d) has no tile to read and must stay exact", c.name, i, j)
							continue
						}
						z = append(z, e/sd[i*c.n+j])
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
			t.Logf("%s, σ = %g: normalised error sd %.4f (model %.4f), mean %+.4f, max |z| %.2f, %d samples", c.name, sigma, got, want, mean, worst, len(z))
			require.InEpsilonf(t, want, got, 0.03, "%s, σ = %g: standard deviation of the normalised error", c.name, sigma)
			require.InDeltaf(t, 0, mean, 4*want/math.Sqrt(n), "%s, σ = %g: mean of the normalised error", c.name, sigma)
			require.Lessf(t, worst, 6*want, "%s, σ = %g: largest normalised error", c.name, sigma)
		}
	}
}
