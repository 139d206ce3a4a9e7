package rns

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/bfpengine"
	"github.com/mirage-go/mirage/backend/bfpengine/bfptest"
	ibfp "github.com/mirage-go/mirage/internal/bfp"
	"github.com/mirage-go/mirage/internal/gemm"
	"github.com/mirage-go/mirage/internal/rns"
)

func newBackend(t testing.TB, opts backend.Options) *Backend {
	t.Helper()
	b, err := Factory(opts)
	require.NoError(t, err)
	return b.(*Backend)
}

// sameFloats requires bit-identical values (+0 and -0 aside).
func sameFloats(t *testing.T, want, got []float32, msg string) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		if want[i] == 0 && got[i] == 0 {
			continue
		}
		require.Equalf(t, math.Float32bits(want[i]), math.Float32bits(got[i]), "%s: element %d: want %g, got %g", msg, i, want[i], got[i])
	}
}

var fwd = backend.Call{Layer: "fc1", Role: backend.Forward}

// TestNoiseFreeEqualsExactBFP: without noise, the reference mode and the
// fast mode with --tile-accumulation ordered return the exact BFP result
// bit for bit, checked against the independent math/big reference, on
// random shapes with transposes, padding, accumulation and K not a multiple
// of the tile. The fast mode's default single GEMM must be bit-exact
// wherever any summation order is exact, and otherwise within the FP32
// rounding tolerance of the cross-tile additions (bfptest.Tolerance).
func TestNoiseFreeEqualsExactBFP(t *testing.T) {
	configs := []backend.Options{
		{},                                 // defaults: special-k7, b=7, h=128, RRNS(5,3) (σ = 0.08 never fires here)
		sixBit(nil),                        // the former defaults: special-k6, b=6, h=128
		{"noise-sigma": "0"},               // exactly noise-free
		{"tile": "16", "noise-sigma": "0"}, // many tiles
		{"rns-moduli": "special-k5", "bfp-bits": "5", "tile": "64", "noise-sigma": "0"},
		{"rns-moduli": "special-k7", "bfp-bits": "8", "tile": "5", "noise-sigma": "0"},
		{"rns-moduli": "7,9,11,13,17", "bfp-bits": "6", "tile": "64", "noise-sigma": "0"}, // odd M, five moduli
		{"tile": "16", "noise-sigma": "0", "rrns-redundant": "2"},
		// 512 × 256² ≥ 2^24: the reference mode's modular dot products take
		// the integer loop instead of FP32 GEMMs over the residues.
		{"rns-moduli": "special-k8", "bfp-bits": "8", "tile": "512", "noise-sigma": "0"},
	}
	modes := [][]string{
		{"rns-mode", "reference"},
		{"rns-mode", "fast", "tile-accumulation", "ordered"},
		{"rns-mode", "fast", "tile-accumulation", "gemm"},
	}
	rng := rand.New(rand.NewPCG(11, 12))
	for ci, opts := range configs {
		for _, mode := range modes {
			b := newBackend(t, maps(opts, mode...))
			f := b.engine.Settings.Format
			for trial := 0; trial < 8; trial++ {
				m, n, k := 1+rng.IntN(12), 1+rng.IntN(12), 1+rng.IntN(300)
				g := bfptest.RandomGEMM(rng, m, n, k, trial%2 == 1, trial%4 >= 2, trial%3 == 0, rng.IntN(3))
				want := bfptest.Product(g, f.Bits, f.Tile)
				got := bfptest.Run(t, b, fwd, g)
				msg := fmt.Sprintf("config %d %v mode %v, %dx%dx%d", ci, opts, mode, m, n, k)
				if !b.engine.Settings.Ordered && !b.reference {
					tol := bfptest.Tolerance(g, f.Bits, f.Tile)
					for i := range want {
						require.InDeltaf(t, want[i], got[i], tol[i], "%s: element %d", msg, i)
					}
					continue
				}
				sameFloats(t, want, got, msg)
			}
		}
	}
}

