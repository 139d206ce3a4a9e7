package gemm

import "testing"

// BenchmarkPack times packing one block as the AVX2 kernel set packs it
// (6×16 tiles, Go packing): a transposed A (a weight gradient's dYᵀ, read
// row by row across the panels), a row-major A, and a row-major B.
//
//	go test -run XXX -bench Pack ./internal/gemm
func BenchmarkPack(b *testing.B) {
	const mr, nr, rows, cols, kc, ld = 6, 16, 480, 256, 384, 1040
	spec := kernelSpec{mr: mr, nr: nr}
	src := make([]float32, kc*ld+rows*ld)
	for i := range src {
		src[i] = float32(i)
	}
	dst := make([]float32, max(rows, cols)*kc)
	b.Run("A-transposed", func(b *testing.B) {
		pr := problem{transA: true, a: src, lda: ld, spec: spec}
		for b.Loop() {
			pr.packBlockA(dst, 0, rows, 0, kc, mr)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(rows*kc), "ns/element")
	})
	b.Run("A", func(b *testing.B) {
		pr := problem{a: src, lda: ld, spec: spec}
		for b.Loop() {
			pr.packBlockA(dst, 0, rows, 0, kc, mr)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(rows*kc), "ns/element")
	})
	b.Run("B", func(b *testing.B) {
		pr := problem{b: src, ldb: ld, spec: spec}
		for b.Loop() {
			pr.packBlockB(dst, 0, cols, 0, kc, 0, cols/nr)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(cols*kc), "ns/element")
	})
}
