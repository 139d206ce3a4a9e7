package gemm

import (
	"fmt"
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

// BenchmarkKernelEdge measures the general kernel of each set on short
// reductions (16 and 64 steps: a convolution's input gradient per kernel
// entry) with B read in place and C in L1, for a full tile and for edge
// tiles: fewer rows (the last panel of 16 or 64 rows), fewer columns, and
// both. The rate counts the tile's useful flops.
func BenchmarkKernelEdge(b *testing.B) {
	const ldb, ldc = 1088, 1158
	for _, set := range availableKernels() {
		spec := set.specs[0]
		for _, kc := range []int{16, 64} {
			for _, edge := range []struct {
				name       string
				rows, cols int
			}{
				{"full", spec.mr, spec.nr},
				{"rows", spec.mr - 2, spec.nr},
				{"cols", spec.mr, spec.nr - 6},
				{"both", spec.mr - 2, spec.nr - 6},
			} {
				b.Run(fmt.Sprintf("%s/k%d/%s", spec.name, kc, edge.name), func(b *testing.B) {
					a := make([]float32, kc*spec.mr)
					bp := make([]float32, kc*ldb)
					c := make([]float32, spec.mr*ldc)
					for i := range a {
						a[i] = 1e-3
					}
					for b.Loop() {
						spec.fn(kc, &a[0], 1, spec.mr, &bp[0], ldb, &c[0], ldc, edge.rows, edge.cols, 1, 1)
					}
					flops := 2 * float64(kc*edge.rows*edge.cols) * float64(b.N)
					b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}
