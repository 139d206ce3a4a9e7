package bfp

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mirage-go/mirage/backend"
)

// BenchmarkConvForward times a convolution's forward product on the bfp
// backend with the grid path (see bfpengine's grid.go) and without it
// (cols' rows filled and quantised), for the convolutions of ResNet-20
// and LeNet-5 at batch 128.
func BenchmarkConvForward(b *testing.B) {
	geometries := []struct {
		name string
		g    backend.ConvGeometry
	}{
		{"resnet20 stage1", backend.ConvGeometry{N: 128, C: 16, H: 32, W: 32, O: 16, KH: 3, KW: 3, Stride: 1, Pad: 1}},
		{"resnet20 stage2", backend.ConvGeometry{N: 128, C: 32, H: 16, W: 16, O: 32, KH: 3, KW: 3, Stride: 1, Pad: 1}},
		{"resnet20 stage3", backend.ConvGeometry{N: 128, C: 64, H: 8, W: 8, O: 64, KH: 3, KW: 3, Stride: 1, Pad: 1}},
		{"resnet20 down2", backend.ConvGeometry{N: 128, C: 16, H: 32, W: 32, O: 32, KH: 3, KW: 3, Stride: 2, Pad: 1}},
		{"lenet conv1", backend.ConvGeometry{N: 128, C: 1, H: 28, W: 28, O: 6, KH: 5, KW: 5, Stride: 1, Pad: 0}},
		{"lenet conv2", backend.ConvGeometry{N: 128, C: 6, H: 12, W: 12, O: 16, KH: 5, KW: 5, Stride: 1, Pad: 0}},
	}
	for _, geo := range geometries {
		g := geo.g
		rng := rand.New(rand.NewPCG(1, 2))
		x := make([]float32, g.N*g.C*g.H*g.W)
		for i := range x {
			x[i] = float32(max(0, rng.NormFloat64()))
		}
		w := make([]float32, g.O*g.Field())
		for i := range w {
			w[i] = float32(rng.NormFloat64())
		}
		y := make([]float32, g.N*g.O*g.OutH()*g.OutW())
		for _, grid := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/grid=%v", geo.name, grid), func(b *testing.B) {
				cfg := DefaultConfig()
				cfg.StatsEvery = 0
				be, err := New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				be.engine.Grid = grid
				for b.Loop() {
					if err := be.ConvForward("conv", g, x, w, nil, y); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
