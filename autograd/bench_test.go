package autograd

import (
	"math/rand/v2"
	"testing"

	"github.com/mirage-go/mirage/backend/fp32"
)

// BenchmarkConv2d measures one forward and backward pass of a convolution
// (batch 64) on the FP32 backend at LeNet-5 and ResNet-20 shapes. Compare
// with internal/conv's BenchmarkIm2col and BenchmarkCol2im at the same
// names to see the share of the data rearrangement.
func BenchmarkConv2d(b *testing.B) {
	for _, bc := range []struct {
		name                 string
		c, h, o, k, s, p     int
		inputGrad, firstConv bool
	}{
		{name: "LeNet/conv1", c: 1, h: 28, o: 6, k: 5, s: 1, p: 2},
		{name: "LeNet/conv2", c: 6, h: 14, o: 16, k: 5, s: 1, p: 0, inputGrad: true},
		{name: "ResNet20/stem", c: 3, h: 32, o: 16, k: 3, s: 1, p: 1},
		{name: "ResNet20/stage1", c: 16, h: 32, o: 16, k: 3, s: 1, p: 1, inputGrad: true},
		{name: "ResNet20/stage2", c: 32, h: 16, o: 32, k: 3, s: 1, p: 1, inputGrad: true},
		{name: "ResNet20/stage3", c: 64, h: 8, o: 64, k: 3, s: 1, p: 1, inputGrad: true},
		{name: "ResNet20/down", c: 16, h: 32, o: 32, k: 3, s: 2, p: 1, inputGrad: true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			x := randn(rng, 64, bc.c, bc.h, bc.h).SetRequiresGrad(bc.inputGrad)
			w := randn(rng, bc.o, bc.c, bc.k, bc.k)
			bias := randn(rng, bc.o)
			be := fp32.New()
			oh := (bc.h+2*bc.p-bc.k)/bc.s + 1
			// Forward, dW and (when wanted) dX GEMMs: 2·M·N·K flops each.
			gemms := 2.0
			if bc.inputGrad {
				gemms = 3
			}
			flops := gemms * 2 * float64(64*oh*oh) * float64(bc.o) * float64(bc.c*bc.k*bc.k)
			tp := NewTape(be)
			for b.Loop() {
				tp.Reset() // as a training loop does: scratch memory is reused
				out := tp.Conv2d(x, w, bias, bc.s, bc.p, "conv")
				if err := tp.Backward(tp.Sum(out)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
