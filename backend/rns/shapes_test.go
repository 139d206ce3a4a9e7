package rns

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
)

// TestGEMMShapes: the per-shape counts add calls of the same layer, role
// and shape, and the live tile outputs are those without a zero block,
// worked out by hand.
func TestGEMMShapes(t *testing.T) {
	b := newBackend(t, sixBit(backend.Options{"tile": "4", "noise-sigma": "0", "stats-every": "0"}))
	// A is 3×8, B is 8×2 (stored K×N), tile 4: two tiles along K.
	a := []float32{
		1, 2, 3, 4, 5, 6, 7, 8,
		0, 0, 0, 0, 1, 1, 1, 1, // row 1: zero block in tile 0
		1, 1, 1, 1, 1, 1, 1, 1,
	}
	bm := []float32{
		1, 1, 1, 1,
		1, 1, 1, 1,
		0, 0, 0, 0, // column 0: zero block in tile 1 (rows 4..7)
		0, 0, 0, 0,
	}
	for i := range bm[8:] {
		bm[8+i] = float32(i % 2) // column 1 non-zero in tile 1
	}
	c := make([]float32, 6)
	g := backend.GEMM{M: 3, N: 2, K: 8, A: a, LDA: 8, B: bm, LDB: 2, C: c, LDC: 2}
	for range 2 {
		require.NoError(t, b.MatMul(fwd, g))
	}
	small := backend.GEMM{M: 1, N: 2, K: 4, A: a, LDA: 8, B: bm, LDB: 2, C: c, LDC: 2}
	require.NoError(t, b.MatMul(fwd, small))
	got := b.GEMMShapes()
	require.Len(t, got, 2)
	// Sorted by shape: 1×2×4 first.
	require.Equal(t, backend.ShapeCount{Call: fwd, M: 1, N: 2, K: 4, Calls: 1, TileOutputs: 2, Readouts: 2 * 3}, got[0].ShapeCount)
	require.EqualValues(t, 2, got[0].LiveTileOutputs)
	// 2 tiles × 3 × 2 = 12 tile outputs per call; zero blocks: tile 0 of
	// row 1 (2 outputs), tile 1 of column 0 (3 outputs): 7 live, read
	// once per modulus (3).
	require.Equal(t, backend.ShapeCount{Call: fwd, M: 3, N: 2, K: 8, Calls: 2, TileOutputs: 24, Readouts: 2 * 7 * 3}, got[1].ShapeCount)
	require.EqualValues(t, 14, got[1].LiveTileOutputs)
}
