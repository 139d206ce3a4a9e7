// Package fp32 is the exact single-precision backend: every GEMM is an
// ordinary FP32 matrix product.
//
// It implements [backend.Convolver]: its products are plain float32 sums
// whatever the layout of the operands, so a convolution runs as implicit
// GEMMs that read the image in place (internal/conv) instead of building
// the im2col matrix. The forward product is bit-identical to the im2col
// GEMM's on one goroutine; the gradients add the same terms in another
// order.
package fp32

import (
	"flag"
	"fmt"
	"sync"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/internal/conv"
	"github.com/mirage-go/mirage/internal/gemm"
)

// Backend computes GEMMs in FP32. The zero value is ready to use. MatMul
// may be called from several goroutines at once; the convolution methods
// take turns (they share the backend's convolution workers and scratch).
type Backend struct {
	mu      sync.Mutex
	workers conv.Workers
	cols    []float32 // im2col scratch for the geometries the implicit kernels do not handle
	rows    []float32
}

// New returns an FP32 backend.
func New() *Backend { return &Backend{} }

// Name implements backend.Backend.
func (*Backend) Name() string { return "fp32" }

// MatMul implements backend.Backend.
func (*Backend) MatMul(_ backend.Call, g backend.GEMM) error {
	if err := g.Validate(); err != nil {
		return err
	}
	var beta float32
	if g.Accumulate {
		beta = 1
	}
	gemm.Sgemm(g.TransA, g.TransB, g.M, g.N, g.K, 1, g.A, g.LDA, g.B, g.LDB, beta, g.C, g.LDC)
	return nil
}

// EffectiveConfig is the fp32 backend's configuration, written to
// summary.json under backend_config like every backend's: it has no
// settings.
type EffectiveConfig struct {
	Backend string `json:"backend"`
}

// Config implements backend.Configurer.
func (*Backend) Config() any { return EffectiveConfig{Backend: "fp32"} }

// Config is the fp32 backend's typed configuration: it has no knobs, and
// so binds no flags.
type Config struct{}

// BindFlags implements backend.Config.
func (*Config) BindFlags(*flag.FlagSet) {}

// Validate implements backend.Config.
func (*Config) Validate() error { return nil }

// Descriptor describes the fp32 backend to a backend.Registry.
func Descriptor() backend.Descriptor {
	return backend.Descriptor{
		Name:      "fp32",
		Help:      "exact single-precision GEMMs",
		NewConfig: func() backend.Config { return &Config{} },
		New:       func(backend.Config) (backend.Backend, error) { return New(), nil },
	}
}

// Factory builds an FP32 backend; it takes no options.
func Factory(opts backend.Options) (backend.Backend, error) {
	return Descriptor().Factory(opts)
}

func geometry(g backend.ConvGeometry) conv.Geometry {
	return conv.Geometry{N: g.N, C: g.C, H: g.H, W: g.W, KH: g.KH, KW: g.KW, Stride: g.Stride, Pad: g.Pad}
}

// ConvForward implements backend.Convolver with an implicit GEMM per image
// (or canvas of small images), or, for the geometries the implicit kernels
// do not handle (non-square kernels, padding ≥ kernel), im2col per image.
func (b *Backend) ConvForward(layer string, g backend.ConvGeometry, x, w, bias, y []float32) error {
	if err := g.CheckForward(x, w, bias, y); err != nil {
		return fmt.Errorf("%s %s: %w", layer, backend.Forward, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	cg := geometry(g)
	if cg.Implicit() {
		b.workers.ImplicitForward(cg, g.O, x, w, bias, y)
		return nil
	}
	// One image at a time: its cols stay small.
	one := cg
	one.N = 1
	p, k, in, out := cg.OutH()*cg.OutW(), cg.Cols(), g.C*g.H*g.W, g.O*g.OutH()*g.OutW()
	b.cols, b.rows = grow(b.cols, p*k), grow(b.rows, p*g.O)
	for n := 0; n < g.N; n++ {
		b.workers.Im2col(one, x[n*in:(n+1)*in], b.cols)
		gemm.Sgemm(false, true, p, g.O, k, 1, b.cols, k, w, k, 0, b.rows, g.O)
		b.workers.RowsToNCHW(b.rows, bias, y[n*out:(n+1)*out], 1, g.O, p)
	}
	return nil
}

// ConvBackward implements backend.Convolver: both gradients in one pass
// over the images (conv.Workers.Backward), the input gradient through
// col2im per image for the geometries the implicit kernels do not handle.
func (b *Backend) ConvBackward(layer string, g backend.ConvGeometry, x, w, dy []float32, grads backend.ConvGrads) error {
	if err := g.CheckBackward(x, w, dy, grads); err != nil {
		return fmt.Errorf("%s backward: %w", layer, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	cg := geometry(g)
	dx := grads.DX
	if !cg.Implicit() && dx != nil {
		one := cg
		one.N = 1
		p, k, in, out := cg.OutH()*cg.OutW(), cg.Cols(), g.C*g.H*g.W, g.O*g.OutH()*g.OutW()
		b.cols, b.rows = grow(b.cols, p*k), grow(b.rows, p*g.O)
		for n := 0; n < g.N; n++ {
			dxn := dx[n*in : (n+1)*in]
			if grads.AssignDX {
				clear(dxn)
			}
			// dcols = dy2d · w with dy2d = dyₙᵀ (positions × O).
			gemm.Sgemm(true, false, p, k, g.O, 1, dy[n*out:(n+1)*out], p, w, k, 0, b.cols, k)
			b.workers.Col2im(one, b.cols, dxn)
		}
		dx = nil
	}
	if dx != nil || grads.DW != nil {
		b.workers.Backward(cg, g.O, x, dy, w, dx, grads.DW, grads.AssignDX)
	}
	return nil
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}
