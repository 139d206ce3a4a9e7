package rns

import (
	"math"
	"math/rand/v2"
)

// The readout model. A modular dot product with residue s in [0, m) leaves
// the photonic core as a phase φ = 2π·s/m. Analog noise adds a Gaussian
// error of standard deviation σ_φ (radians) to the phase, and the readout
// rounds the phase to the nearest of the m levels, modulo m. In residue
// steps the noise is σ = σ_φ·m/(2π), and the readout is wrong by
// δ = round(z), z ~ N(0, σ²), which is nonzero with probability
// erfc(1/(2σ√2)).

// MaxStepSigma is the largest noise σ, in residue steps, the readout model
// accepts. A wrong readout is off by δ = round(z) mod m; once σ is a few
// times m, δ mod m is uniform over the residues to within a total-variation
// distance of 2·exp(-2π²σ²/m²) (the wrapped normal's Fourier series), so
// every σ ≥ 10·m gives readouts that are indistinguishable from uniformly
// random ones (about 1e-1996 for m ≤ 2^16, this package's largest
// modulus, at σ = 1e6). The limit also keeps σ·x exactly
// representable as an int64 for any normal deviate x: beyond about 1e18,
// int64(math.Round(σx)) saturates and the error would become a fixed offset
// instead of noise. Backends refuse larger σ.
const MaxStepSigma = 1e6

// StepSigma converts a phase noise σ_φ (radians) into residue steps of
// modulus m.
func StepSigma(phaseSigma float64, m int64) float64 {
	return phaseSigma * float64(m) / (2 * math.Pi)
}

// ErrorProbability returns the probability that a readout with noise σ (in
// residue steps) is wrong: P(|z| > 1/2) = erfc(0.5/(σ√2)). Wrap-around
// (|δ| ≥ m, which leaves the residue unchanged) is ignored; it matters only
// for σ comparable to m.
func ErrorProbability(sigma float64) float64 {
	if sigma <= 0 {
		return 0
	}
	return math.Erfc(0.5 / (sigma * math.Sqrt2))
}

// Readout performs one noisy phase readout: the exact residue s of modulus
// m leaves the core as the phase φ = 2π·s/m, the phase noise is added, and
// the readout picks the nearest of the m levels 2π·l/m, wrapping modulo
// 2π. In units of levels φ·m/(2π) = s + z with z = noise·m/(2π), so the
// level read is round(s + z) mod m, which is what this computes.
func Readout(s, m int64, phaseNoise float64) int64 {
	z := phaseNoise * float64(m) / (2 * math.Pi)
	return Mod(s+int64(math.Round(z)), m)
}

// TailDelta samples the error of a wrong readout: δ = round(z) for
// z ~ N(0, σ²) conditioned on |z| > 1/2 (so δ ≠ 0). It costs O(1) however
// rare errors are, which is what lets the fast mode skip the correct
// readouts.
func TailDelta(rng *rand.Rand, sigma float64) int64 {
	a := 0.5 / sigma // the threshold in standard deviations
	var x float64
	if a < 1 {
		// Plain rejection accepts with probability erfc(a/√2) ≥ 0.31.
		for {
			x = rng.NormFloat64()
			if math.Abs(x) > a {
				break
			}
		}
	} else {
		// Robert (1995): exponential proposal for the tail x > a, with the
		// optimal rate λ; it accepts at least 76% of proposals for any a.
		lambda := (a + math.Sqrt(a*a+4)) / 2
		for {
			z := a + rng.ExpFloat64()/lambda
			d := z - lambda
			if rng.Float64() <= math.Exp(-d*d/2) {
				x = z
				break
			}
		}
		if rng.IntN(2) == 0 {
			x = -x
		}
	}
	return int64(math.Round(sigma * x))
}

// Gap samples the number of correct readouts before the next wrong one, for
// a per-readout error probability p given as logQ = log(1-p): a geometric
// variable, so that error positions can be drawn directly, O(number of
// errors) instead of O(number of readouts).
func Gap(rng *rand.Rand, logQ float64) int64 {
	u := 1 - rng.Float64() // in (0, 1]
	g := math.Floor(math.Log(u) / logQ)
	if g > math.MaxInt64/2 {
		return math.MaxInt64 / 2
	}
	return int64(g)
}
