package gemm

import (
	"runtime"
	"testing"
)

// BenchmarkKernel measures each micro-kernel alone on packed panels that
// stay in L1: the ceiling for the whole product on one core. Besides
// GFLOP/s it reports GFLOP per CPU-second of its thread (Linux), which
// does not count time the OS gave to other processes and so stays
// meaningful on a busy machine.
func BenchmarkKernel(b *testing.B) {
	for _, set := range availableKernels() {
		for _, spec := range set.specs {
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
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				cpu0 := threadCPUTime()
				for b.Loop() {
					spec.fn(kc, &a[0], 1, spec.mr, &bp[0], spec.nr, &c[0], spec.nr, spec.mr, spec.nr, 1, 1)
				}
				cpu := threadCPUTime() - cpu0
				flops := 2 * float64(kc*spec.mr*spec.nr) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				if cpu > 0 {
					b.ReportMetric(flops/cpu.Seconds()/1e9, "GFLOP/cpu-s")
				}
			})
		}
	}
}
