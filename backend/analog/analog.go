// Package analog is the conventional analog baseline: the same BFP tiles as
// the rns backend, but each tile's fixed-point dot product is read by one
// ADC of --adc-bits bits over the full output range, with Gaussian noise.
//
//	mirage train --backend analog --adc-bits 8
//
// A tile dot product of b-bit mantissas over h elements lies in
// ±h·(2^(b-1)-1)², a range of 2·h·(2^(b-1)-1)² ≈ 2^(2b-1+log2 h) integers.
// The ADC maps it onto 2^B codes of width Δ = 2·h·(2^(b-1)-1)²/2^B
// (two's complement, so the largest positive code is one step short of the
// top) and the readout is Δ·round(P/Δ + z), z ~ N(0, σ²) in ADC steps
// (--noise-sigma). With the defaults (b = 6, h = 128) the range is
// 246016 ≈ 2^17.9: a 6-bit ADC, the converter width of the special-k6 RNS
// moduli, keeps only the top 6 of those 18 bits, the loss that RNS avoids
// by reading three 6-bit residues and recombining them exactly.
package analog

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/bfp"
	ibfp "github.com/mirage-go/mirage/internal/bfp"
)

var adcBitsSpec = backend.OptionSpec{Name: "adc-bits", Default: "6",
	Help: "analog: ADC resolution in bits over the full tile range 2·h·(2^(b-1)-1)^2 (6 = the converter width of the default RNS moduli)"}

// Options returns the options of the analog backend.
func Options() []backend.OptionSpec {
	return slices.Concat(bfp.SharedOptions(), []backend.OptionSpec{adcBitsSpec}, bfp.NoiseOptions())
}

// MaxADCBits is the widest converter accepted.
const MaxADCBits = 24

// Config is the effective configuration, as written to summary.json.
type Config struct {
	Backend    string   `json:"backend"`
	ADCBits    int      `json:"adc_bits"`
	FullRange  int64    `json:"adc_full_range"` // 2·h·(2^(b-1)-1)², in integer tile units
	Step       float64  `json:"adc_step"`       // Δ, in integer tile units
	NoiseSigma float64  `json:"noise_sigma"`    // in ADC steps
	NoiseRoles []string `json:"noise_roles"`
	bfp.SettingsConfig
}

// Backend is the analog backend.
type Backend struct {
	cfg    Config
	engine *bfp.Engine
	noisy  bfp.RoleSet
	rng    *rand.Rand

	noisyNow    bool
	productFunc bfp.ProductFunc
	scratch     []float32
	invB, scB   []float64
}

// Factory builds an analog backend from options.
func Factory(opts backend.Options) (backend.Backend, error) {
	specs := Options()
	if err := bfp.CheckKnown(opts, specs, "analog"); err != nil {
		return nil, err
	}
	s, err := bfp.ParseSettings(opts, specs)
	if err != nil {
		return nil, err
	}
	adcBits, err := bfp.Int(opts, specs, adcBitsSpec.Name)
	if err != nil {
		return nil, err
	}
	if adcBits < 1 || adcBits > MaxADCBits {
		return nil, fmt.Errorf("--adc-bits %d is outside [1, %d]", adcBits, MaxADCBits)
	}
	sigma, err := bfp.Float(opts, specs, "noise-sigma")
	if err != nil {
		return nil, err
	}
	roles, err := bfp.ParseRoles(opts, specs)
	if err != nil {
		return nil, err
	}
	return New(s, adcBits, sigma, roles), nil
}

// New returns an analog backend for valid settings; sigma is in ADC steps.
func New(s bfp.Settings, adcBits int, sigma float64, noisy bfp.RoleSet) *Backend {
	full := 2 * s.Format.MaxTileDot()
	b := &Backend{
		engine: bfp.NewEngine(s), noisy: noisy,
		rng: rand.New(rand.NewPCG(s.NoiseSeed, 0x616e616c6f67)),
		cfg: Config{
			Backend: "analog", ADCBits: adcBits, FullRange: full,
			Step:       float64(full) / math.Ldexp(1, adcBits),
			NoiseSigma: sigma, NoiseRoles: noisy.Names(), SettingsConfig: s.Config(),
		},
	}
	b.cfg.TileAcc = "ordered" // every tile passes the ADC on its own
	b.productFunc = b.product
	return b
}

