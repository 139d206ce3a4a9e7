// Package analog is the conventional analog baseline: the same BFP tiles as
// the rns backend, but each tile's fixed-point dot product is read by one
// ADC of --adc-bits bits over the full output range, with Gaussian noise.
// It shows what RNS buys: at the converter width of the RNS moduli a plain
// analog core loses almost everything.
//
//	mirage train --backend analog --adc-bits 8
//
// # The model
//
// A tile dot product of b-bit mantissas over h elements, P = Σ qa·qb, lies
// in ±h·(2^(b-1)-1)², a range of 2·h·(2^(b-1)-1)² ≈ 2^(2b-1+log2 h)
// integers. The converter is built for that worst case, whatever the
// data: it maps the range onto 2^B codes of width
// Δ = 2·h·(2^(b-1)-1)²/2^B (two's complement, so the largest positive
// code is one step short of the top). A tile reads as
//
//	code = clamp(roundEven(P/Δ + z), -2^(B-1), 2^(B-1)-1),  z ~ N(0, σ²)
//
// with σ in ADC steps (--noise-sigma; readouts that saturate are counted
// as adc_clipped), and adds code·Δ·2^(ea+eb) to the FP32 accumulator,
// 2^ea and 2^eb being the BFP scales of the two blocks. The noise of one
// tile in output units is therefore σ·Δ·2^(ea+eb), and the converter's
// own rounding adds Δ·2^(ea+eb)/√12. The last tile of a K that is not a
// multiple of h is shorter but passes the same converter.
//
// A tile with an all-zero block on either side (a dead ReLU unit, the
// positions max pooling passes no gradient to, an image's black
// background) is exactly 0, known to be so from the encoding, and is not
// read out: it adds nothing, not even noise, so the statistics count fewer
// readouts than tile outputs. Such a block has no scale (its exponent 0 is
// a placeholder), and scaling noise by 2^0 instead of the neighbouring
// blocks' scales (gradients are around 2^-10 to 2^-20) once made every
// noisy run diverge.
//
// # The default 6-bit converter loses almost everything, honestly
//
// With the defaults (b = 6, h = 128) the range is 2·128·31² = 246016
// ≈ 2^17.9 integers. A 6-bit ADC, the converter width of the special-k6
// RNS moduli, has steps of Δ = 3844: only |P| ≥ 1922 reads as anything
// but 0. Real tiles are far below the worst case: for Gaussian operands
// the mean |P| is about 570 (0.15 steps) and 99% of tiles read 0, a
// relative error of 0.98; on LeNet's products (noise-free, initial
// weights) it is 0.8 to 1.0, 0.96 over all GEMMs, against 0.036 for the
// same BFP tiles read exactly. Short tiles fare worst: conv2's dX reduces
// over 16 channels, so its largest possible |P| is 16·31² = 15376, four
// steps. Each further ADC bit halves Δ: 8 bits give 0.34, 10 bits 0.091
// and 12 bits 0.041 over all GEMMs, where BFP's own 0.036 dominates. RNS
// keeps every bit by reading three 6-bit residues and recombining them
// exactly.
//
// In output units one ADC step is Δ·2^(ea+eb), and since a block's
// largest mantissa lies in [2^(b-2), 2^(b-1)), that is between 2h/2^B and
// 4·2h/2^B times max|a|·max|b| over the two blocks: 4 to 16 times at 6
// bits, 1 to 4 times at 8, 1/4 to 1 at 10, 1/16 to 1/4 at 12. At 8 bits
// a logit can therefore only move in steps about as large as the largest
// activation times the largest weight, which gives loss spikes and
// divergence even at --lr 0.01.
//
// The errors on LeNet's products are the per-layer error table of
//
//	mirage compare --backends bfp,analog,analog:adc-bits=8,analog:adc-bits=10,analog:adc-bits=12 --noise-sigma 0
//
// and the accuracies below (LeNet on MNIST, final test accuracy, seed 1;
// fp32 reaches 99.1%, and a 16-bit ADC with σ = 0.5 reaches 99.0%) come
// from
//
//	mirage train --backend analog --adc-bits B [--noise-sigma 0] --epochs 2
//
//	ADC bits   σ = 0.08 (default)   σ = 0
//	 6         11.3%                11.3%   stays at chance: almost every readout is 0
//	 8          9.8% (diverged)     11.3%   diverged (loss 1e13) in epoch 1
//	10         98.9%                98.9%
//	12         99.0%                99.0%
//
// Every tile passes the converter on its own, so tiles are always added in
// order (one GEMM per tile computes the exact tile values first).
package analog

