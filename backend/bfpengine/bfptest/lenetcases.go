package bfptest

import (
	"math/rand/v2"
	"slices"

	"github.com/mirage-go/mirage/backend"
)

// LeNetCaseTile is the tile length the [LeNetCases] are built around (the
// backends' default).
const LeNetCaseTile = 128

// LeNetCase is a GEMM shaped like one of LeNet's training products (see
// autograd/conv.go and matmul.go) with the data that once broke the noisy
// backends: gradients far below 1, so that BFP scales are around 2^-10 to
// 2^-20, and whole blocks of zeros, as ReLU (dead units), max pooling (3 of
// 4 positions get no gradient) and an image's black background make them.
// A zero block's exponent is a placeholder; noise scaled by it is
// thousands of times too large.
type LeNetCase struct {
	Name                string
	M, N, K             int
	TransA, TransB, Acc bool
	ScaleA, ScaleB      float64 // magnitudes of op(A) and op(B)
	ZeroRowsA           []int   // rows of op(A) zero over all of K (dead units)
	ZeroColsB           []int   // columns of op(B) zero over all of K
	ZeroTileK           int     // a run of K, one tile long from here, zero in op(A) row 0 and op(B) column 0
	Pooled              bool    // op(A) is zero at 3 of every 4 positions along K
}

// LeNetCases returns one case per kind of product: forward, dX and dW.
func LeNetCases() []LeNetCase {
	return []LeNetCase{
		// conv1 dW = dyT·cols: o × (C·kh·kw), K = batch·OH·OW, many tiles,
		// the last one short; accumulates into the gradient.
		{Name: "conv1 dW", M: 6, N: 25, K: 1000, Acc: true, ScaleA: 1e-3, ScaleB: 1, ZeroColsB: []int{3}, ZeroTileK: 256, Pooled: true},
		// conv2 dX = dyTᵀ·W: positions × (C·kh·kw), K = o, A transposed;
		// positions max pooling passed no gradient to are zero rows.
		{Name: "conv2 dX", M: 40, N: 150, K: 16, TransA: true, ScaleA: 1e-3, ScaleB: 0.1, ZeroRowsA: []int{0, 5, 6, 7, 30}},
		// fc1 dW = dYᵀ·X: out × in, K = batch, A transposed; dead hidden
		// units make rows of op(A) zero.
		{Name: "fc1 dW", M: 24, N: 40, K: 64, TransA: true, Acc: true, ScaleA: 1e-4, ScaleB: 1, ZeroRowsA: []int{1, 2, 20}},
		// fc2 dW: the input is fc1's ReLU output, whose dead units make
		// columns of op(B) zero.
		{Name: "fc2 dW", M: 10, N: 24, K: 64, TransA: true, Acc: true, ScaleA: 1e-2, ScaleB: 1, ZeroColsB: []int{0, 9, 17}},
		// A forward product with B transposed and K not a multiple of the
		// tile, for the remaining layout.
		{Name: "fc1 forward", M: 16, N: 12, K: 300, TransB: true, ScaleA: 1, ScaleB: 0.05, ZeroRowsA: []int{4}, ZeroTileK: 128},
	}
}

// GEMM builds the case's product from rng; the row strides exceed the
// rows (pad 3).
func (c LeNetCase) GEMM(rng *rand.Rand) backend.GEMM {
	g := RandomGEMM(rng, c.M, c.N, c.K, c.TransA, c.TransB, c.Acc, 3)
	for i := 0; i < c.M; i++ {
		for p := 0; p < c.K; p++ {
			v := g.AtA(i, p) * float32(c.ScaleA)
			if slices.Contains(c.ZeroRowsA, i) || c.Pooled && (i+p)%4 != 0 {
				v = 0
			}
			SetA(&g, i, p, v)
		}
	}
	for p := 0; p < c.K; p++ {
		for j := 0; j < c.N; j++ {
			v := g.AtB(p, j) * float32(c.ScaleB)
			if slices.Contains(c.ZeroColsB, j) {
				v = 0
			}
			SetB(&g, p, j, v)
		}
	}
	if c.ZeroTileK > 0 {
		for p := c.ZeroTileK; p < min(c.ZeroTileK+LeNetCaseTile, c.K); p++ {
			SetA(&g, 0, p, 0)
			SetB(&g, p, 0, 0)
		}
	}
	return g
}