// Name implements backend.Backend.
func (*Backend) Name() string { return "analog" }

// MatMul implements backend.Backend.
func (b *Backend) MatMul(call backend.Call, g backend.GEMM) error {
	b.noisyNow = b.noisy[call.Role] && b.cfg.NoiseSigma > 0
	return b.engine.MatMul(call, g, b.productFunc)
}

// product computes every tile exactly with one FP32 GEMM per tile (see
// internal/bfp), passes each tile value through the ADC, and accumulates.
func (b *Backend) product(g *backend.GEMM, qa, qb *ibfp.Matrix, c *bfp.Counters) error {
	m, n := g.M, g.N
	tiles := qa.Tiles()
	c.TileOutputs += int64(tiles) * int64(m) * int64(n)
	c.Readouts += int64(tiles) * int64(m) * int64(n)
	if tiles == 0 {
		if !g.Accumulate {
			for i := range m {
				clear(g.C[i*g.LDC : i*g.LDC+n])
			}
		}
		return nil
	}
	// Each tile's exact values land in tile; the ADC readouts are summed in
	// tile order into r, which is C itself unless C's old values are needed.
	if cap(b.scratch) < 2*m*n {
		b.scratch = make([]float32, 2*m*n)
	}
	tile := b.scratch[:m*n]
	r, ldr := g.C, g.LDC
	if g.Accumulate {
		r, ldr = b.scratch[m*n:2*m*n], n
	}
	step := b.cfg.Step
	lo, hi := -math.Ldexp(1, b.cfg.ADCBits-1), math.Ldexp(1, b.cfg.ADCBits-1)-1
	b.invB, b.scB = grow(b.invB, n), grow(b.scB, n)
	for t := range tiles {
		ibfp.TileGEMM(qa, qb, t, tile, n)
		// Powers of two, multiplied in float64: exact, and cheaper than
		// math.Ldexp per element.
		for j := range n {
			b.invB[j], b.scB[j] = pow2(-int(qb.Exp[j*tiles+t])), pow2(int(qb.Exp[j*tiles+t]))
		}
		for i := range m {
			invA, scA := pow2(-int(qa.Exp[i*tiles+t])), pow2(int(qa.Exp[i*tiles+t]))
			ri := r[i*ldr : i*ldr+n]
			ti := tile[i*n : (i+1)*n]
			for j := range ri {
				p := float64(ti[j]) * invA * b.invB[j] // the exact integer P
				code := p / step
				if b.noisyNow {
					code += b.rng.NormFloat64() * b.cfg.NoiseSigma
				}
				code = math.RoundToEven(code)
				if code < lo || code > hi {
					c.ADCClipped++
					code = max(lo, min(hi, code))
				}
				v := float32(code * step * scA * b.scB[j])
				if t == 0 {
					ri[j] = v
				} else {
					ri[j] += v
				}
			}
		}
	}
	if g.Accumulate {
		for i := range m {
			ci := g.C[i*g.LDC : i*g.LDC+n]
			for j := range ci {
				ci[j] += r[i*ldr+j]
			}
		}
	}
	return nil
}

// Config implements backend.Configurer.
func (b *Backend) Config() any { return b.cfg }

// Stats implements backend.StatsReporter.
func (b *Backend) Stats() any { return b.engine.Stats.Report("analog") }

// Summary implements backend.StatsReporter.
func (b *Backend) Summary() string { return b.engine.Stats.Report("analog").Summary() }

// pow2 returns 2^e for e in float64's normal exponent range.
func pow2(e int) float64 { return math.Float64frombits(uint64(1023+e) << 52) }

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
