package bfp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// denseSource is a Source backed by a stored matrix; it poisons Fill's
// scratch and checks that Fill is asked only for rows that exist.
type denseSource struct {
	data        []float32
	width, rows int
	block       int
}

func (s *denseSource) Width() int    { return s.width }
func (s *denseSource) RowBlock() int { return s.block }
func (s *denseSource) Fill(dst []float32, r0, r1 int, scratch *[]float32) {
	if r0 < 0 || r1 > s.rows || r0 >= r1 || len(dst) < (r1-r0)*s.width {
		panic(fmt.Sprintf("Fill rows [%d, %d) of %d into %d floats", r0, r1, s.rows, len(dst)))
	}
	*scratch = append((*scratch)[:0], float32(math.NaN()))
	copy(dst, s.data[r0*s.width:r1*s.width])
}

// sameBits requires bit-identical float32 slices, the sign of zeros and
// NaN payloads included.
func sameBits(t *testing.T, want, got []float32, msg string) {
	t.Helper()
	require.Len(t, got, len(want), msg)
	for i := range want {
		if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
			require.Failf(t, "differ", "%s: element %d: want %v, got %v", msg, i, want[i], got[i])
		}
	}
}

// TestQuantiseSourceMatchesQuantise: quantising an operand given by a
// Source gives what Quantise of the stored matrix gives, bit for bit
// (values, exponents, NonFinite), for both layouts, offsets r0 and
// widths wider than the vectors, both roundings (the random draws in the
// same order), every block kind, K not a multiple of the tile, and sizes
// that are split among goroutines and into several chunks.
func TestQuantiseSourceMatchesQuantise(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 12))
	formats := []Format{{Bits: 6, Tile: 128}, {Bits: 5, Tile: 7}, {Bits: 8, Tile: 16, Rounding: Stochastic}, {Bits: 6, Tile: 32, Rounding: Stochastic}, {Bits: 4, Tile: 1}}
	for _, f := range formats {
		for trial := 0; trial < 16; trial++ {
			strided := trial%2 == 1
			rows, k := 1+rng.IntN(70), 1+rng.IntN(300)
			if trial%4 >= 2 {
				rows, k = 100+rng.IntN(200), 300+rng.IntN(2000) // split among goroutines, several chunks
			}
			if strided && trial%8 >= 4 {
				rows, k = 1+rng.IntN(30), 2000+rng.IntN(30000) // few columns, long K: many tile chunks
			}
			r0 := rng.IntN(20)
			// The stored matrix: rows of `width` floats; the vectors are
			// its rows r0… (first k columns), or its columns over rows
			// r0 … r0+k-1.
			width, stored := k+rng.IntN(3), r0+rows+rng.IntN(3)
			if strided {
				width, stored = rows+rng.IntN(3), r0+k+rng.IntN(3)
			}
			cols := columnOperand(rng, stored, width, width, f.Tile, f.Bits, trial%3 == 0, true)
			if !strided {
				// columnOperand's blocks run down columns; transpose the
				// kinds into rows by building the row-major operand from
				// its transpose.
				tr := columnOperand(rng, width, stored, stored, f.Tile, f.Bits, trial%3 == 0, true)
				for i := range stored {
					for j := range width {
						cols[i*width+j] = tr[j*stored+i]
					}
				}
			}
			src := &denseSource{data: cols, width: width, rows: stored, block: 1 + rng.IntN(40)}
			name := fmt.Sprintf("%s %s rows %d k %d r0 %d width %d strided %v", formatName(f), f.Rounding, rows, k, r0, width, strided)
			var want, got Matrix
			qa, qb := NewQuantiser(f, 5), NewQuantiser(f, 5)
			require.NoError(t, qa.Quantise(&want, cols[r0*width:], width, rows, k, strided), name)
			require.NoError(t, qb.QuantiseSource(&got, src, r0, rows, k, strided), name)
			sameBits(t, want.Values, got.Values, name+" values")
			require.Equal(t, want.Exp, got.Exp, name+" exponents")
			require.Equal(t, want.NonFinite, got.NonFinite, name)
			require.Equal(t, want.KMajor, got.KMajor, name)
			// The generators were advanced alike.
			require.Equal(t, qa.rng.Uint64(), qb.rng.Uint64(), name)
		}
	}
}

func TestQuantiseSourceRefusesNarrowSource(t *testing.T) {
	q := NewQuantiser(Format{Bits: 6, Tile: 8}, 1)
	src := &denseSource{data: make([]float32, 40), width: 4, rows: 10, block: 1}
	var m Matrix
	require.Error(t, q.QuantiseSource(&m, src, 0, 3, 5, false))
	require.Error(t, q.QuantiseSource(&m, src, 0, 5, 3, true))
}