// sixBit returns o on the 6-bit configuration that was the default until
// December 2026 (special-k6 moduli, 6-bit mantissas, no redundant moduli),
// for the tests whose expected values and messages were worked out for it;
// options o sets win.
func sixBit(o backend.Options) backend.Options {
	out := backend.Options{"rns-moduli": "special-k6", "bfp-bits": "6", "rrns-redundant": "0"}
	for k, v := range o {
		out[k] = v
	}
	return out
}

func maps(o backend.Options, kv ...string) backend.Options {
	out := backend.Options{}
	for k, v := range o {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// noisyRuns runs the same GEMM runs times and returns the output errors
// (noisy - exact, per element) and the backend's counters.
func noisyRuns(t *testing.T, opts backend.Options, g backend.GEMM, runs int) ([]float64, bfpengine.Counters) {
	t.Helper()
	exact := bfptest.Run(t, newBackend(t, maps(opts, "noise-sigma", "0")), fwd, g)
	b := newBackend(t, opts)
	var errs []float64
	for range runs {
		got := bfptest.Run(t, b, fwd, g)
		for i := range got {
			errs = append(errs, float64(got[i])-float64(exact[i]))
		}
	}
	return errs, b.engine.Stats.Report("rns").Total
}

// TestReadoutErrorRate: in both modes the fraction of wrong residue
// readouts must be within 3 standard errors of the model's probability
// (erfc(0.5/(σ√2)) per modulus, σ in steps).
func TestReadoutErrorRate(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	g := bfptest.RandomGEMM(rng, 20, 20, 64, false, true, false, 0)
	cases := []struct {
		sigma, unit string
	}{
		{"0.15", "step"}, {"0.2", "step"}, {"0.3", "step"}, {"0.5", "step"},
		{"1.5", "phase"}, // σ_step = 1.5·m/2π: 15.0, 15.3, 15.5 for 63, 64, 65: p ≈ 0.97
		{"0.02", "phase"},
	}
	for _, tc := range cases {
		for _, mode := range []string{"fast", "reference"} {
			opts := backend.Options{"tile": "16", "noise-sigma": tc.sigma, "noise-unit": tc.unit, "rns-mode": mode, "stats-every": "0"}
			b := newBackend(t, opts)
			_, tot := noisyRuns(t, opts, g, 25)
			// Every modulus sees the same number of readouts; the expected
			// count and its variance add up over the moduli.
			perModulus := float64(tot.Readouts) / float64(b.set.Len())
			var mean, variance float64
			for _, p := range b.cfg.ErrorProb {
				mean += p * perModulus
				variance += p * (1 - p) * perModulus
			}
			if tc.unit == "phase" && tc.sigma == "1.5" {
				// With σ_step ≈ 15 a few percent of errors are multiples of m
				// and leave the residue right: use the exact wrapped rate.
				mean, variance = 0, 0
				for i := range b.set.Len() {
					p := wrappedErrorProb(b.stepSigma[i], b.set.Modulus(i))
					mean += p * perModulus
					variance += p * (1 - p) * perModulus
				}
			}
			se := math.Sqrt(variance)
			require.InDeltaf(t, mean, float64(tot.ResidueErrors), 3*se, "σ=%s %s mode %s: %d errors in %d readouts, expected %.1f ± %.1f", tc.sigma, tc.unit, mode, tot.ResidueErrors, tot.Readouts, mean, se)
		}
	}
}

// wrappedErrorProb is P(round(z) mod m ≠ 0) for z ~ N(0, σ²).
func wrappedErrorProb(sigma float64, m int64) float64 {
	phi := func(x float64) float64 { return 0.5 * math.Erfc(-x/(sigma*math.Sqrt2)) }
	right := 0.0
	for k := -20; k <= 20; k++ {
		c := float64(k) * float64(m)
		right += phi(c+0.5) - phi(c-0.5)
	}
	return 1 - right
}

// TestFastMatchesReferenceInDistribution compares the output errors of the
// two modes on the same GEMM: the fraction of outputs that are wrong (a
// two-proportion z test) and the distribution of the nonzero errors (a
// two-sample Kolmogorov-Smirnov test), both at significance 0.001.
func TestFastMatchesReferenceInDistribution(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	g := bfptest.RandomGEMM(rng, 16, 12, 100, true, false, false, 0)
	for _, sigma := range []string{"0.15", "0.2", "0.3"} {
		for _, redundant := range []string{"0", "2"} {
			base := backend.Options{"tile": "32", "noise-sigma": sigma, "rrns-redundant": redundant, "stats-every": "0", "noise-seed": "5"}
			fastErrs, fastTot := noisyRuns(t, maps(base, "rns-mode", "fast"), g, 150)
			refErrs, refTot := noisyRuns(t, maps(base, "rns-mode", "reference"), g, 150)
			fastNZ, refNZ := nonzero(fastErrs), nonzero(refErrs)
			n := float64(len(fastErrs))
			p1, p2 := float64(len(fastNZ))/n, float64(len(refNZ))/n
			pool := (p1 + p2) / 2
			z := (p1 - p2) / math.Sqrt(pool*(1-pool)*2/n)
			require.Lessf(t, math.Abs(z), 3.29, "σ=%s r=%s: wrong-output fractions %.4f (fast) vs %.4f (reference)", sigma, redundant, p1, p2)
			if len(fastNZ) < 20 || len(refNZ) < 20 {
				continue // with RRNS almost every error is corrected; the proportion test covers it
			}
			d := ksStatistic(fastNZ, refNZ)
			crit := 1.949 * math.Sqrt(float64(len(fastNZ)+len(refNZ))/float64(len(fastNZ)*len(refNZ)))
			require.Lessf(t, d, crit, "σ=%s r=%s: KS distance %.4f between the %d fast and %d reference errors exceeds %.4f", sigma, redundant, d, len(fastNZ), len(refNZ), crit)
			t.Logf("σ=%s r=%s: wrong outputs %.4f vs %.4f (z=%.2f); KS D=%.4f < %.4f; residue errors %d vs %d", sigma, redundant, p1, p2, z, d, crit, fastTot.ResidueErrors, refTot.ResidueErrors)
		}
	}
}

func nonzero(x []float64) []float64 {
	var out []float64
	for _, v := range x {
		if v != 0 {
			out = append(out, v)
		}
	}
	return out
}

// ksStatistic is the two-sample Kolmogorov-Smirnov distance sup|F1-F2|.
func ksStatistic(a, b []float64) float64 {
	a, b = slices.Clone(a), slices.Clone(b)
	sort.Float64s(a)
	sort.Float64s(b)
	var i, j int
	var d float64
	for i < len(a) && j < len(b) {
		x := min(a[i], b[j])
		for i < len(a) && a[i] == x {
			i++
		}
		for j < len(b) && b[j] == x {
			j++
		}
		d = max(d, math.Abs(float64(i)/float64(len(a))-float64(j)/float64(len(b))))
	}
	return d
}

// TestRRNSCorrectedErrorsLeaveNoTrace: with two redundant moduli, tiles with
// one wrong residue are corrected; when every hit tile was corrected, the
// output equals the noise-free one bit for bit, in both modes.
func TestRRNSCorrectedErrorsLeaveNoTrace(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	g := bfptest.RandomGEMM(rng, 10, 10, 64, false, false, true, 0)
	for _, mode := range []string{"fast", "reference"} {
		opts := backend.Options{"tile": "16", "noise-sigma": "0.15", "rrns-redundant": "2", "rns-mode": mode, "stats-every": "0"}
		exact := bfptest.Run(t, newBackend(t, maps(opts, "noise-sigma", "0")), fwd, g)
		b := newBackend(t, opts)
		clean := 0
		for range 200 {
			before := b.engine.Stats.Report("rns").Total
			got := bfptest.Run(t, b, fwd, g)
			after := b.engine.Stats.Report("rns").Total
			if after.TilesHit > before.TilesHit && after.Corrected-before.Corrected == after.TilesHit-before.TilesHit {
				sameFloats(t, exact, got, mode)
				clean++
			}
		}
		tot := b.engine.Stats.Report("rns").Total
		require.Positive(t, clean, "no call had only corrected errors")
		require.Positive(t, tot.Corrected)
		require.Equal(t, tot.TilesHit, tot.Corrected+tot.Miscorrected+tot.Erased+tot.Undetected)
		t.Logf("%s: %d residue errors in %d tiles: %d corrected, %d miscorrected, %d erased, %d undetected", mode, tot.ResidueErrors, tot.TilesHit, tot.Corrected, tot.Miscorrected, tot.Erased, tot.Undetected)
	}
}

func TestFactoryRefusesInvalid(t *testing.T) {
	cases := []struct {
		opts backend.Options
		want string
	}{
		{sixBit(backend.Options{"tile": "256"}), "tile 256 × (2^5-1)^2 = 246016 exceeds the signed range ±131039 of moduli {63,64,65}, so tile sums would wrap around; lower --tile to 128 or --bfp-bits to 5 or use larger moduli (e.g. --rns-moduli special-k7)"},
		{sixBit(backend.Options{"bfp-bits": "7"}), "lower --tile to 32 or --bfp-bits to 6"},
		{backend.Options{"rns-moduli": "special-k4", "tile": "1", "bfp-bits": "8"}, "exceeds the signed range ±2039 of moduli {15,16,17}"},
		{sixBit(backend.Options{"rns-moduli": "63,64,66"}), "moduli 63 and 66 share the factor 3"},
		{backend.Options{"rns-moduli": "special-k9"}, "neither an integer nor a preset"},
		{sixBit(backend.Options{"rrns-redundant": "61,67"}), "redundant modulus 61 must be larger than every base modulus"},
		{sixBit(backend.Options{"rrns-redundant": "two"}), "--rrns-redundant \"two\": give a count 0..5"},
		// A plain integer is a count, never a modulus ("99" is not the
		// modulus 99 sharing the factor 9 with 63).
		{sixBit(backend.Options{"rrns-redundant": "99"}), "--rrns-redundant \"99\": give a count 0..5"},
		{sixBit(backend.Options{"rrns-redundant": "6"}), "give a count 0..5"},
		{sixBit(backend.Options{"rrns-redundant": "-1"}), "give a count 0..5"},
		{backend.Options{"noise-sigma": "NaN"}, "invalid --noise-sigma NaN: must be a finite number"},
		{backend.Options{"noise-sigma": "+Inf"}, "invalid --noise-sigma +Inf: must be a finite number"},
		{backend.Options{"noise-sigma": "1e18"}, "invalid --noise-sigma 1e+18: must be in [0, 1e+06]"},
		{sixBit(backend.Options{"noise-sigma": "1e5", "noise-unit": "phase"}), "residue steps for modulus 63, beyond 1e+06"},
		{backend.Options{"rns-mode": "exact"}, "--rns-mode \"exact\": use fast or reference"},
		{backend.Options{"noise-unit": "db"}, "--noise-unit \"db\""},
		{backend.Options{"noise-sigma": "-1"}, "invalid --noise-sigma -1: must be in [0, 1e+06]"},
		{backend.Options{"noise-roles": "forward,backward"}, "--noise-roles: unknown GEMM role \"backward\""},
		{backend.Options{"bfp-bits": "x"}, "--bfp-bits \"x\" is not an integer"},
		{backend.Options{"bfp-bits": "1"}, "--bfp-bits 1 is outside [2, 12]"},
		{backend.Options{"rounding": "up"}, "--rounding: unknown rounding \"up\""},
		{backend.Options{"noise-seed": "-3"}, "--noise-seed \"-3\" must be a non-negative integer"},
		{backend.Options{"stats-every": "-1"}, "--stats-every -1"},
		{backend.Options{"fp32-layers": "conv["}, "--fp32-layers: \"conv[\" is not a valid pattern"},
		{backend.Options{"adc-bits": "8"}, "option --adc-bits does not apply to backend rns"},
	}
	for _, tc := range cases {
		_, err := Factory(tc.opts)
		require.ErrorContains(t, err, tc.want, "%v", tc.opts)
	}
}

// TestLargestTiles checks the presets against the largest power-of-two
// tiles of DESIGN.md §2, and that the factory accepts h and refuses 2h.
func TestLargestTiles(t *testing.T) {
	cases := []struct {
		preset string
		bits   int
		tile   int
	}{
		{"special-k5", 5, 64},
		{"special-k6", 6, 128},
		{"special-k6", 7, 32},
		{"special-k7", 7, 256},
		{"special-k7", 8, 64},
		{"special-k4", 4, 32},  // M = 4080: 32 × 49 = 1568 ≤ 2039
		{"special-k8", 8, 512}, // M = 16776960: 512 × 16129 ≤ 8388479
	}
	for _, tc := range cases {
		m, ok := rns.Preset(tc.preset)
		require.True(t, ok)
		set, err := rns.NewSet(m, nil)
		require.NoError(t, err)
		require.Equal(t, tc.tile, ibfp.LargestTile(tc.bits, set.MaxMagnitude()), "%s b=%d", tc.preset, tc.bits)
		opts := backend.Options{"rns-moduli": tc.preset, "bfp-bits": fmt.Sprint(tc.bits), "tile": fmt.Sprint(tc.tile)}
		_, err = Factory(opts)
		require.NoError(t, err, "%v", opts)
		_, err = Factory(maps(opts, "tile", fmt.Sprint(2*tc.tile)))
		require.ErrorContains(t, err, fmt.Sprintf("lower --tile to %d", tc.tile))
	}
}

// TestPerLayerAndRolePolicy: layers in --fp32-layers run in exact FP32;
// --noise-roles forward leaves the gradient products noise-free.
func TestPerLayerAndRolePolicy(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	g := bfptest.RandomGEMM(rng, 8, 8, 96, false, true, false, 0)
	b := newBackend(t, sixBit(backend.Options{"fp32-layers": "conv1,head.*", "noise-sigma": "0.3", "noise-roles": "forward", "tile": "16", "stats-every": "1", "tile-accumulation": "ordered"}))
	sgemmRef := bfptest.Run(t, fp32Backend{}, fwd, g)
	for _, layer := range []string{"conv1", "head.fc"} {
		sameFloats(t, sgemmRef, bfptest.Run(t, b, backend.Call{Layer: layer, Role: backend.Forward}, g), layer)
	}
	bfpExact := bfptest.Product(g, 6, 16)
	for range 5 {
		sameFloats(t, bfpExact, bfptest.Run(t, b, backend.Call{Layer: "fc1", Role: backend.GradWeight}, g), "fc1/dW")
		bfptest.Run(t, b, backend.Call{Layer: "fc1", Role: backend.Forward}, g)
	}
	rep := b.engine.Stats.Report("rns")
	byKey := map[string]bfpengine.Entry{}
	for _, e := range rep.Entries {
		byKey[e.Layer+"/"+e.Role] = e
	}
	require.True(t, byKey["conv1/forward"].FP32)
	require.True(t, byKey["head.fc/forward"].FP32)
	require.Zero(t, byKey["conv1/forward"].Readouts)
	require.Zero(t, byKey["fc1/dW"].ResidueErrors)
	require.Positive(t, byKey["fc1/forward"].ResidueErrors)
	require.Equal(t, int64(5), byKey["fc1/dW"].Samples)
	require.Less(t, byKey["fc1/dW"].RelErrMax, 0.1, "6-bit BFP stays within 10% of FP32")
	require.Zero(t, byKey["conv1/forward"].RelErrMax)
	require.Contains(t, b.Summary(), "head.fc")
	js, err := json.Marshal(b.Stats())
	require.NoError(t, err)
	require.Contains(t, string(js), `"residue_errors"`)
	cfg, err := json.Marshal(b.Config())
	require.NoError(t, err)
	for _, key := range []string{`"rns_moduli":[63,64,65]`, `"noise_roles":["forward"]`, `"fp32_layers":["conv1","head.*"]`, `"tile":16`} {
		require.Contains(t, string(cfg), key)
	}
}

type fp32Backend struct{}

func (fp32Backend) Name() string { return "fp32" }
func (fp32Backend) MatMul(_ backend.Call, g backend.GEMM) error {
	gemm.Sgemm(g.TransA, g.TransB, g.M, g.N, g.K, 1, g.A, g.LDA, g.B, g.LDB, 0, g.C, g.LDC)
	return nil
}

func TestDeterministicForASeed(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	g := bfptest.RandomGEMM(rng, 12, 9, 70, false, false, false, 0)
	for _, mode := range []string{"fast", "reference"} {
		opts := backend.Options{"noise-sigma": "0.3", "rounding": "stochastic", "tile": "8", "rns-mode": mode}
		a, b := newBackend(t, opts), newBackend(t, opts)
		for range 3 {
			sameFloats(t, bfptest.Run(t, a, fwd, g), bfptest.Run(t, b, fwd, g), mode)
		}
		c := newBackend(t, maps(opts, "noise-seed", "2"))
		require.NotEqual(t, bfptest.Run(t, a, fwd, g), bfptest.Run(t, c, fwd, g))
	}
}

func TestOptionsDocumented(t *testing.T) {
	names := map[string]bool{}
	for _, o := range Options() {
		require.False(t, names[o.Name], "duplicate option %s", o.Name)
		names[o.Name] = true
		require.NotEmpty(t, o.Help)
		require.False(t, strings.HasPrefix(o.Name, "-"))
	}
	for _, want := range []string{"rns-moduli", "bfp-bits", "tile", "noise-sigma", "rrns-redundant", "rns-mode", "noise-unit", "rounding", "fp32-layers", "noise-roles", "noise-seed"} {
		require.True(t, names[want], want)
	}
	// The defaults build.
	_, err := Factory(nil)
	require.NoError(t, err)
}

// TestNoGarbageInSteadyState: once its buffers have grown, a fast-mode
// GEMM allocates nothing, serial or with parallel quantisation, with or
// without zero blocks to skip.
func TestNoGarbageInSteadyState(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates by itself")
	}
	rng := rand.New(rand.NewPCG(71, 72))
	gemms := map[string]backend.GEMM{}
	for _, sz := range [][3]int{{20, 20, 64}, {500, 64, 300}} {
		gemms[fmt.Sprint(sz)] = bfptest.RandomGEMM(rng, sz[0], sz[1], sz[2], false, true, true, 0)
	}
	for _, c := range bfptest.LeNetCases() {
		gemms[c.Name] = c.GEMM(rng)
	}
	for name, g := range gemms {
		b := newBackend(t, backend.Options{"stats-every": "0"})
		require.NoError(t, b.MatMul(fwd, g))
		require.Zero(t, testing.AllocsPerRun(10, func() { _ = b.MatMul(fwd, g) }), name)
	}
}

// TestNonFinitePropagates: an Inf or NaN in an operand poisons the outputs
// it touches, as in FP32, in both modes (the training loop then reports a
// divergence), and is counted.
func TestNonFinitePropagates(t *testing.T) {
	rng := rand.New(rand.NewPCG(81, 82))
	g := bfptest.RandomGEMM(rng, 4, 3, 40, false, false, false, 0)
	g.A[1*g.LDA+7] = float32(math.Inf(1))
	g.B[5*g.LDB+2] = float32(math.NaN())
	for _, mode := range []string{"fast", "reference"} {
		b := newBackend(t, backend.Options{"rns-mode": mode, "tile": "16"})
		got := bfptest.Run(t, b, fwd, g)
		for i := range g.M {
			for j := range g.N {
				require.Equal(t, i == 1 || j == 2, math.IsNaN(float64(got[i*g.N+j])), "%s: output (%d,%d)", mode, i, j)
			}
		}
		require.Equal(t, int64(2), b.engine.Stats.Report("rns").Total.NonFinite)
	}
}

// TestLargeOperandInRowBlocks: an op(A) above the engine's block size is
// quantised and multiplied in blocks of rows; the result is still the
// exact BFP product, bit for bit, in both modes, and the statistics count
// every tile.
func TestLargeOperandInRowBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(91, 92))
	g := bfptest.RandomGEMM(rng, 3000, 3, 100, false, true, true, 1) // 300000 elements: two blocks
	want := bfptest.Product(g, 6, 32)
	for _, mode := range []string{"fast", "reference"} {
		b := newBackend(t, sixBit(backend.Options{"rns-mode": mode, "tile": "32", "tile-accumulation": "ordered", "noise-sigma": "0"}))
		sameFloats(t, want, bfptest.Run(t, b, fwd, g), mode)
		require.Equal(t, int64(4*3000*3), b.engine.Stats.Report("rns").Total.TileOutputs)
	}
}