import (
	"math"
	"math/rand/v2"
	"runtime"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/bfpengine"
	ibfp "github.com/mirage-go/mirage/internal/bfp"
	"github.com/mirage-go/mirage/internal/parallel"
)

// MaxADCBits is the widest converter accepted.
const MaxADCBits = 24

// EffectiveConfig is the effective configuration, as written to
// summary.json.
type EffectiveConfig struct {
	Backend    string   `json:"backend"`
	ADCBits    int      `json:"adc_bits"`
	FullRange  int64    `json:"adc_full_range"` // 2·h·(2^(b-1)-1)², in integer tile units
	Step       float64  `json:"adc_step"`       // Δ, in integer tile units
	NoiseSigma float64  `json:"noise_sigma"`    // in ADC steps
	NoiseRoles []string `json:"noise_roles"`
	bfpengine.SettingsConfig
}

// Backend is the analog backend.
type Backend struct {
	cfg    EffectiveConfig
	engine *bfpengine.Engine
	noisy  bfpengine.RoleSet
	rng    *rand.Rand
	src    *rand.PCG // rng's source, saved and restored by state.go

	noisyNow    bool
	productFunc bfpengine.ProductFunc
	scratch     []float32
	invB, scB   []float64
	// zeroA, zeroB flag the operand blocks flushed to zero (Rows×Tiles).
	zeroA, zeroB []bool
	// The readout loop (see product) and its readouts and ADC clips per
	// chunk.
	counts []int64
	read   tileRead
	team   parallel.Team
}

