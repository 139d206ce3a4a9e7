package analog

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// BenchmarkReadRow: the readout alone, per readout, on rows of 512 live
// columns with tile values like a training step's (Gaussian, standard
// deviation 570), noise-free and at the default σ, through the vector kernels
// (4 and 8 lanes) and through the scalar loop (0). With the default 6-bit
// converter most values are within a quarter step of 0 and nearly every
// noisy readout takes the fast path; with an 11-bit one (the narrowest
// that trains ResNet-20) the values' distances to the rounding boundaries
// are spread evenly, and about one noisy readout in seven leaves it.
func BenchmarkReadRow(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 512
	tile, dst := make([]float32, n), make([]float32, n)
	invB, scB := make([]float64, n), make([]float64, n)
	for j := range n {
		tile[j] = float32(math.Round(rng.NormFloat64() * 570))
		invB[j], scB[j] = 1, 1
	}
	for _, bits := range []int{6, 11} {
		for _, sigma := range []float64{0, 0.08} {
			for _, lanes := range []int{0, 4, 8} {
				if lanes > readoutLanes {
					continue
				}
				step, top := adcStep(6, 128, bits), math.Ldexp(1, bits-1)
				b.Run(fmt.Sprintf("adc=%d/sigma=%g/lanes=%d", bits, sigma, lanes), func(b *testing.B) {
					nm, s := newNoiseModel(sigma), newStream()
					s.reset(1, 0)
					r := rowReader{
						job: rowRead{head16: &nm.head16[0], invA: 1, scA: 1, step: step, lo: -top, hi: top - 1, levelScale: nm.levelScale, assign: 1},
						scB: scB, invB: invB, nm: nm, s: s, lanes: lanes,
					}
					if sigma > 0 {
						r.job.noisy = 1
					}
					b.SetBytes(0)
					for b.Loop() {
						r.readRow(tile, dst)
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/readout")
				})
			}
		}
	}
}
