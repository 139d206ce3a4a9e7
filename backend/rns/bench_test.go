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

// BenchmarkConv times whole convolutions through the Convolver capability
// on fp32, bfp, rns and analog: the forward product, the input gradient alone, the
// weight gradient alone, for ResNet-20's stride-1 convolutions and
// LeNet-5's at batch 128 (ratios to fp32 per product show where the
// emulation's cost is):
//
//	go test -run XXX -bench Conv ./backend/rns
func BenchmarkConv(b *testing.B) {
	geometries := []struct {
		name string
		g    backend.ConvGeometry
	}{
		{"resnet20-stage1", backend.ConvGeometry{N: 128, C: 16, H: 32, W: 32, O: 16, KH: 3, KW: 3, Stride: 1, Pad: 1}},
		{"resnet20-stage2", backend.ConvGeometry{N: 128, C: 32, H: 16, W: 16, O: 32, KH: 3, KW: 3, Stride: 1, Pad: 1}},
		{"resnet20-stage3", backend.ConvGeometry{N: 128, C: 64, H: 8, W: 8, O: 64, KH: 3, KW: 3, Stride: 1, Pad: 1}},
		{"lenet-conv1", backend.ConvGeometry{N: 128, C: 1, H: 28, W: 28, O: 6, KH: 5, KW: 5, Stride: 1, Pad: 0}},
		{"lenet-conv2", backend.ConvGeometry{N: 128, C: 6, H: 12, W: 12, O: 16, KH: 5, KW: 5, Stride: 1, Pad: 0}},
	}
	backends := []struct {
		name string
		make func() (backend.Backend, error)
	}{
		{"fp32", func() (backend.Backend, error) { return fp32.New(), nil }},
		{"bfp", func() (backend.Backend, error) { return bfp.Factory(backend.Options{"stats-every": "0"}) }},
		{"rns", func() (backend.Backend, error) { return Factory(backend.Options{"stats-every": "0"}) }},
		{"analog", func() (backend.Backend, error) { return analog.Factory(backend.Options{"stats-every": "0"}) }},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	normal := func(n int, relu bool) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
			if relu {
				v[i] = max(0, v[i])
			}
		}
		return v
	}
	for _, geo := range geometries {
		g := geo.g
		x := normal(g.N*g.C*g.H*g.W, true)
		w := normal(g.O*g.Field(), false)
		dy := normal(g.N*g.O*g.OutH()*g.OutW(), false)
		y := make([]float32, len(dy))
		dx, dw := make([]float32, len(x)), make([]float32, len(w))
		for _, be := range backends {
			bk, err := be.make()
			if err != nil {
				b.Fatal(err)
			}
			conv, ok := bk.(backend.Convolver)
			if !ok {
				b.Fatalf("%s is not a Convolver", be.name)
			}
			for _, op := range []string{"forward", "dX", "dW"} {
				b.Run(fmt.Sprintf("%s/%s/%s", geo.name, op, be.name), func(b *testing.B) {
					for b.Loop() {
						var err error
						switch op {
						case "forward":
							err = conv.ConvForward("conv", g, x, w, nil, y)
						case "dX":
							err = conv.ConvBackward("conv", g, x, w, dy, backend.ConvGrads{DX: dx, AssignDX: true})
						default:
							err = conv.ConvBackward("conv", g, x, w, dy, backend.ConvGrads{DW: dw})
						}
						if err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
