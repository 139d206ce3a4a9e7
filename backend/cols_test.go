package backend

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/internal/conv"
)

func TestColsFillAndValidate(t *testing.T) {
	g := conv.Geometry{N: 2, C: 3, H: 5, W: 4, KH: 3, KW: 3, Stride: 2, Pad: 1}
	x := make([]float32, g.N*g.C*g.H*g.W)
	for i := range x {
		x[i] = float32(i%13) - 6
	}
	var workers conv.Workers
	cols := &Cols{g: g, x: x, workers: &workers}
	rows, width := cols.Rows(), cols.Width()
	require.Equal(t, g.Rows(), rows)
	require.Equal(t, 27, width)
	require.Equal(t, g.OutH()*g.OutW(), cols.RowBlock())
	built := make([]float32, rows*width)
	cols.Build(built)
	want := make([]float32, rows*width)
	conv.Im2col(g, x, want)
	require.Equal(t, want, built)
	var scratch []float32
	part := make([]float32, 5*width)
	cols.Fill(part, 3, 8, &scratch)
	require.Equal(t, want[3*width:8*width], part)

	w := make([]float32, 4*width)
	c := make([]float32, rows*4)
	ok := GEMM{M: rows, N: 4, K: width, LDA: width, B: w, LDB: width, TransB: true, C: c, LDC: 4}
	require.NoError(t, ok.ValidateCols(cols))
	for name, bad := range map[string]GEMM{
		"both operands":   {M: rows, N: 4, K: width, A: want, LDA: width, B: w, LDB: width, TransB: true, C: c, LDC: 4},
		"neither operand": {M: rows, N: 4, K: width, LDA: width, LDB: width, TransB: true, C: c, LDC: 4},
		"wrong K":         {M: rows, N: 4, K: width - 1, LDA: width, B: w, LDB: width, TransB: true, C: c, LDC: 4},
		"transposed cols": {M: rows, N: 4, K: width, LDA: rows, TransA: true, B: w, LDB: width, TransB: true, C: c, LDC: 4},
		"short C":         {M: rows, N: 4, K: width, LDA: width, B: w, LDB: width, TransB: true, C: c[:len(c)-1], LDC: 4},
		"short B":         {M: rows, N: 4, K: width, LDA: width, B: w[:len(w)-1], LDB: width, TransB: true, C: c, LDC: 4},
		"cols as B wrong": {M: 4, N: width, K: rows + 1, A: make([]float32, 4*(rows+1)), LDA: rows + 1, LDB: width, C: make([]float32, 4*width), LDC: width},
	} {
		require.Error(t, bad.ValidateCols(cols), name)
	}
	asB := GEMM{M: 4, N: width, K: rows, A: make([]float32, 4*rows), LDA: rows, LDB: width, C: make([]float32, 4*width), LDC: width}
	require.NoError(t, asB.ValidateCols(cols))
}
