package analog

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// codeProb returns P(roundEven(x + σz) = c) for z ~ N(0, 1), the codes
// c ≤ lo and c ≥ hi taking the whole tails: the Gaussian model.
func codeProb(x, sigma, c, lo, hi float64) float64 {
	cdf := func(v float64) float64 { return 0.5 * math.Erfc(-(v-x)/sigma/math.Sqrt2) }
	upper, lower := 1.0, 0.0
	if c < hi {
		upper = cdf(c + 0.5)
	}
	if c > lo {
		lower = cdf(c - 0.5)
	}
	return upper - lower
}

// chiSquare draws n codes at x with sample and returns Pearson's statistic
// against the Gaussian model and its degrees of freedom. Codes are binned
// from the lower tail up, closing a bin once its expected count reaches 5;
// the first and last codes of the range take the whole tails.
func chiSquare(x, sigma float64, n int, sample func(x float64) float64) (stat float64, df int) {
	c0 := math.RoundToEven(x)
	span := math.Ceil(7*sigma) + 1
	lo, hi := c0-span, c0+span
	counts := map[float64]int{}
	for range n {
		counts[max(lo, min(hi, sample(x)))]++
	}
	var bins [][2]float64 // expected, observed
	var exp, obs float64
	for c := lo; c <= hi; c++ {
		exp += float64(n) * codeProb(x, sigma, c, lo, hi)
		obs += float64(counts[c])
		if exp >= 5 {
			bins = append(bins, [2]float64{exp, obs})
			exp, obs = 0, 0
		}
	}
	if len(bins) == 0 {
		return 0, 0
	}
	bins[len(bins)-1][0] += exp
	bins[len(bins)-1][1] += obs
	for _, b := range bins {
		stat += (b[1] - b[0]) * (b[1] - b[0]) / b[0]
	}
	return stat, len(bins) - 1
}

// chiSquareLimit is the 1 − 10^-6 quantile of χ² with df degrees of
// freedom (Wilson–Hilferty, z = 4.753).
func chiSquareLimit(df int) float64 {
	k := float64(df)
	v := 1 - 2/(9*k) + 4.753*math.Sqrt(2/(9*k))
	return k * v * v * v
}

// TestNoiseCodesFollowTheGaussianModel: the fast sampler's codes have the
// distribution of roundEven(x + σz), z ~ N(0, 1), for σ from the default
// 0.08 steps to 3 and positions x near codes, between them, on rounding
// boundaries and far from 0: Pearson's χ² over the codes (bins of at least
// 5 expected) is below its 1 − 10^-6 quantile for every case, with 200,000
// draws each. The positions cover each branch of the sampler: a full
// normal (d < σ/4), tails beyond T < 1 by rejection, tails beyond T ≥ 1 by
// Marsaglia's method, and tails so unlikely that c0 comes out every time.
// The test rejects the same sampler with σ 3% too large, so it can fail.
func TestNoiseCodesFollowTheGaussianModel(t *testing.T) {
	const n = 200000
	s := newStream()
	for _, sigma := range []float64{0.08, 0.3, 1, 3} {
		nm := newNoiseModel(sigma)
		for ci, x := range []float64{0, 0.03, 0.1, 0.2, 0.3, 0.37, 0.45, 0.5, -0.5, 1.5, 2.49, -3.02, 7.25, 100.4} {
			s.reset(uint64(ci), int(sigma*100))
			stat, df := chiSquare(x, sigma, n, func(x float64) float64 { return nm.code(x, s) })
			if df == 0 {
				continue // a single code is possible, as checked by the bins
			}
			require.Lessf(t, stat, chiSquareLimit(df), "σ = %g, x = %g: χ² = %.1f with %d degrees of freedom", sigma, x, stat, df)
		}
	}
	for _, x := range []float64{0.2, 0.37} {
		wrong := newNoiseModel(0.3 * 1.03)
		s.reset(99, 0)
		stat, df := chiSquare(x, 0.3, n, func(x float64) float64 { return wrong.code(x, s) })
		require.Greaterf(t, stat, chiSquareLimit(df), "x = %g: a sampler with σ 3%% too large must be rejected", x)
	}
}

