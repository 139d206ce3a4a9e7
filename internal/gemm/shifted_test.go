package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// shiftedValues returns n floats that make the order of additions show:
// ordinary values, values far apart in magnitude, zeros of both signs and
// an occasional NaN.
func shiftedValues(rng *rand.Rand, n int, nan bool) []float32 {
	s := make([]float32, n)
	for i := range s {
		switch r := rng.IntN(25); {
		case r == 0:
			s[i] = float32(math.Copysign(0, -1))
		case r == 1:
			s[i] = 0
		case r == 2:
			s[i] = float32(rng.NormFloat64() * 1e5)
		case r == 3:
			s[i] = float32(rng.NormFloat64() * 1e-5)
		case r == 4 && nan:
			s[i] = float32(math.NaN())
		default:
			s[i] = float32(rng.NormFloat64())
		}
	}
	return s
}

// TestShiftedMatchesSerialGEMMs checks SgemmShifted, on every kernel, bit
// for bit against what it replaces: one SgemmSerial per entry, in order,
// each adding its product onto C at its shift. Row counts that are and are
// not multiples of the tiles, columns that end inside a tile, overlapping
// and repeated shifts, blocks of C that the entries cross, and A, B and C
// holding zeros of both signs and NaN.
func TestShiftedMatchesSerialGEMMs(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	cases := []struct {
		m, n, k int
		shifts  []int
	}{
		{1, 1, 1, []int{0}},
		{7, 17, 3, []int{5, 0, 5, 2}},
		{16, 1088, 16, []int{70, 69, 68, 36, 35, 34, 2, 1, 0}}, // ResNet-20 stage 1, one image
		{64, 80, 64, []int{22, 21, 20, 11, 10, 9, 2, 1, 0}},    // stage 3
		{6, 100, 25, []int{0, 300, 33}},                        // shifts beyond a block
		{13, 40, KBlock, []int{1, 0}},
		{100, 9, 5, []int{7, 3, 3, 0}},
	}
	for _, set := range everyKernel() {
		for _, tc := range cases {
			ldb := tc.n + tc.k%3
			ldc := tc.n + 3
			for _, s := range tc.shifts {
				ldc = max(ldc, s+tc.n)
			}
			a := shiftedValues(rng, len(tc.shifts)*tc.m*tc.k, true)
			b := shiftedValues(rng, (tc.k-1)*ldb+tc.n+shiftedSlack, true)
			c0 := shiftedValues(rng, (tc.m-1)*ldc+ldc, false)
			want := append([]float32(nil), c0...)
			for e, s := range tc.shifts {
				ae := a[e*tc.m*tc.k : (e+1)*tc.m*tc.k]
				SgemmSerial(false, false, tc.m, tc.n, tc.k, 1, ae, tc.k, b, ldb, 1, want[s:], ldc)
			}
			got := append([]float32(nil), c0...)
			pa := packShiftedA(set, nil, a, false, len(tc.shifts), tc.m, tc.k)
			sgemmShifted(set, tc.m, tc.n, tc.k, pa, tc.shifts, b, ldb, got, ldc)
			name := fmt.Sprintf("%s/m%d_n%d_k%d_shifts%v", set.name, tc.m, tc.n, tc.k, tc.shifts)
			requireSameBits(t, want, got, name)

			// A stored transposed packs to the same panels.
			at := make([]float32, len(a))
			for e := range tc.shifts {
				for i := range tc.m {
					for p := range tc.k {
						at[e*tc.m*tc.k+p*tc.m+i] = a[e*tc.m*tc.k+i*tc.k+p]
					}
				}
			}
			requireSameBits(t, pa, packShiftedA(set, nil, at, true, len(tc.shifts), tc.m, tc.k), name+"/transposed")
		}
	}
}

// requireSameBits compares two float slices bit for bit (NaN included).
func requireSameBits(t *testing.T, want, got []float32, name string) {
	t.Helper()
	require.Equal(t, len(want), len(got), name)
	for i := range want {
		if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
			require.Failf(t, "different element", "%s: element %d is %g (%#x), want %g (%#x)", name, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

// TestShiftedPanics checks that SgemmShifted refuses operands it would
// read or write past, and a reduction longer than one block.
func TestShiftedPanics(t *testing.T) {
	m, n, k := 7, 20, 4
	pa := PackShiftedA(nil, make([]float32, 2*m*k), false, 2, m, k)
	b := make([]float32, (k-1)*n+n+shiftedSlack)
	c := make([]float32, m*30)
	require.NotPanics(t, func() { SgemmShifted(m, n, k, pa, []int{10, 0}, b, n, c, 30) })
	for name, f := range map[string]func(){
		"shift past the row":  func() { SgemmShifted(m, n, k, pa, []int{11, 0}, b, n, c, 30) },
		"negative shift":      func() { SgemmShifted(m, n, k, pa, []int{-1, 0}, b, n, c, 30) },
		"B without its slack": func() { SgemmShifted(m, n, k, pa, []int{1, 0}, b[:len(b)-1], n, c, 30) },
		"short C":             func() { SgemmShifted(m, n, k, pa, []int{10, 0}, b, n, c[:len(c)-1], 30) },
		"too few packed A":    func() { SgemmShifted(m, n, k, pa, []int{1, 0, 2}, b, n, c, 30) },
		"k beyond one block":  func() { SgemmShifted(m, n, KBlock+1, pa, []int{0}, b, n, c, 30) },
	} {
		require.Panics(t, f, name)
	}
}