// TestLargeOperandSplitAlongK: with a large op(B), the fast mode splits K
// into blocks of whole tiles added into C; the result stays within the
// cross-tile FP32 rounding tolerance of the exact BFP product (exact where
// every order is), all tiles are counted, and the noisy readouts of the
// blocks still fail at the model's rate (within 3 standard errors).
func TestLargeOperandSplitAlongK(t *testing.T) {
	rng := rand.New(rand.NewPCG(101, 102))
	for _, transA := range []bool{true, false} {
		g := bfptest.RandomGEMM(rng, 4, 300, 1000, transA, false, transA, 0) // N·K = 300000: split
		want := bfptest.Product(g, 6, 128)
		tol := bfptest.Tolerance(g, 6, 128)
		b := newBackend(t, sixBit(backend.Options{"noise-sigma": "0"}))
		got := bfptest.Run(t, b, fwd, g)
		for i := range want {
			require.InDeltaf(t, want[i], got[i], tol[i], "transA=%v element %d", transA, i)
		}
		require.Equal(t, int64(8*4*300), b.engine.Stats.Report("rns").Total.TileOutputs)

		noisy := newBackend(t, backend.Options{"noise-sigma": "0.3", "stats-every": "0"})
		for range 5 {
			bfptest.Run(t, noisy, fwd, g)
		}
		tot := noisy.engine.Stats.Report("rns").Total
		p := rns.ErrorProbability(0.3)
		mean := p * float64(tot.Readouts)
		se := math.Sqrt(p * (1 - p) * float64(tot.Readouts))
		require.InDelta(t, mean, float64(tot.ResidueErrors), 3*se)
	}
}

