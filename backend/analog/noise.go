package analog

import (
	"math"
	"math/rand/v2"
)

// The ADC noise: how a noisy readout code = roundEven(x + σz), z ~ N(0, 1),
// x = P/Δ, is drawn fast, on any number of goroutines, with results that
// do not depend on how the work is split.
//
// # Streams
//
// Every call of product draws one 64-bit key from the backend's PCG
// generator (the state saved by MarshalState, so a resumed run continues
// with the same keys), and cuts its work into items that depend only on
// the product's shape (see partition). Item b reads its noise from its
// own stream, SplitMix64 started at a hash of (key, b), in the order
// tile, row, column. So which goroutine reads an item out, and how many
// there are, changes nothing. (SplitMix64 passes BigCrush; streams of
// different items start at independent 64-bit points, and one stream
// holds far fewer than 2^40 values, so they do not overlap in practice.)
//
// # Reading most codes with one comparison
//
// Let c0 = roundEven(x) and d = 1/2 − |x − c0| the distance from x to the
// nearer rounding boundary. Whenever |σz| < d, x + σz stays strictly
// between the boundaries c0 ± 1/2 and the code is c0. So, for any T with
// σT ≤ d, split z's distribution on the event |z| ≤ T (probability
// 1 − p(T), p(T) = erfc(T/√2)) and its complement:
//
//	P(code = c) = P(|z| ≤ T)·[c = c0] + p(T)·P(roundEven(x + σz) = c | |z| > T)
//
// which is exactly what the sampler does: with probability 1 − p(T) it
// returns c0 without drawing z at all; otherwise it draws z from N(0, 1)
// conditioned on |z| > T (a random sign times a normal tail sample beyond
// T) and returns roundEven(x + σz). Both branches together have exactly the
// Gaussian model's distribution of codes, for every x and σ. The choice of
// T depends on x only, not on any random draw: T is the largest multiple of
// 1/levelsPerSigma not above d/σ (capped at maxLevel/levelsPerSigma), and
// for d < σ/levelsPerSigma a full normal is drawn instead. At the defaults
// (6-bit ADC, σ = 0.08 steps) nearly all tile values are within a quarter
// step of 0, d/σ is above 4, and p(T) is below 10^-4: a readout costs a
// 16-bit piece of one random word.
//
// The event "u < p(T)" for a uniform u is decided lazily, 16 bits of u at
// a time against the binary digits of p(T) (a float64): almost always the
// first 16 bits differ from p(T)'s first 16 binary digits and decide; when
// they are equal the next 16 bits are compared with the next digits, and
// so on. This is the comparison of an infinitely precise uniform with the
// float64 p(T), so p(T) is used to full float64 precision, however small.
//
// The normal draws (tails, full normals) are math/rand/v2's ziggurat
// NormFloat64 and ExpFloat64 on the item's stream. A tail beyond T < 1 is
// sampled by drawing normals until |z| > T (accepted with probability
// p(T) > 0.31); a tail beyond T ≥ 1 by Marsaglia's method: a = E1/T,
// b = E2 for exponentials E1, E2, repeated until 2b > a², gives T + a,
// distributed as z given z > T (acceptance above 0.65 for T ≥ 1).
//
// This scheme replaced one rng.NormFloat64 per live readout from one
// generator in readout order, which kept noisy readouts on one goroutine
// and cost about a second per ResNet-20 step: runs with ADC noise draw
// different noise than before (same distribution), noise-free runs are
// unchanged bit for bit.

// Tail levels: T = k/levelsPerSigma for k = 1 … maxLevel.
const (
	levelsPerSigma = 4
	maxLevel       = 64 // T = 16: p(T) ≈ 1.3e-57
)

// noiseModel holds σ and the tail probabilities p(T) of the levels, split
// for the lazy comparison into the first 16 binary digits and the rest.
type noiseModel struct {
	sigma float64
	// levelScale is levelsPerSigma/σ, shrunk by a relative 2^-40 so that
	// floor(d·levelScale)/levelsPerSigma·σ ≤ d despite rounding.
	levelScale float64
	head       [maxLevel + 1]uint64  // floor(p(T)·2^16)
	rest       [maxLevel + 1]float64 // p(T)·2^16 − head, in [0, 1)
	// head16 is head[0..31] in 16 bits, the table the readout kernels
	// look up with min(level, 31): head[k] is 0 from k = 18 on
	// (p(T) < 2^-16), and head[0] is 0 (TestHeadTable).
	head16 [32]uint16
}

