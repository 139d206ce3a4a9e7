package rns

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPresets(t *testing.T) {
	want := map[string][]int64{
		"special-k4": {15, 16, 17},
		"special-k5": {31, 32, 33},
		"special-k6": {63, 64, 65},
		"special-k7": {127, 128, 129},
		"special-k8": {255, 256, 257},
	}
	require.Len(t, PresetNames(), len(want))
	for _, name := range PresetNames() {
		got, ok := Preset(name)
		require.True(t, ok, name)
		require.Equal(t, want[name], got)
		_, err := NewSet(got, nil)
		require.NoError(t, err, "preset %s must be pairwise coprime", name)
	}
	for _, bad := range []string{"special-k3", "special-k9", "special-kx", "k6"} {
		_, ok := Preset(bad)
		require.False(t, ok, bad)
	}
}

func TestParseModuli(t *testing.T) {
	cases := []struct {
		in   string
		want []int64
		err  string
	}{
		{"special-k6", []int64{63, 64, 65}, ""},
		{"31, 32,33", []int64{31, 32, 33}, ""},
		{"", nil, "no moduli given"},
		{"63,x,65", nil, `"x" is neither an integer nor a preset`},
	}
	for _, tc := range cases {
		got, err := ParseModuli(tc.in)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tc.want, got)
	}
}

func TestNewSetRefusesInvalid(t *testing.T) {
	cases := []struct {
		base, red []int64
		err       string
	}{
		{nil, nil, "empty moduli set"},
		{[]int64{63, 1}, nil, "modulus 1 is outside [2, 65536]"},
		{[]int64{63, 70000}, nil, "modulus 70000 is outside"},
		{[]int64{63, 64, 66}, nil, "moduli 63 and 66 share the factor 3"},
		{[]int64{63, 64, 65}, []int64{67, 4757}, "moduli 67 and 4757 share the factor 67"},
		{[]int64{63, 64, 65}, []int64{61}, "redundant modulus 61 must be larger than every base modulus (largest 65)"},
		{[]int64{65521, 65519, 65497, 65479}, nil, "too large for this emulator"},
	}
	for _, tc := range cases {
		_, err := NewSet(tc.base, tc.red)
		require.ErrorContains(t, err, tc.err, "%v + %v", tc.base, tc.red)
	}
}

// TestRoundTripEveryValue converts every value of the signed range to
// residues and back, for odd and even products.
func TestRoundTripEveryValue(t *testing.T) {
	sets := [][]int64{
		{3, 5, 7},            // M = 105, odd
		{15, 16, 17},         // special-k4, M = 4080, even
		{31, 32, 33},         // special-k5, even
		{63, 64, 65},         // special-k6, even
		{2, 3, 5, 7, 11, 13}, // M = 30030, even, six moduli
		{7, 9, 11, 13, 17},   // M = 153153, odd
		{127, 128, 129},      // special-k7, M = 2097024
	}
	for _, moduli := range sets {
		s, err := NewSet(moduli, nil)
		require.NoError(t, err)
		M := s.BaseProduct()
		lo, hi := -(M / 2), (M+1)/2-1
		require.Equal(t, M, hi-lo+1, "the signed range must hold exactly M values")
		require.Equal(t, min(-lo, hi), s.MaxMagnitude())
		res := make([]int64, len(moduli))
		for x := lo; x <= hi; x++ {
			res = s.Residues(x, res)
			for i, m := range moduli {
				if res[i] < 0 || res[i] >= m {
					t.Fatalf("%v: residue %d of %d out of [0,%d)", moduli, res[i], x, m)
				}
			}
			got, st := s.Decode(res)
			if got != x || st != Clean {
				t.Fatalf("%v: %d decodes to %d (%v)", moduli, x, got, st)
			}
		}
		// Just outside the range wraps to the other end.
		got, _ := s.Decode(s.Residues(hi+1, res))
		require.Equal(t, lo, got, "%v: hi+1 wraps to lo", moduli)
	}
}

func TestEvenProductConvention(t *testing.T) {
	s, err := NewSet([]int64{3, 4}, nil) // M = 12: range [-6, 5]
	require.NoError(t, err)
	for x, want := range map[int64]int64{5: 5, 6: -6, -6: -6, -7: 5, 11: -1} {
		got, _ := s.Decode(s.Residues(x, nil))
		require.Equal(t, want, got, "x=%d", x)
	}
	require.Equal(t, int64(5), s.MaxMagnitude())
}

func TestShiftMatchesDecodedResidueError(t *testing.T) {
	s, err := NewSet([]int64{63, 64, 65}, nil)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 1))
	for range 2000 {
		x := rng.Int64N(2*s.MaxMagnitude()) - s.MaxMagnitude()
		i := rng.IntN(3)
		delta := rng.Int64N(9) - 4
		res := s.Residues(x, nil)
		res[i] = Mod(res[i]+delta, s.Modulus(i))
		want, _ := s.Decode(res)
		require.Equal(t, want, s.Shift(x, i, delta))
		// The coefficient really is M_i·|M_i^-1|: 1 mod m_i, 0 mod the others.
		for k := range 3 {
			want := int64(0)
			if k == i {
				want = 1
			}
			require.Equal(t, want, s.Coefficient(i)%s.Modulus(k))
		}
	}
}

func TestAutoRedundant(t *testing.T) {
	require.Equal(t, []int64{67, 71}, AutoRedundant([]int64{63, 64, 65}, 2))
	require.Equal(t, []int64{259, 263}, AutoRedundant([]int64{255, 256, 257}, 2))
	require.Equal(t, []int64{35, 37, 41}, AutoRedundant([]int64{31, 32, 33}, 3))
}

