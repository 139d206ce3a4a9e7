// Package bfp is the block-floating-point backend: every GEMM runs on BFP
// operands (see internal/bfp for the format) with exact integer tile dot
// products and FP32 accumulation across tiles, and nothing else. It
// isolates the cost of quantisation from the analog effects that the rns
// and analog backends add on top.
//
//	mirage train --backend bfp --bfp-bits 7 --tile 64
//
// The machinery it shares with those two backends (the shared options,
// the per-layer FP32 policy, quantisation and the per-layer, per-role
// statistics) lives in package bfpengine.
//
// Cost: quantising both operands (one pass to find the block maxima, one to
// round, in SIMD) plus one FP32 GEMM over the dequantised values, in which
// every tile's sum is exact whatever the kernel's summation order (see
// internal/bfp). With --tile-accumulation ordered it is one GEMM per tile
// instead, adding the tiles in order, reproducible bit for bit.
//
// Convolutions are handed to it whole (it is a backend.Convolver) and run
// as backend.Im2col's products with the im2col matrix quantised as it is
// filled, never built (see package bfpengine, "Convolutions"): the same
// results, bit for bit, as through MatMul.
package bfp

import (
	"flag"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/bfpengine"
	ibfp "github.com/mirage-go/mirage/internal/bfp"
)

// Backend is the BFP backend.
type Backend struct {
	engine      *bfpengine.Engine
	scratch     []float32
	conv        backend.Im2col
	productFunc bfpengine.ProductFunc // b.product, made once
	lanes       bfpengine.LaneCopies[*Backend]
}

// Config is the configuration of a BFP backend: the knobs every BFP
// backend shares, with --tile-accumulation.
type Config struct {
	bfpengine.Settings
}

// DefaultConfig returns the defaults (see bfpengine.DefaultSettings).
func DefaultConfig() Config { return Config{Settings: bfpengine.DefaultSettings()} }

// BindFlags implements backend.Config.
func (c *Config) BindFlags(fs *flag.FlagSet) { c.Settings.BindFlags(fs, true) }

// Validate implements backend.Config.
func (c *Config) Validate() error { return c.Settings.Validate() }

// EffectiveConfig is the effective configuration of a BFP backend, as
// written to summary.json.
type EffectiveConfig struct {
	Backend string `json:"backend"`
	bfpengine.SettingsConfig
}

// Descriptor describes the bfp backend to a backend.Registry.
func Descriptor() backend.Descriptor {
	return backend.Descriptor{
		Name:      "bfp",
		Help:      "block floating point along the reduction dimension, exact tile products, no analog effects",
		NewConfig: func() backend.Config { c := DefaultConfig(); return &c },
		New:       backend.Constructor(New),
	}
}

// New returns a BFP backend, or an error naming the flag to change when
// cfg is invalid.
func New(cfg Config) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Backend{engine: bfpengine.NewEngine(cfg.Settings)}
	b.engine.KSplit = !cfg.Ordered
	b.engine.Grid = true
	b.conv.UseTeam(b.engine.Team())
	b.productFunc = b.product
	return b, nil
}

// Factory builds a BFP backend from its serialised options (flag name →
// text), for callers that hold them as text.
func Factory(opts backend.Options) (backend.Backend, error) {
	return Descriptor().Factory(opts)
}

// Options returns the options of the bfp backend: the shared BFP options
// and --tile-accumulation.
func Options() []backend.OptionSpec {
	return Descriptor().Options()
}

// Name implements backend.Backend.
func (*Backend) Name() string { return "bfp" }

// MatMul implements backend.Backend.
func (b *Backend) MatMul(call backend.Call, g backend.GEMM) error {
	return b.engine.MatMul(call, g, b.productFunc)
}

// MatMulCols implements backend.ColsMultiplier.
func (b *Backend) MatMulCols(call backend.Call, g backend.GEMM, cols *backend.Cols) error {
	return b.engine.MatMulCols(call, g, cols, b.productFunc)
}

// Lanes implements backend.LaneRunner.
func (b *Backend) Lanes(calls []backend.Call, blocks int) int { return b.engine.Lanes(calls, blocks) }

// RunLanes implements backend.LaneRunner: each lane is a copy of b on
// one of its engine's lanes (see bfpengine.Engine.RunBlocks).
func (b *Backend) RunLanes(calls []backend.Call, blocks int, f func(lane backend.ColsMultiplier, k, i int) error) error {
	return b.lanes.Run(b.engine, b.laneCopy, calls, blocks, false, f)
}

// laneCopy returns a copy of b on lane engine e.
func (b *Backend) laneCopy(e *bfpengine.Engine) *Backend {
	l := &Backend{engine: e}
	l.productFunc = l.product
	return l
}

// ConvForward implements backend.Convolver (see the package documentation).
func (b *Backend) ConvForward(layer string, g backend.ConvGeometry, x, w, bias, y []float32) error {
	return b.conv.Forward(b, layer, g, x, w, bias, y)
}

// ConvBackward implements backend.Convolver.
func (b *Backend) ConvBackward(layer string, g backend.ConvGeometry, x, w, dy []float32, grads backend.ConvGrads) error {
	return b.conv.Backward(b, layer, g, x, w, dy, grads)
}

// MatMulCol2im implements backend.Col2imMultiplier: the input gradient of a
// stride-1 convolution goes straight onto dx (see
// bfpengine.Engine.MatMulCol2im).
func (b *Backend) MatMulCol2im(call backend.Call, g backend.GEMM, dst *backend.Col2im) error {
	return b.engine.MatMulCol2im(call, g, dst, b.productFunc)
}

func (b *Backend) product(g *backend.GEMM, qa, qb *ibfp.Matrix, c *bfpengine.Counters) error {
	switch dst := b.engine.Col2imTarget(g, qa, qb); {
	case b.engine.ProductDone():
	case dst != nil:
		dst.AddProduct(g.K, qa.Values, qa.Rows, qb.Values)
	default:
		b.scratch = ibfp.Product(b.engine.Team(), qa, qb, g.C, g.LDC, g.Accumulate, b.engine.Settings.Ordered, b.scratch)
	}
	tiles := int64(qa.Tiles()) * int64(g.M) * int64(g.N)
	c.TileOutputs += tiles
	c.Readouts += tiles
	return nil
}

// Config implements backend.Configurer.
func (b *Backend) Config() any {
	return EffectiveConfig{Backend: "bfp", SettingsConfig: b.engine.Settings.Config()}
}

// Stats implements backend.StatsReporter: the statistics so far, a
// *bfpengine.Report.
func (b *Backend) Stats() any { return b.engine.Stats.Report("bfp") }

// Summary implements backend.StatsReporter.
func (b *Backend) Summary() string { return b.engine.Stats.Report("bfp").Summary() }

// GEMMShapes implements backend.ShapeReporter: the BFP backend reads every
// tile output once (it skips none).
func (b *Backend) GEMMShapes() []backend.LiveShapeCount { return b.engine.Stats.LiveShapes(1) }

// MarshalState implements backend.Stateful.
func (b *Backend) MarshalState() ([]byte, error) { return b.engine.MarshalState() }

// UnmarshalState implements backend.Stateful.
func (b *Backend) UnmarshalState(data []byte) error { return b.engine.UnmarshalState(data) }

// Defer implements backend.Deferrer on a lane.
func (b *Backend) Defer() { b.engine.Defer() }

// Flush implements backend.Deferrer on a lane.
func (b *Backend) Flush() error { return b.engine.Flush() }