// TestEmptyShapes: K = 0 gives C = 0 (or leaves C when accumulating), and
// M = 0 or N = 0 touch nothing, in both modes.
func TestEmptyShapes(t *testing.T) {
	for _, mode := range []string{"fast", "reference"} {
		b := newBackend(t, backend.Options{"rns-mode": mode, "noise-sigma": "0.3"})
		for _, acc := range []bool{false, true} {
			g := backend.GEMM{M: 2, N: 2, K: 0, LDA: 1, LDB: 2, LDC: 2, C: []float32{1, 2, 3, 4}, Accumulate: acc}
			want := []float32{0, 0, 0, 0}
			if acc {
				want = []float32{1, 2, 3, 4}
			}
			require.Equal(t, want, bfptest.Run(t, b, fwd, g), "%s accumulate=%v", mode, acc)
		}
		g := backend.GEMM{M: 0, N: 3, K: 4, LDA: 4, B: make([]float32, 12), LDB: 3, LDC: 3}
		require.NoError(t, b.MatMul(fwd, g))
	}
}

// TestConvNoGarbageInSteadyState: a convolution through the Convolver
// (cols filled and quantised on demand, in parallel) allocates nothing
// once its buffers have grown.
func TestConvNoGarbageInSteadyState(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates by itself")
	}
	rng := rand.New(rand.NewPCG(73, 74))
	g := backend.ConvGeometry{N: 8, C: 16, H: 16, W: 16, O: 16, KH: 3, KW: 3, Stride: 1, Pad: 1}
	rnd := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
		return s
	}
	x, w, bias := rnd(g.N*g.C*g.H*g.W), rnd(g.O*g.Field()), rnd(g.O)
	y, dy := make([]float32, g.N*g.O*g.OutH()*g.OutW()), rnd(g.N*g.O*g.OutH()*g.OutW())
	grads := backend.ConvGrads{DX: make([]float32, len(x)), DW: make([]float32, len(w))}
	b := newBackend(t, backend.Options{"stats-every": "0"})
	step := func() {
		require.NoError(t, b.ConvForward("conv", g, x, w, bias, y))
		require.NoError(t, b.ConvBackward("conv", g, x, w, dy, grads))
	}
	step()
	require.Zero(t, testing.AllocsPerRun(5, step))
}