func newNoiseModel(sigma float64) *noiseModel {
	nm := &noiseModel{sigma: sigma}
	if sigma > 0 {
		nm.levelScale = levelsPerSigma / sigma * (1 - 0x1p-40)
	}
	for k := 1; k <= maxLevel; k++ {
		v := math.Erfc(float64(k)/levelsPerSigma/math.Sqrt2) * (1 << 16)
		h := math.Floor(v)
		nm.head[k], nm.rest[k] = uint64(h), v-h
	}
	for k := range nm.head16 {
		nm.head16[k] = uint16(nm.head[k])
	}
	return nm
}

// code returns the noisy readout code roundEven(x + σz) (before clamping),
// z ~ N(0, 1) drawn from s as described above. It handles the common case
// (a level ≥ 1 and a 16-bit piece above p(T)'s first digits, so u > p(T)
// and the code is c0) and leaves anything else to slowCode, which starts
// over from the same stream position. The readout loop (blockRead.readTile)
// holds a copy of this function, inlined by hand; the tests compare the
// two.
func (nm *noiseModel) code(x float64, s *stream) float64 {
	c0 := math.RoundToEven(x)
	level := (0.5 - math.Abs(x-c0)) * nm.levelScale
	if s.nbits == 0 {
		s.bits, s.nbits = s.Uint64(), 64
	}
	if level > maxLevel {
		level = maxLevel
	}
	if level >= 1 && s.bits&0xffff > nm.head[int(level)] {
		s.bits >>= 16
		s.nbits -= 16
		return c0
	}
	return nm.slowCode(x, s)
}

// slowCode is code without the shortcut for the common case.
func (nm *noiseModel) slowCode(x float64, s *stream) float64 {
	c0 := math.RoundToEven(x)
	level := (0.5 - math.Abs(x-c0)) * nm.levelScale
	if !(level >= 1) { // also NaN: a tile of a block that held Inf or NaN
		return math.RoundToEven(x + nm.sigma*s.rng.NormFloat64())
	}
	k := int(min(level, maxLevel))
	if !s.below(nm.head[k], nm.rest[k]) {
		return c0
	}
	z := tail(float64(k)/levelsPerSigma, s)
	return math.RoundToEven(x + nm.sigma*z)
}

// tail returns z ~ N(0, 1) conditioned on |z| > t, for t > 0.
func tail(t float64, s *stream) float64 {
	if t < 1 {
		for {
			if z := s.rng.NormFloat64(); math.Abs(z) > t {
				return z
			}
		}
	}
	for {
		a := s.rng.ExpFloat64() / t
		if 2*s.rng.ExpFloat64() > a*a {
			if s.rng.Uint64()&1 == 0 {
				return -(t + a)
			}
			return t + a
		}
	}
}

// stream is one item's random numbers: SplitMix64, with a buffer of
// 16-bit pieces for the lazy comparisons and a rand.Rand over the same
// generator for normal and exponential draws.
type stream struct {
	state uint64
	bits  uint64 // unused 16-bit pieces of the last word, low first
	nbits int
	rng   *rand.Rand
}

func newStream() *stream {
	s := &stream{}
	s.rng = rand.New(s)
	return s
}

// reset starts the stream of item b under key.
func (s *stream) reset(key uint64, b int) {
	s.state = mix(key ^ mix(uint64(b)+0x9e3779b97f4a7c15))
	s.bits, s.nbits = 0, 0
}

// Uint64 implements rand.Source: the next SplitMix64 output.
func (s *stream) Uint64() uint64 {
	s.state += 0x9e3779b97f4a7c15
	return mix(s.state)
}

// mix is SplitMix64's finaliser, a bijection of uint64.
func mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// piece returns the next 16 random bits.
func (s *stream) piece() uint64 {
	if s.nbits == 0 {
		s.bits, s.nbits = s.Uint64(), 64
	}
	v := s.bits & 0xffff
	s.bits >>= 16
	s.nbits -= 16
	return v
}

// below reports whether a uniform u on [0, 1), drawn 16 bits at a time as
// needed, is below p = (head + rest)/2^16, with head = floor(p·2^16).
func (s *stream) below(head uint64, rest float64) bool {
	for {
		r := s.piece()
		if r != head {
			return r < head
		}
		// The first digits are equal: compare the rest of u, again a
		// uniform on [0, 1), with the rest of p. Scaling by 2^16 and
		// taking the floor are exact in float64, so this ends once p's
		// finitely many binary digits are used up.
		if rest == 0 {
			return false
		}
		v := rest * (1 << 16)
		h := math.Floor(v)
		head, rest = uint64(h), v-h
	}
}
