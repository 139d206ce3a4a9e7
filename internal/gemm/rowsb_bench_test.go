package gemm

import (
	"math/rand/v2"
	"testing"
)

// rowsBShape is one implicit-GEMM convolution product as internal/conv
// calls SgemmRowsB: m output channels, a grid of rows×width positions
// (width the padded image's, or a canvas of several images), and a 3×3
// kernel over channels planes of (rows+2)×width.
type rowsBShape struct {
	name                     string
	m, channels, rows, width int
}

// rowsBShapes are ResNet-20's three stages at one grid: 32×32 images
// (padded to 34 wide), 16×16 (18 wide), and three 8×8 images on one
// canvas 28 wide.
var rowsBShapes = []rowsBShape{
	{name: "stage1", m: 16, channels: 16, rows: 32, width: 34},
	{name: "stage2", m: 32, channels: 32, rows: 16, width: 18},
	{name: "stage3", m: 64, channels: 64, rows: 8, width: 28},
}

// BenchmarkRowsB measures SgemmRowsB on the products of ResNet-20's
// convolutions, with the offset table and padded image conv builds; the
// rate counts the grid's flops (2·m·n·k). Run on one core
// (GOMAXPROCS=1) and compare medians.
func BenchmarkRowsB(b *testing.B) {
	for _, s := range rowsBShapes {
		b.Run(s.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(3, 4))
			plane := (s.rows + 2) * s.width
			n, k := s.rows*s.width, s.channels*9
			offsets := make([]int, k)
			for c := 0; c < s.channels; c++ {
				for ky := 0; ky < 3; ky++ {
					for kx := 0; kx < 3; kx++ {
						offsets[(c*3+ky)*3+kx] = c*plane + ky*s.width + kx
					}
				}
			}
			padded := randomMatrix(rng, 1, s.channels*plane+2)
			a := randomMatrix(rng, s.m, k)
			c := make([]float32, s.m*n)
			for b.Loop() {
				SgemmRowsB(false, false, s.m, n, k, 1, a, k, padded, offsets, 0, c, n)
			}
			flops := 2 * float64(s.m*n*k) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