// TestRRNSCorrectsSinglesDetectsDoubles injects every single residue error
// (every modulus, every nonzero δ) and every double error (every pair of
// moduli, every pair of nonzero δ) into sampled values of the range.
func TestRRNSCorrectsSinglesDetectsDoubles(t *testing.T) {
	for _, base := range [][]int64{{63, 64, 65}, {31, 32, 33}} {
		s, err := NewSet(base, AutoRedundant(base, 2))
		require.NoError(t, err)
		rng := rand.New(rand.NewPCG(2, 3))
		values := []int64{0, s.MaxMagnitude(), -s.MaxMagnitude(), -s.BaseProduct() / 2, 1, -1}
		for range 4 {
			values = append(values, rng.Int64N(2*s.MaxMagnitude())-s.MaxMagnitude())
		}
		n := s.Len()
		res := make([]int64, n)
		var singles, doubles, doublesMiscorrected int
		for _, x := range values {
			clean := s.Residues(x, nil)
			got, st := s.Decode(clean)
			require.Equal(t, x, got)
			require.Equal(t, Clean, st)
			for i := range n {
				for d := int64(1); d < s.Modulus(i); d++ {
					copy(res, clean)
					res[i] = Mod(res[i]+d, s.Modulus(i))
					got, st := s.Decode(res)
					if got != x || st != Corrected {
						t.Fatalf("%v: x=%d, modulus %d off by %d: got %d (%v), want corrected", s.Moduli(), x, s.Modulus(i), d, got, st)
					}
					singles++
				}
			}
			for i := range n {
				for j := i + 1; j < n; j++ {
					for di := int64(1); di < s.Modulus(i); di++ {
						for dj := int64(1); dj < s.Modulus(j); dj += 3 { // every third δ_j keeps the test fast
							copy(res, clean)
							res[i] = Mod(res[i]+di, s.Modulus(i))
							res[j] = Mod(res[j]+dj, s.Modulus(j))
							got, st := s.Decode(res)
							if st == Clean {
								t.Fatalf("%v: x=%d, double error (%d,%d) not detected", s.Moduli(), x, di, dj)
							}
							if st == Corrected && got != x {
								doublesMiscorrected++
							}
							doubles++
						}
					}
				}
			}
		}
		t.Logf("%v: %d single errors all corrected, %d double errors all detected (%d of them then mis-corrected, as distance 3 allows)", s.Moduli(), singles, doubles, doublesMiscorrected)
	}
}

func TestRRNSFourRedundantCorrectsDoubles(t *testing.T) {
	base := []int64{15, 16, 17}
	s, err := NewSet(base, AutoRedundant(base, 4))
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(5, 5))
	for range 3000 {
		x := rng.Int64N(2*s.MaxMagnitude()) - s.MaxMagnitude()
		res := s.Residues(x, nil)
		i := rng.IntN(s.Len())
		j := (i + 1 + rng.IntN(s.Len()-1)) % s.Len()
		res[i] = Mod(res[i]+1+rng.Int64N(s.Modulus(i)-1), s.Modulus(i))
		res[j] = Mod(res[j]+1+rng.Int64N(s.Modulus(j)-1), s.Modulus(j))
		got, st := s.Decode(res)
		require.Equal(t, Corrected, st)
		require.Equal(t, x, got)
	}
}

func TestReadoutModel(t *testing.T) {
	// Without noise the readout is exact; a phase shift of k steps moves it
	// by k, wrapping modulo m.
	for _, m := range []int64{63, 64, 65} {
		step := 2 * math.Pi / float64(m)
		for s := int64(0); s < m; s++ {
			require.Equal(t, s, Readout(s, m, 0))
			require.Equal(t, s, Readout(s, m, 0.49*step))
			require.Equal(t, Mod(s+1, m), Readout(s, m, 0.51*step))
			require.Equal(t, Mod(s-2, m), Readout(s, m, -2.2*step))
		}
	}
	require.InDelta(t, 1.0, StepSigma(2*math.Pi/64, 64), 1e-12)
	require.Equal(t, 0.0, ErrorProbability(0))
	require.InDelta(t, 0.3173105, ErrorProbability(0.5), 1e-6) // erfc(1/√2)
}

// TestTailDelta compares the sampled conditional distribution of δ with
// the exact one, P(round(z) = d | round(z) ≠ 0), for every |d| ≤ 3; each
// frequency must be within 4 standard errors.
func TestTailDelta(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, sigma := range []float64{0.08, 0.2, 0.5, 1.5} {
		const n = 40000
		counts := map[int64]int{}
		for range n {
			d := TailDelta(rng, sigma)
			require.NotZero(t, d)
			counts[d]++
		}
		pNonzero := ErrorProbability(sigma)
		phi := func(x float64) float64 { return 0.5 * math.Erfc(-x/(sigma*math.Sqrt2)) }
		for d := int64(-3); d <= 3; d++ {
			if d == 0 {
				continue
			}
			p := (phi(float64(d)+0.5) - phi(float64(d)-0.5)) / pNonzero
			se := math.Sqrt(p * (1 - p) / n)
			got := float64(counts[d]) / n
			require.InDelta(t, p, got, 4*se+1e-12, fmt.Sprintf("σ=%g δ=%d", sigma, d))
		}
	}
}

// TestGap checks the mean of the geometric gap, (1-p)/p, within 4 standard
// errors.
func TestGap(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, p := range []float64{0.5, 0.01, 1e-4} {
		const n = 20000
		var sum float64
		for range n {
			sum += float64(Gap(rng, math.Log1p(-p)))
		}
		mean := (1 - p) / p
		sd := math.Sqrt(1-p) / p
		require.InDelta(t, mean, sum/n, 4*sd/math.Sqrt(n), "p=%g", p)
	}
}