// New returns an analog backend, or an error naming the flag to change
// when cfg is invalid.
func New(cfg Config) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s, adcBits, sigma, noisy := cfg.Settings, cfg.ADCBits, cfg.Noise.Sigma, cfg.Noise.Roles
	full := 2 * s.Format.MaxTileDot()
	src := rand.NewPCG(s.NoiseSeed, 0x616e616c6f67)
	b := &Backend{
		engine: bfpengine.NewEngine(s), noisy: noisy,
		rng: rand.New(src), src: src,
		cfg: EffectiveConfig{
			Backend: "analog", ADCBits: adcBits, FullRange: full,
			Step:       float64(full) / math.Ldexp(1, adcBits),
			NoiseSigma: sigma, NoiseRoles: noisy.Names(), SettingsConfig: s.Config(),
		},
	}
	b.cfg.TileAcc = "ordered" // every tile passes the ADC on its own
	b.productFunc = b.product
	b.read.runFunc = b.read.run
	return b, nil
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
//
// Without noise, the readouts of a tile are independent of each other and
// run on all cores, by ranges of rows; every readout is the same float64
// arithmetic as on one goroutine, in the same order along the tiles, so
// the result and the counters do not depend on the split. With noise they
// stay on one goroutine: the noise is drawn from one generator in readout
// order (tile, row, live column), and the draws, which cost more than the
// rest of a readout, would have to stay serial anyway. (Drawing them into
// a buffer on one goroutine while another read out the rows already drawn
// gave the same results and was slower on the shared two-core machine:
// the readouts left to share are the smaller part, and the waiting
// goroutine competed with the drawing one for a core.)
func (b *Backend) product(g *backend.GEMM, qa, qb *ibfp.Matrix, c *bfpengine.Counters) error {
	m, n := g.M, g.N
	tiles := qa.Tiles()
	c.TileOutputs += int64(tiles) * int64(m) * int64(n)
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
	// A tile with a zero block on either side is exactly 0 and is not read
	// out (see the package documentation): its exponent is a placeholder,
	// and scaling the ADC noise by it was once a bug that made every noisy
	// run diverge.
	b.zeroA, b.zeroB = qa.ZeroBlocks(b.zeroA), qb.ZeroBlocks(b.zeroB)
	b.invB, b.scB = grow(b.invB, n), grow(b.scB, n)
	rd := &b.read
	runFunc := rd.runFunc // made once, in New: a method value allocates
	*rd = tileRead{b: b, runFunc: runFunc, tile: tile, r: r, ldr: ldr, m: m, n: n, tiles: tiles, qa: qa, chunks: 1}
	procs := runtime.GOMAXPROCS(0)
	if !b.noisyNow && m*n >= parallelReadouts && m > 1 && procs > 1 {
		rd.chunks = min(m, readChunks*procs)
	}
	b.counts = grow(b.counts, 2*rd.chunks)
	clear(b.counts)
	for t := range tiles {
		ibfp.TileGEMM(qa, qb, t, tile, n)
		// Powers of two, multiplied in float64: exact, and cheaper than
		// math.Ldexp per element. A zero block of B gets scale 0.
		for j := range n {
			e := int(qb.Exp[j*tiles+t])
			b.invB[j], b.scB[j] = pow2(-e), pow2(e)
			if b.zeroB[j*tiles+t] {
				b.scB[j] = 0
			}
		}
		rd.t = t
		if rd.chunks == 1 {
			rd.run(0, 0)
			continue
		}
		b.team.Run(procs, rd.chunks, rd.runFunc)
	}
	for k := 0; k < len(b.counts); k += 2 {
		c.Readouts += b.counts[k]
		c.ADCClipped += b.counts[k+1]
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

// parallelReadouts is the number of tile outputs from which the readouts
// of a noise-free tile are shared among goroutines; readChunks is the
// number of row ranges per goroutine, so that one the OS runs late leaves
// little work behind.
const (
	parallelReadouts = 1 << 12
	readChunks       = 4
)

// tileRead is the loop over one tile's readouts, by ranges of rows.
type tileRead struct {
	b        *Backend
	qa       *ibfp.Matrix
	tile, r  []float32
	ldr      int
	m, n     int
	t, tiles int
	chunks   int
	runFunc  func(worker, chunk int)
}

// run reads out rows [m·chunk/chunks, m·(chunk+1)/chunks) of tile t,
// counting readouts and clips into b.counts[2·chunk], b.counts[2·chunk+1].
func (rd *tileRead) run(_, chunk int) {
	b := rd.b
	i0, i1 := rd.m*chunk/rd.chunks, rd.m*(chunk+1)/rd.chunks
	// Everything the inner loop reads, in locals (registers), not through
	// rd and b.
	t, n, tiles := rd.t, rd.n, rd.tiles
	r, ldr, tile, zeroA, exps := rd.r, rd.ldr, rd.tile, b.zeroA, rd.qa.Exp
	scB, invB := b.scB[:n], b.invB[:n]
	noisy, rng, sigma := b.noisyNow, b.rng, b.cfg.NoiseSigma
	step := b.cfg.Step
	lo, hi := -math.Ldexp(1, b.cfg.ADCBits-1), math.Ldexp(1, b.cfg.ADCBits-1)-1
	var readouts, clipped int64
	for i := i0; i < i1; i++ {
		ri := r[i*ldr : i*ldr+n]
		if zeroA[i*tiles+t] {
			if t == 0 {
				clear(ri)
			}
			continue
		}
		e := int(exps[i*tiles+t])
		invA, scA := pow2(-e), pow2(e)
		ti := tile[i*n : (i+1)*n]
		for j := range ri {
			if scB[j] == 0 {
				if t == 0 {
					ri[j] = 0
				}
				continue
			}
			readouts++
			p := float64(ti[j]) * invA * invB[j] // the exact integer P
			code := p / step
			if noisy {
				code += rng.NormFloat64() * sigma
			}
			code = math.RoundToEven(code)
			if code < lo || code > hi {
				clipped++
				code = max(lo, min(hi, code))
			}
			v := float32(code * step * scA * scB[j])
			if t == 0 {
				ri[j] = v
			} else {
				ri[j] += v
			}
		}
	}
	b.counts[2*chunk] += readouts
	b.counts[2*chunk+1] += clipped
}

// Config implements backend.Configurer.
func (b *Backend) Config() any { return b.cfg }

// Stats implements backend.StatsReporter: the statistics so far, a
// *bfpengine.Report.
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
