package bfp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestScaleRunsAndViewMatchQuantise: the scales ScaleRuns finds from runs
// of several segments (images), and the values a view of its vectors
// rounds on demand, are those Quantise gives for the stored matrix of the
// runs (its columns the vectors), bit for bit: exponents, zero-block
// flags, values, mantissas and tile products; and a block that holds Inf
// or has a scale out of the FP32 rounding's range makes it report false.
func TestScaleRunsAndViewMatchQuantise(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 21))
	formats := []Format{{Bits: 7, Tile: 128}, {Bits: 6, Tile: 16}, {Bits: 5, Tile: 7}, {Bits: 4, Tile: 1}, {Bits: 12, Tile: 3}}
	for _, f := range formats {
		for trial := range 12 {
			images, width, k := 1+rng.IntN(4), 1+rng.IntN(90), 1+rng.IntN(300)
			n := images * width
			odd := 0
			if trial%4 == 3 {
				odd = 1 + rng.IntN(2)
			}
			// Blocks of every kind ScaleRuns scales, and with odd set one
			// it cannot: non-finite, or a scale out of FP32 rounding's range.
			stored := columnOperand(rng, k, n, n, f.Tile, f.Bits, false, false)
			switch odd {
			case 1:
				stored[rng.IntN(len(stored))] = float32(math.Inf(-1))
			case 2:
				stored[rng.IntN(len(stored))] = 3e38
			}
			// Each image's rows at the same random offsets of its segment.
			gap := rng.IntN(5)
			imageLen := k*(width+gap) + rng.IntN(7)
			src := make([]float32, images*imageLen)
			for i := range src {
				src[i] = float32(rng.NormFloat64())
			}
			off := make([]int, k)
			for slot, p := range rng.Perm(k) {
				off[p] = slot * (width + gap)
			}
			for img := range images {
				for p := range k {
					copy(src[img*imageLen+off[p]:], stored[p*n+img*width:p*n+(img+1)*width])
				}
			}
			name := fmt.Sprintf("%s k %d images %d width %d odd %d", formatName(f), k, images, width, odd)
			q := NewQuantiser(f, 1)
			var want Matrix
			require.NoError(t, q.Quantise(&want, stored, n, n, k, true), name)
			var r Runs
			q.ShapeRuns(&r, n, k)
			ok := true
			for img := range images {
				good, err := q.ScaleRuns(&r, img*width, width, src[img*imageLen:(img+1)*imageLen], off)
				require.NoError(t, err, name)
				ok = ok && good
			}
			require.Equal(t, odd == 0, ok, name)
			if !ok {
				continue
			}
			cols := make([]int32, 1+rng.IntN(2*n))
			for i := range cols {
				cols[i] = int32(rng.IntN(n))
			}
			var view Matrix
			require.NoError(t, view.ViewRuns(&r, cols, src, imageLen, width, off), name)
			require.True(t, view.IsView())
			tiles := want.Tiles()
			wantZero, gotZero := want.ZeroBlocks(nil), view.ZeroBlocks(nil)
			for v, c := range cols {
				col := int(c)
				for p := range k {
					// Values equal; the sign of a zero may differ.
					require.True(t, want.At(col, p) == view.At(v, p), "%s: vector %d element %d: %v, %v", name, col, p, want.At(col, p), view.At(v, p))
					require.Equal(t, want.Mantissa(col, p), view.Mantissa(v, p), name)
				}
				require.Equal(t, want.Exp[col*tiles:(col+1)*tiles], view.Exp[v*tiles:(v+1)*tiles], "%s: vector %d exponents", name, col)
				require.Equal(t, wantZero[col*tiles:(col+1)*tiles], gotZero[v*tiles:(v+1)*tiles], "%s: vector %d zero blocks", name, col)
				for tt := range tiles {
					wp, we := TileDot(&want, &want, col, col, tt)
					gp, ge := TileDot(&view, &view, v, v, tt)
					require.Equal(t, wp, gp, name)
					require.Equal(t, we, ge, name)
				}
			}
			// Rounding with the constants gives the stored values.
			for tt := range tiles {
				for p := tt * f.Tile; p < min((tt+1)*f.Tile, k); p++ {
					for col := range n {
						x := stored[p*n+col]
						m, l, nl := r.Consts[3*tt*n+col], r.Consts[(3*tt+1)*n+col], r.Consts[(3*tt+2)*n+col]
						require.True(t, want.At(col, p) == max(min((x+m)-m, l), nl), name)
					}
				}
			}
		}
	}
}

func TestScaleRunsRefuses(t *testing.T) {
	q := NewQuantiser(Format{Bits: 6, Tile: 8}, 1)
	var r Runs
	q.ShapeRuns(&r, 10, 3)
	src := make([]float32, 20)
	for _, c := range []struct {
		name  string
		v0, n int
		off   []int
	}{
		{"a run past the end", 0, 10, []int{0, 5, 11}},
		{"too few offsets", 0, 10, []int{0, 5}},
		{"vectors past the operand", 5, 6, []int{0, 1, 2}},
		{"a negative offset", 0, 4, []int{0, -1, 2}},
	} {
		_, err := q.ScaleRuns(&r, c.v0, c.n, src, c.off)
		require.Error(t, err, c.name)
	}
	s := NewQuantiser(Format{Bits: 6, Tile: 8, Rounding: Stochastic}, 1)
	s.ShapeRuns(&r, 10, 3)
	_, err := s.ScaleRuns(&r, 0, 4, src, []int{0, 1, 2})
	require.Error(t, err, "stochastic rounding")
}

// TestViewIsNotAMatrix: Product refuses a view, and quantising into a
// matrix that was a view gives it its own values again, leaving the
// viewed operand's source alone.
func TestViewIsNotAMatrix(t *testing.T) {
	f := Format{Bits: 7, Tile: 4}
	q := NewQuantiser(f, 1)
	var r Runs
	q.ShapeRuns(&r, 4, 3)
	src := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	off := []int{0, 2, 4}
	ok, err := q.ScaleRuns(&r, 0, 4, src, off)
	require.NoError(t, err)
	require.True(t, ok)
	var view, other Matrix
	require.NoError(t, q.Quantise(&view, src, 3, 2, 3, false))
	own := &view.Values[0]
	require.NoError(t, view.ViewRuns(&r, []int32{1, 3}, src, 0, 4, off))
	require.NoError(t, q.Quantise(&other, src, 3, 2, 3, false))
	require.Panics(t, func() { Product(nil, &view, &other, make([]float32, 4), 2, false, false, nil) })
	before := append([]float32(nil), src...)
	require.NoError(t, q.Quantise(&view, src[1:], 3, 2, 3, false))
	require.False(t, view.IsView())
	require.Same(t, own, &view.Values[0], "the matrix's own buffer is back")
	require.Equal(t, before, src)
	require.Error(t, view.ViewRuns(&r, []int32{4}, src, 0, 4, off), "a vector past the operand")
}
