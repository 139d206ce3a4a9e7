package gemm

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// benchShape is a product benchmarked as C = op(A)·op(B) with tight
// strides; the conv shapes are the three products of one convolution
// layer at batch 128 (see BENCHMARKS.md).
type benchShape struct {
	name           string
	m, n, k        int
	transA, transB bool
}

var benchShapes = []benchShape{
	{name: "square256", m: 256, n: 256, k: 256},
	{name: "square512", m: 512, n: 512, k: 512},
	{name: "square1024", m: 1024, n: 1024, k: 1024},
	{name: "lenet2-fwd", m: 12800, n: 16, k: 150, transB: true},
	{name: "lenet2-dX", m: 12800, n: 150, k: 16},
	{name: "lenet2-dW", m: 16, n: 150, k: 12800, transA: true},
	{name: "resnet1-fwd", m: 131072, n: 16, k: 144, transB: true},
	{name: "resnet1-dX", m: 131072, n: 144, k: 16},
	{name: "resnet1-dW", m: 16, n: 144, k: 131072, transA: true},
	{name: "resnet3-fwd", m: 8192, n: 64, k: 576, transB: true},
	{name: "resnet3-dX", m: 8192, n: 576, k: 64},
	{name: "resnet3-dW", m: 64, n: 576, k: 8192, transA: true},
	// A block of 128 along K of BERT-small's FFN weight gradient at batch
	// 32, as package bfpengine cuts it.
	{name: "bert-fc1-dW-block", m: 1024, n: 256, k: 128, transA: true},
}

type sgemmFunc func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

func benchmarkShape(b *testing.B, s benchShape, f sgemmFunc) {
	rng := rand.New(rand.NewPCG(1, 1))
	lda, ldb := s.k, s.n
	if s.transA {
		lda = s.m
	}
	if s.transB {
		ldb = s.k
	}
	a := randomMatrix(rng, s.m*s.k/lda, lda)
	bm := randomMatrix(rng, s.k*s.n/ldb, ldb)
	c := make([]float32, s.m*s.n)
	b.ResetTimer()
	for b.Loop() {
		f(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
	}
	flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkSgemm compares mirage's Sgemm with gonum's blas32 on each
// shape; run with -count and compare medians (benchstat).
func BenchmarkSgemm(b *testing.B) {
	for _, s := range benchShapes {
		for _, impl := range []struct {
			name string
			f    sgemmFunc
		}{{"mirage", Sgemm}, {"gonum", Gonum}} {
			b.Run(fmt.Sprintf("%s/%s", s.name, impl.name), func(b *testing.B) { benchmarkShape(b, s, impl.f) })
		}
	}
}

// BenchmarkKernelSets runs the whole product with each kernel set this CPU
// supports, to compare AVX-512, AVX2 and the portable kernel end to end.
func BenchmarkKernelSets(b *testing.B) {
	for _, s := range []benchShape{benchShapes[2], benchShapes[6], benchShapes[8]} {
		for _, set := range availableKernels() {
			if set == &portable && s.m*s.n*s.k > 1<<28 {
				continue // minutes per call: the portable kernel is for correctness
			}
			b.Run(fmt.Sprintf("%s/%s", s.name, set.name), func(b *testing.B) {
				benchmarkShape(b, s, func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, bm []float32, ldb int, beta float32, c []float32, ldc int) {
					sgemm(set, runtime.GOMAXPROCS(0), transA, transB, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc)
				})
			})
		}
	}
}