// TestNoiseBranches: the level T never exceeds d/σ, and the stored digits
// of p(T) are erfc(T/√2).
func TestNoiseBranches(t *testing.T) {
	nm := newNoiseModel(0.08)
	for _, x := range []float64{0, 0.1, 0.15, 0.3, 0.4999, 1.26, -7.4} {
		c0 := math.RoundToEven(x)
		d := 0.5 - math.Abs(x-c0)
		level := d * nm.levelScale
		if level < 1 {
			continue
		}
		k := int(min(level, maxLevel))
		require.LessOrEqualf(t, float64(k)/levelsPerSigma*nm.sigma, d, "x = %g", x)
		p := (float64(nm.head[k]) + nm.rest[k]) / (1 << 16)
		require.InEpsilonf(t, math.Erfc(float64(k)/levelsPerSigma/math.Sqrt2), p, 1e-15, "x = %g", x)
	}
}

// TestBelowIsAnExactComparison: below compares the uniform made of the
// stream's 16-bit pieces with p exactly, also when the first pieces equal
// p's first digits (forced here by taking p's digits from the stream).
func TestBelowIsAnExactComparison(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	s := newStream()
	for trial := range 3000 {
		s.reset(uint64(trial), 0)
		peek := *s
		var pieces []uint64
		for range 8 {
			pieces = append(pieces, peek.piece())
		}
		// p's first digit is the stream's first piece, and for a third of
		// the trials its second too.
		head := pieces[0]
		rest := rng.Float64()
		if trial%3 == 0 {
			rest = (float64(pieces[1]) + rng.Float64()) / (1 << 16)
		}
		if trial%7 == 0 {
			head, rest = uint64(rng.IntN(1<<16)), 0
		}
		got := s.below(head, rest)
		// u ∈ [U, U + 2^-128) with U from the first 8 pieces.
		u := new(big.Float).SetPrec(300)
		for i, v := range pieces {
			u.Add(u, new(big.Float).SetMantExp(new(big.Float).SetUint64(v), -16*(i+1)))
		}
		p := new(big.Float).SetPrec(300).SetUint64(head)
		p.Add(p, new(big.Float).SetFloat64(rest))
		p.SetMantExp(p, -16)
		uHi := new(big.Float).SetPrec(300).Add(u, new(big.Float).SetMantExp(big.NewFloat(1), -128))
		switch {
		case uHi.Cmp(p) <= 0:
			require.Truef(t, got, "trial %d", trial)
		case u.Cmp(p) >= 0:
			require.Falsef(t, got, "trial %d", trial)
		default:
			t.Fatalf("trial %d: undecided at 128 bits", trial)
		}
	}
}

// TestStreamsAreIndependentOfEachOther: the streams of neighbouring blocks
// and keys start at unrelated points (no shared prefix).
func TestStreamsAreIndependentOfEachOther(t *testing.T) {
	seen := map[uint64]string{}
	s := newStream()
	for key := range uint64(4) {
		for b := range 64 {
			s.reset(key, b)
			for i := range 16 {
				v := s.Uint64()
				id := fmt.Sprintf("key %d block %d draw %d", key, b, i)
				if prev, ok := seen[v]; ok {
					t.Fatalf("%s repeats %s", id, prev)
				}
				seen[v] = id
			}
		}
	}
}

// BenchmarkNoiseCode times one noisy readout code at the default σ, for
// tile values typical of a 6-bit converter (x mostly within ±0.3 steps),
// against one math/rand/v2 NormFloat64 (the draw it replaced).
func BenchmarkNoiseCode(b *testing.B) {
	xs := make([]float64, 4096)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range xs {
		xs[i] = 0.2 * rng.NormFloat64()
	}
	b.Run("sampler", func(b *testing.B) {
		nm, s := newNoiseModel(0.08), newStream()
		s.reset(1, 1)
		var sum float64
		for i := 0; b.Loop(); i++ {
			sum += nm.code(xs[i%len(xs)], s)
		}
		_ = sum
	})
	b.Run("NormFloat64", func(b *testing.B) {
		var sum float64
		for i := 0; b.Loop(); i++ {
			sum += math.RoundToEven(xs[i%len(xs)] + 0.08*rng.NormFloat64())
		}
		_ = sum
	})
}
