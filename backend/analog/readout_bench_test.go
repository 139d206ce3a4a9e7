package analog

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// BenchmarkReadRow: the readout alone, per readout, on rows of 512 live
// columns with the default converter and tile values like a training
// step's (most within a quarter step of 0), noise-free and at the default
// σ, through the vector kernels (4 and 8 lanes) and through the scalar
// loop (0).
func BenchmarkReadRow(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 512
	step := adcStep(6, 128, 6)
	tile, dst := make([]float32, n), make([]float32, n)
	invB, scB := make([]float64, n), make([]float64, n)
	for j := range n {
		tile[j] = float32(math.Round(rng.NormFloat64() * 570))
		invB[j], scB[j] = 1, 1
	}
	for _, sigma := range []float64{0, 0.08} {
		for _, lanes := range []int{0, 4, 8} {
			if lanes > readoutLanes {
				continue
			}
			b.Run(fmt.Sprintf("sigma=%g/lanes=%d", sigma, lanes), func(b *testing.B) {
				nm, s := newNoiseModel(sigma), newStream()
				s.reset(1, 0)
				r := rowReader{
					job: rowRead{head16: &nm.head16[0], invA: 1, scA: 1, step: step, lo: -32, hi: 31, levelScale: nm.levelScale, assign: 1},
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
