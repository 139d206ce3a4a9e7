package autograd

import "math"

// A fast error function for GELU.
//
// math.Erf is accurate to float64 precision and costs accordingly; BERT's
// feed-forward layers evaluate it (and math.Exp) on millions of values per
// step, as long as their GEMMs take. Training is in float32, so an erf
// accurate to about 1e-8 relative (float32 rounding is 6e-8) is enough:
//
//   - |x| < 0.5: erf(x) = x·P(x²), a degree-4 least-squares fit of
//     erf(x)/x (relative error below 4e-9);
//   - otherwise erfc(z) = exp(−z²)·t·G(t) with t = 1/(1 + z/2), z = |x|,
//     where G(t) = erfc(z)·exp(z²)/t is smooth on t ∈ (0, 1] (all z ≥ 0)
//     and is a degree-11 polynomial in s = 2t − 1 fitted at Chebyshev nodes
//     (relative error below 2e-8 for every z ≥ 0).
//
// The exponential is math.Exp (assembly on amd64, faster than any
// polynomial written in Go here). The arithmetic is float64, which for
// scalar code costs the same as float32 and keeps z² and the exponent
// exact; what makes it fast is one short polynomial and one exponential
// per value, with exp(−x²/2) shared between GELU's Φ(x) and φ(x) in the
// backward pass (math.Erf alone evaluates up to two rational functions and
// an exponential, and the old backward pass called it and math.Exp).

// erfSmall are the coefficients of P, erf(x) ≈ x·P(x²) for |x| < 0.5.
var erfSmall = [...]float64{
	1.1283791660563076, -0.3761261595036971, 0.1128299162353277,
	-0.02676928550740361, 0.004744676577653776,
}

// erfcG are the coefficients of G in s = 2t − 1, lowest degree first.
var erfcG = [...]float64{
	0.5107913569159448, 0.34358033297010476, 0.13973573352196603,
	0.018221384245556145, -0.010751626186920722, -0.0032418548941169217,
	0.001529157161727519, 0.0004270201477376227, -0.000299382713125911,
	-3.295153619568174e-05, 4.216119758590911e-05, -1.3273966253705588e-06,
}

// erfcScaled returns erfc(z)·exp(z²) for z ≥ 0.
func erfcScaled(z float64) float64 {
	t := 1 / (1 + 0.5*z)
	s := 2*t - 1
	g := erfcG[len(erfcG)-1]
	for i := len(erfcG) - 2; i >= 0; i-- {
		g = g*s + erfcG[i]
	}
	return t * g
}

// erf32 returns erf(x) with a relative error below 1e-7 (see above).
func erf32(x float32) float32 {
	v := float64(x)
	z := math.Abs(v)
	if z < 0.5 {
		z2 := z * z
		p := erfSmall[4]
		for i := 3; i >= 0; i-- {
			p = p*z2 + erfSmall[i]
		}
		return float32(v * p)
	}
	e := 1 - math.Exp(-z*z)*erfcScaled(z)
	if v < 0 {
		e = -e
	}
	return float32(e)
}

// normalCDFPDF returns Φ(x) and φ(x), the standard normal distribution
// function and density, with relative errors below 1e-7 for both tails:
// Φ(x) for x < 0 is computed from erfc, never as 1 − something.
func normalCDFPDF(x float64) (cdf, pdf float64) {
	const invSqrt2Pi = 0.3989422804014327
	z := math.Abs(x) * (1 / math.Sqrt2)
	e := math.Exp(-z * z) // exp(−x²/2)
	pdf = invSqrt2Pi * e
	var tail float64 // Φ(−|x|) = erfc(z)/2
	if z < 0.5 {
		z2 := z * z
		p := erfSmall[4]
		for i := 3; i >= 0; i-- {
			p = p*z2 + erfSmall[i]
		}
		tail = 0.5 - 0.5*z*p
	} else {
		tail = 0.5 * e * erfcScaled(z)
	}
	if x < 0 {
		return tail, pdf
	}
	return 1 - tail, pdf
}
