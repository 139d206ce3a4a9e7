package vec

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkKernels times every kernel of every set on 1<<14 elements (64
// KiB per slice: the caches) and 1<<20 (4 MiB per slice: memory bandwidth,
// or the last-level cache where it is large), on one goroutine. The "go"
// set is the Go loops, autograd's kernels before this package. Compare
// with benchstat, or the medians of -count 5.
func BenchmarkKernels(b *testing.B) {
	r := rand.New(rand.NewPCG(6, 6))
	for _, n := range []int{1 << 14, 1 << 20} {
		data := func() []float32 {
			s := make([]float32, n)
			for i := range s {
				s[i] = float32(r.NormFloat64())
			}
			return s
		}
		dst := data()
		in := [][]float32{data(), data(), data()}
		s := []float32{0.7, -0.1, 0.05}
		for _, c := range elementwiseKernels {
			if c.name == "ReLUInPlace" { // its copy would dominate
				continue
			}
			for _, k := range available() {
				b.Run(fmt.Sprintf("%s/n=%d/%s", c.name, n, k.name), func(b *testing.B) {
					b.SetBytes(int64(4 * n * (1 + c.inputs)))
					for b.Loop() {
						c.run(k, dst, in, s)
					}
				})
			}
		}
		for _, c := range reductions {
			for _, k := range available() {
				b.Run(fmt.Sprintf("%s/n=%d/%s", c.name, n, k.name), func(b *testing.B) {
					b.SetBytes(int64(4 * n * c.inputs))
					for b.Loop() {
						c.run(k, in, s[0])
					}
				})
			}
		}
	}
}

// BenchmarkReLUOf times the ReLUOf kernels against the masked kernels they
// replace (the mask already materialised, as batch norm's output is), on
// 1<<14 elements (64 KiB per operand: the caches) and 1<<21 (8 MiB per
// operand: memory), on one goroutine. The mask keeps about half of g. The
// bytes are those the kernel reads and writes, so the masked kernels move
// more for the same work: compare ns/op.
func BenchmarkReLUOf(b *testing.B) {
	r := rand.New(rand.NewPCG(8, 8))
	const a, c, p, q, s = 0.7, -0.1, 0.3, -0.2, 0.05
	for _, n := range []int{1 << 14, 1 << 21} {
		data := func() []float32 {
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(r.NormFloat64())
			}
			return v
		}
		g, y, dst, m := data(), data(), data(), make([]float32, n)
		AxpbReLU(m, y, a, c)
		cases := []struct {
			name    string
			streams int // float32 streams read and written
			run     func(k *kernels)
		}{
			{"SumAndDotMasked", 3, func(k *kernels) { k.sumAndDot(g, y, m) }},
			{"SumAndDotReLUOf", 2, func(k *kernels) { k.sumAndDotReLUOf(g, y, a, c) }},
			{"Affine2Masked", 4, func(k *kernels) { k.affine2(dst, g, y, m, p, q, s) }},
			{"Affine2ReLUOf", 3, func(k *kernels) { k.affine2ReLUOf(dst, g, y, a, c, p, q, s) }},
			{"AddAffine2Masked", 5, func(k *kernels) { k.addAffine2(dst, g, y, m, p, q, s) }},
			{"AddAffine2ReLUOf", 4, func(k *kernels) { k.addAffine2ReLUOf(dst, g, y, a, c, p, q, s) }},
		}
		for _, c := range cases {
			for _, k := range available() {
				b.Run(fmt.Sprintf("%s/n=%d/%s", c.name, n, k.name), func(b *testing.B) {
					b.SetBytes(int64(4 * n * c.streams))
					for b.Loop() {
						c.run(k)
					}
				})
			}
		}
	}
}
