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
