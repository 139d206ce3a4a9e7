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
package bfp

import (
	"flag"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/bfpengine"
	ibfp "github.com/mirage-go/mirage/internal/bfp"
)

// Backend is the BFP backend.
type Backend struct {
	engine  *bfpengine.Engine
	scratch []float32
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
		New: func(c backend.Config) (backend.Backend, error) {
			b, err := New(*c.(*Config))
			if err != nil {
				return nil, err // not a nil *Backend in a non-nil interface
			}
			return b, nil
		},
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
	return b, nil
}

// Factory builds a BFP backend from its serialised options (flag name →
// text), for callers that hold them as text.
func Factory(opts backend.Options) (backend.Backend, error) {
	cfg := DefaultConfig()
	if err := backend.DecodeOptions(&cfg, opts, "bfp"); err != nil {
		return nil, err
	}
	return Descriptor().New(&cfg)
}

// Options returns the options of the bfp backend: the shared BFP options
// and --tile-accumulation.
func Options() []backend.OptionSpec {
	c := DefaultConfig()
	return backend.OptionSpecs(&c)
}

// Name implements backend.Backend.
func (*Backend) Name() string { return "bfp" }

// MatMul implements backend.Backend.
func (b *Backend) MatMul(call backend.Call, g backend.GEMM) error {
	return b.engine.MatMul(call, g, b.product)
}

func (b *Backend) product(g *backend.GEMM, qa, qb *ibfp.Matrix, c *bfpengine.Counters) error {
	b.scratch = ibfp.Product(qa, qb, g.C, g.LDC, g.Accumulate, b.engine.Settings.Ordered, b.scratch)
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
