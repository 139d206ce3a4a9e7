// Package bfp is the block-floating-point backend: every GEMM runs on BFP
// operands (see internal/bfp for the format) with exact integer tile dot
// products and FP32 accumulation across tiles, and nothing else. It
// isolates the cost of quantisation from the analog effects that the rns
// and analog backends add on top.
//
//	mirage train --backend bfp --bfp-bits 7 --tile 64
//
// The package is also the base of those two backends: the shared options
// (--bfp-bits, --tile, --rounding, --fp32-layers, --noise-seed,
// --stats-every and the noise flags), the per-layer FP32 policy and the
// per-layer, per-role statistics live here ([Engine], [Stats]).
//
// Cost: quantising both operands (one pass to find the block maxima, one to
// round, in SIMD) plus one FP32 GEMM over the dequantised values, in which
// every tile's sum is exact whatever the kernel's summation order (see
// internal/bfp). With --tile-accumulation ordered it is one GEMM per tile
// instead, adding the tiles in order, reproducible bit for bit.
//
// # Convolutions
//
// The backends here are backend.Convolvers: a convolution runs as the
// im2col products of backend.Im2col, in the same blocks, but the im2col
// matrix (the forward product's op(A) and the weight gradient's op(B)) is
// never built: the backend is a backend.ColsMultiplier, and
// Engine.MatMulCols quantises that operand from rows of receptive fields
// filled a cache-sized chunk at a time, straight from the image, on all
// cores (internal/bfp's QuantiseSource). The quantised operand is the
// same, bit for bit, as the one quantised from the built matrix, so every
// product, noise draw and statistics counter is that of the im2col path,
// with every option (rounding, tile accumulation, the RNS modes). Only
// two kinds of call build the matrix after all, since they need it in
// FP32: layers kept in FP32 (--fp32-layers) and the calls sampled for the
// relative error (--stats-every).
package bfp

import (
	"github.com/mirage-go/mirage/backend"
	ibfp "github.com/mirage-go/mirage/internal/bfp"
)

// Backend is the BFP backend.
type Backend struct {
	engine  *Engine
	scratch []float32
	conv    backend.Im2col
}

// Config is the effective configuration of a BFP backend.
type Config struct {
	Backend string `json:"backend"`
	SettingsConfig
}

// New returns a BFP backend for valid settings.
func New(s Settings) *Backend {
	b := &Backend{engine: NewEngine(s)}
	b.engine.KSplit = !s.Ordered
	b.conv.UseTeam(b.engine.Team())
	return b
}

// Factory builds a BFP backend from options; see Options.
func Factory(opts backend.Options) (backend.Backend, error) {
	specs := Options()
	if err := CheckKnown(opts, specs, "bfp"); err != nil {
		return nil, err
	}
	s, err := ParseSettings(opts, specs)
	if err != nil {
		return nil, err
	}
	return New(s), nil
}

// Name implements backend.Backend.
func (*Backend) Name() string { return "bfp" }

// MatMul implements backend.Backend.
func (b *Backend) MatMul(call backend.Call, g backend.GEMM) error {
	return b.engine.MatMul(call, g, b.product)
}

// MatMulCols implements backend.ColsMultiplier.
func (b *Backend) MatMulCols(call backend.Call, g backend.GEMM, cols *backend.Cols) error {
	return b.engine.MatMulCols(call, g, cols, b.product)
}

// ConvForward implements backend.Convolver (see the package documentation).
func (b *Backend) ConvForward(layer string, g backend.ConvGeometry, x, w, bias, y []float32) error {
	return b.conv.Forward(b, layer, g, x, w, bias, y)
}

// ConvBackward implements backend.Convolver.
func (b *Backend) ConvBackward(layer string, g backend.ConvGeometry, x, w, dy []float32, grads backend.ConvGrads) error {
	return b.conv.Backward(b, layer, g, x, w, dy, grads)
}

func (b *Backend) product(g *backend.GEMM, qa, qb *ibfp.Matrix, c *Counters) error {
	b.scratch = ibfp.Product(qa, qb, g.C, g.LDC, g.Accumulate, b.engine.Settings.Ordered, b.scratch)
	tiles := int64(qa.Tiles()) * int64(g.M) * int64(g.N)
	c.TileOutputs += tiles
	c.Readouts += tiles
	return nil
}

// Config implements backend.Configurer.
func (b *Backend) Config() any {
	return Config{Backend: "bfp", SettingsConfig: b.engine.Settings.Config()}
}

// Stats implements backend.StatsReporter.
func (b *Backend) Stats() any { return b.engine.Stats.Report("bfp") }

// Summary implements backend.StatsReporter.
func (b *Backend) Summary() string { return b.engine.Stats.Report("bfp").Summary() }
