package gemm

import (
	"testing"
)

// BenchmarkKernel measures each micro-kernel alone on packed panels that
// stay in L1: the ceiling for the whole product on one core.
func BenchmarkKernel(b *testing.B) {
	for _, set := range availableKernels() {
		var specs []kernelSpec
		for _, spec := range set.specs {
			specs = append(specs, spec)
			if spec.packed != nil {
				specs = append(specs, kernelSpec{name: spec.name + "-packed", mr: spec.mr, nr: spec.nr, fn: spec.packed})
			}
		}
		for _, spec := range specs {
			b.Run(set.name+"/"+spec.name, func(b *testing.B) {
				const kc = kcBlock
				a := make([]float32, kc*spec.mr)
				bp := make([]float32, kc*spec.nr)
				c := make([]float32, spec.mr*spec.nr)
				for i := range a {
					a[i] = 1e-3
				}
				for i := range bp {
					bp[i] = 1e-3
				}
				for b.Loop() {
					spec.fn(kc, &a[0], 1, spec.mr, &bp[0], spec.nr, &c[0], spec.nr, spec.mr, spec.nr, 1, 1)
				}
				flops := 2 * float64(kc*spec.mr*spec.nr) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
