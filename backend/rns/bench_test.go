package rns

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/analog"
	"github.com/mirage-go/mirage/backend/bfp"
	"github.com/mirage-go/mirage/backend/fp32"
)

// BenchmarkGEMM compares the fast RNS mode with the FP32 backend on
// convolution-sized GEMMs (LeNet's conv2 at batch 64, a ResNet's first
// stage on CIFAR-10 at batch 128, a 3×3×64 convolution) and on BERT-small's
// FFN at batch 32, in the forward layout (im2col columns or activations ×
// weightsᵀ), the input-gradient layout (dY × weights) and the
// weight-gradient layout (dYᵀ × columns, both operands strided):
//
//	go test -run XXX -bench GEMM ./backend/rns
//
// The ratio rns-fast/fp32 is the number the issue asks for (≤ 1.5).
func BenchmarkGEMM(b *testing.B) {
	shapes := []struct {
		name    string
		m, n, k int
	}{
		{"lenet-conv2-fwd", 12800, 16, 150},
		{"resnet-cifar-layer1-fwd", 131072, 16, 144},
		{"resnet-3x3x64-fwd", 8192, 64, 576},
		{"resnet-3x3x64-dW", 64, 576, 8192},
		// BERT-small at batch 32 (4096 tokens): the FFN's first layer,
		// forward, input gradient and weight gradient.
		{"bert-fc1-fwd", 4096, 1024, 256},
		{"bert-fc1-dX", 4096, 256, 1024},
		{"bert-fc1-dW", 1024, 256, 4096},
	}
	backends := []struct {
		name string
		make func() (backend.Backend, error)
	}{
		{"fp32", func() (backend.Backend, error) { return fp32.New(), nil }},
		{"bfp", func() (backend.Backend, error) { return bfp.Factory(backend.Options{"stats-every": "0"}) }},
		{"rns-fast", func() (backend.Backend, error) { return Factory(backend.Options{"stats-every": "0"}) }},
		{"rns-fast-ordered", func() (backend.Backend, error) {
			return Factory(backend.Options{"stats-every": "0", "tile-accumulation": "ordered"})
		}},
		{"rns-fast-sigma0.12", func() (backend.Backend, error) {
			return Factory(backend.Options{"stats-every": "0", "noise-sigma": "0.12"})
		}},
		{"rns-fast-rrns2-sigma0.15", func() (backend.Backend, error) {
			return Factory(backend.Options{"stats-every": "0", "noise-sigma": "0.15", "rrns-redundant": "2"})
		}},
		{"analog", func() (backend.Backend, error) { return analog.Factory(backend.Options{"stats-every": "0"}) }},
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range shapes {
		var g backend.GEMM
		switch {
		case strings.HasSuffix(s.name, "-dX"):
			// dX = dY·W: A is dY stored M×K, B the weights stored K×N.
			g = backend.GEMM{M: s.m, N: s.n, K: s.k, A: randn(rng, s.m*s.k), LDA: s.k,
				B: randn(rng, s.k*s.n), LDB: s.n, C: make([]float32, s.m*s.n), LDC: s.n}
		case strings.HasSuffix(s.name, "-dW"):
			// dW = dYᵀ·X: A is dY stored K×M, B is the columns stored K×N.
			g = backend.GEMM{M: s.m, N: s.n, K: s.k, A: randn(rng, s.k*s.m), LDA: s.m, TransA: true,
				B: randn(rng, s.k*s.n), LDB: s.n, C: make([]float32, s.m*s.n), LDC: s.n}
		default:
			// Y = X·Wᵀ: A is the columns stored M×K, B the weights stored N×K.
			g = backend.GEMM{M: s.m, N: s.n, K: s.k, A: randn(rng, s.m*s.k), LDA: s.k,
				B: randn(rng, s.n*s.k), LDB: s.k, TransB: true, C: make([]float32, s.m*s.n), LDC: s.n}
		}
		for _, bk := range backends {
			be, err := bk.make()
			if err != nil {
				b.Fatal(err)
			}
			call := backend.Call{Layer: "bench", Role: backend.Forward}
			b.Run(fmt.Sprintf("%s/%s", s.name, bk.name), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(0)
				for b.Loop() {
					if err := be.MatMul(call, g); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(2*float64(s.m)*float64(s.n)*float64(s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

func randn(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}
