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
// # How it runs
//
// Every tile passes the converter on its own, so tiles are always added in
// order, and each tile's exact values come from an FP32 GEMM over that
// tile alone. The work is cut, by the product's shape alone, into
// independent items that run on all cores: blocks of outputs over all
// tiles (the block's tile values are computed into a buffer that stays in
// the cache and read out at once), or, for a small output over many tiles
// (a weight gradient), single tiles of the whole output, summed in tile
// order afterwards. Noise-free results do not depend on the split, and
// neither does the noise: each item draws from its own counter-based
// stream, and most noisy readouts cost one comparison of 16 random bits,
// with exactly the Gaussian model's distribution of codes (noise.go says
// how, and why it is exact). A product draws one key from the backend's
// generator, whose position is the state saved for resuming.
//
// The readouts themselves run eight (AVX-512) or four (AVX2) at a time in
// assembly generated by asm/gen.go, with the scalar loop's arithmetic in
// the same order, so the same codes, clip counts and random pieces, bit
// for bit; the scalar loop (rowReader.readGo) reads the few noisy
// readouts off the one-comparison fast path, continues the same stream,
// and is the definition the kernels are tested against. With a wide
// converter one noisy readout in seven leaves the fast path (an 11-bit
// ADC spreads the values evenly between rounding boundaries), so on AVX2
// the rest of a row that has one is read in three passes: codes and
// thresholds in assembly, the stream in a short Go loop that draws only
// for the readouts that need it, the readouts in assembly (rowReader.
// readPasses). A zero block's flag comes from the quantiser
// (bfp.Matrix.ZeroBlocks), not from a scan.
//
// Convolutions are handed to it whole (it is a backend.Convolver) and run
// as backend.Im2col's products with the im2col operand quantised as it is
// filled, never built (see package bfpengine): the same results, noise
// draws and statistics, bit for bit, as through MatMul (tested with bfp's
// and rns's in backend/rns/conv_test.go).
package analog

import (
	"math"
	"math/rand/v2"
	"runtime"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/bfpengine"
	ibfp "github.com/mirage-go/mirage/internal/bfp"
	"github.com/mirage-go/mirage/internal/gemm"
	"github.com/mirage-go/mirage/internal/vec"
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

	noise       *noiseModel
	noisyNow    bool
	lanes       int // the readout kernel's lanes (readoutLanes; tests change it to compare)
	productFunc bfpengine.ProductFunc
	// zeroA, zeroB flag the operand blocks flushed to zero (Rows×Tiles).
	zeroA, zeroB []bool
	// The loop over output blocks (see product), its readouts and ADC
	// clips per block, and per-goroutine scratch space.
	counts  []int64
	read    blockRead
	workers []*worker
	// conv runs convolutions as backend.Im2col's products with the im2col
	// operand quantised as it is filled (MatMulCols).
	conv backend.Im2col
	// byTiles: a round's readouts per tile; tileMajor: a tile's values;
	// both: the sums when accumulating.
	vals, acc []float32
	drawKey   func() // b.drawNoiseKey, made once
	copies    bfpengine.LaneCopies[*Backend]
	prepared  []preparedChunk // a lane's, per chunk of the GEMM being run (see prepare)
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
		engine: bfpengine.NewEngine(s), noisy: noisy, noise: newNoiseModel(sigma),
		rng: rand.New(src), src: src,
		cfg: EffectiveConfig{
			Backend: "analog", ADCBits: adcBits, FullRange: full,
			Step:       float64(full) / math.Ldexp(1, adcBits),
			NoiseSigma: sigma, NoiseRoles: noisy.Names(), SettingsConfig: s.Config(),
		},
	}
	b.cfg.TileAcc = "ordered" // every tile passes the ADC on its own
	b.lanes = readoutLanes
	b.productFunc, b.drawKey = b.product, b.drawNoiseKey
	b.read.runFunc = b.read.run
	// One team of helpers for quantisation, im2col fills and readouts.
	b.conv.UseTeam(b.engine.Team())
	return b, nil
}

// Name implements backend.Backend.
func (*Backend) Name() string { return "analog" }

// noisyIn reports whether the readouts of call's products are noisy.
func (b *Backend) noisyIn(call backend.Call) bool { return b.noisy[call.Role] && b.cfg.NoiseSigma > 0 }

// MatMul implements backend.Backend.
func (b *Backend) MatMul(call backend.Call, g backend.GEMM) error {
	b.noisyNow = b.noisyIn(call)
	return b.engine.MatMul(call, g, b.productFunc)
}

// MatMulCols implements backend.ColsMultiplier: MatMul with the im2col
// operand quantised as it is filled (see bfpengine.Engine.MatMulCols).
func (b *Backend) MatMulCols(call backend.Call, g backend.GEMM, cols *backend.Cols) error {
	b.noisyNow = b.noisyIn(call)
	return b.engine.MatMulCols(call, g, cols, b.productFunc)
}

// ConvForward implements backend.Convolver: backend.Im2col's products
// without the im2col matrix, so the same results, noise draws and
// statistics as the im2col path through MatMul.
func (b *Backend) ConvForward(layer string, g backend.ConvGeometry, x, w, bias, y []float32) error {
	return b.conv.Forward(b, layer, g, x, w, bias, y)
}

// ConvBackward implements backend.Convolver.
func (b *Backend) ConvBackward(layer string, g backend.ConvGeometry, x, w, dy []float32, grads backend.ConvGrads) error {
	return b.conv.Backward(b, layer, g, x, w, dy, grads)
}

// product computes every tile exactly with an FP32 GEMM (see
// internal/bfp), passes each tile value through the ADC, and accumulates
// the readouts in tile order. The work is cut into independent items by
// the product's shape (see partition and partitionMode): output blocks
// over all tiles, whose tile values stay in the cache between the GEMM
// and the readout; single tiles of a small output; or row ranges of one
// tile of a large one. Items run on all cores; every readout is the same
// float64 arithmetic as on one goroutine, each output's readouts are
// added in tile order, and an item's noise comes from its own stream (see
// noise.go), so neither the result nor the counters depend on the split.
func (b *Backend) product(g *backend.GEMM, qa, qb *ibfp.Matrix, c *bfpengine.Counters) error {
	m, n := g.M, g.N
	tiles := qa.Tiles()
	c.TileOutputs += int64(tiles) * int64(m) * int64(n)
	if m == 0 || n == 0 {
		return nil
	}
	if tiles == 0 {
		if !g.Accumulate {
			for i := range m {
				clear(g.C[i*g.LDC : i*g.LDC+n])
			}
		}
		return nil
	}
	// A tile with a zero block on either side is exactly 0 and is not read
	// out (see the package documentation): its exponent is a placeholder,
	// and scaling the ADC noise by it was once a bug that made every noisy
	// run diverge.
	b.zeroA, b.zeroB = qa.ZeroBlocks(b.zeroA), qb.ZeroBlocks(b.zeroB)
	rd := &b.read
	runFunc := rd.runFunc // made once, in New: a method value allocates
	*rd = blockRead{b: b, runFunc: runFunc, g: g, qa: qa, qb: qb, tiles: tiles, part: partition(m, n, tiles)}
	if b.engine.Prepared() { // on a lane: prepare drew the key
		p := b.prepared[b.engine.Chunk()]
		b.noisyNow, rd.key = p.noisy, p.key
	} else if b.noisyNow {
		b.engine.InOrder(b.drawKey)
	}
	count := rd.part.count()
	b.counts = grow(b.counts, 2*count)
	procs := min(runtime.GOMAXPROCS(0), count)
	for len(b.workers) < procs {
		b.workers = append(b.workers, &worker{noise: newStream()})
	}
	switch rd.part.mode {
	case byTiles:
		b.byTiles(procs)
	case tileMajor:
		b.tileMajor(procs)
	default:
		// Each block adds into C as it is done.
		if err := b.engine.WaitToAdd(g); err != nil {
			return err
		}
		b.engine.Team().Run(procs, count, rd.runFunc)
	}
	if g.Accumulate && rd.part.mode != byBlocks {
		// The sums are in b.acc: add them into C once the blocks
		// before have added theirs (on a lane; see laneCopy).
		if err := b.engine.WaitToAdd(g); err != nil {
			return err
		}
		addInto(g.C, g.LDC, b.acc, n, m, n)
	}
	for k := 0; k < 2*count; k += 2 {
		c.Readouts += b.counts[k]
		c.ADCClipped += b.counts[k+1]
	}
	return nil
}

// drawNoiseKey draws the noise key of the product being run.
func (b *Backend) drawNoiseKey() { b.read.key = b.rng.Uint64() }

// prepare is the first half of product on a lane (see
// bfpengine.PrepareFunc): it draws chunk's noise key, in the GEMM's turn,
// and keeps it, with whether the GEMM is noisy, for product.
func (b *Backend) prepare(call backend.Call, g *backend.GEMM, qa, qb *ibfp.Matrix, c *bfpengine.Counters, chunk int) {
	b.noisyNow = b.noisyIn(call) // (a deferred GEMM prepares after the next one began)
	for len(b.prepared) <= chunk {
		b.prepared = append(b.prepared, preparedChunk{})
	}
	p := &b.prepared[chunk]
	p.noisy = b.noisyNow
	if b.noisyNow {
		b.engine.InOrder(b.drawKey)
		p.key = b.read.key
	}
}

// preparedChunk is what prepare keeps for product, per chunk of a GEMM.
type preparedChunk struct {
	key   uint64
	noisy bool
}

// Defer implements backend.Deferrer on a lane.
func (b *Backend) Defer() { b.engine.Defer() }

// Flush implements backend.Deferrer on a lane.
func (b *Backend) Flush() error { return b.engine.Flush() }

// Lanes implements backend.LaneRunner.
func (b *Backend) Lanes(calls []backend.Call, blocks int) int { return b.engine.Lanes(calls, blocks) }

// RunLanes implements backend.LaneRunner: each lane is a copy of b on one
// of its engine's lanes (see bfpengine.Engine.RunBlocks), with scratch of
// its own, drawing its noise keys from b's generator in block order.
func (b *Backend) RunLanes(calls []backend.Call, blocks int, f func(lane backend.ColsMultiplier, k, i int) error) error {
	return b.copies.Run(b.engine, b.laneCopy, calls, blocks, b.cfg.NoiseSigma > 0 && b.noisy.AnyOf(calls), f)
}

// laneCopy returns a copy of b on lane engine e.
func (b *Backend) laneCopy(e *bfpengine.Engine) *Backend {
	l := &Backend{cfg: b.cfg, engine: e, noisy: b.noisy, rng: b.rng, noise: b.noise, lanes: b.lanes}
	l.productFunc, l.drawKey = l.product, l.drawNoiseKey
	l.read.runFunc = l.read.run
	e.Prepare = l.prepare
	// Weight gradients are summed aside (byTiles, tileMajor) and added
	// into C last, in block order: the lanes compute theirs at once.
	e.AddsLast = true
	return l
}

// byTiles runs a product partitioned by tiles: rounds of tiles read out
// in parallel into b.vals, each round then summed into the output (b.acc
// when accumulating, which product adds into C) in tile order. A round
// holds up to roundOutputs tile outputs (at least minBlocks tiles), so
// that a tiny output (LeNet's first weight gradient: 6×25 over 784 tiles)
// runs in a few rounds whose synchronisation costs little beside their
// work.
func (b *Backend) byTiles(procs int) {
	rd, g := &b.read, b.read.g
	m, n := g.M, g.N
	r, ldr := g.C, g.LDC
	if g.Accumulate {
		b.acc = grow(b.acc, m*n)
		r, ldr = b.acc, n
	}
	round := min(rd.tiles, max(minBlocks, roundOutputs/(m*n)))
	b.vals = grow(b.vals, round*m*n)
	for t0 := 0; t0 < rd.tiles; t0 += round {
		count := min(round, rd.tiles-t0)
		rd.t0 = t0
		b.engine.Team().Run(procs, count, rd.runFunc)
		for t := t0; t < t0+count; t++ {
			vals := b.vals[(t-t0)*m*n : (t-t0+1)*m*n]
			for i := range m {
				ri, vi := r[i*ldr:i*ldr+n], vals[i*n:(i+1)*n]
				if t == 0 {
					copy(ri, vi)
					continue
				}
				vec.Add(ri, vi)
			}
		}
	}
}

// tileMajor runs a product partitioned tileMajor: for each tile, one
// GEMM over the whole output (on all cores) into b.vals, then its
// readouts by ranges of rows, in parallel, into C (b.acc when
// accumulating, which product adds into C).
func (b *Backend) tileMajor(procs int) {
	rd, g := &b.read, b.read.g
	m, n := g.M, g.N
	b.vals = grow(b.vals, m*n)
	if g.Accumulate {
		b.acc = grow(b.acc, m*n)
	}
	for t := range rd.tiles {
		ibfp.TileGEMM(b.engine.Team(), rd.qa, rd.qb, t, b.vals, n)
		rd.t0 = t
		b.engine.Team().Run(procs, rd.part.rowBlocks, rd.runFunc)
	}
}

// blocks is a partition of a product's work into independent items, by
// its mode.
type blocks struct {
	m, n, tiles          int
	rows, cols           int
	rowBlocks, colBlocks int
	mode                 partitionMode
}

// partitionMode is how a product's work is cut into items.
type partitionMode int

const (
	// byBlocks: an item is an output block of rows×cols (the last ones
	// in each direction may be smaller) over all tiles, its tile values
	// computed into a buffer that stays in the cache.
	byBlocks partitionMode = iota
	// byTiles, for a small output over many tiles (a weight gradient:
	// 16×144 outputs over 1024 tiles): an item is one tile of the whole
	// output, read out into a buffer of its own; the buffers are then
	// summed in tile order.
	byTiles
	// tileMajor, for a large and wide output over several tiles (BERT's
	// feed-forward products): an item is a range of rows of one tile,
	// whose values one GEMM over the whole output computed first. Blocks
	// would each pack their own panels of both operands for every tile,
	// which costs more there than the extra pass over the tile values.
	tileMajor
)

// count returns the number of items.
func (p blocks) count() int {
	switch p.mode {
	case byTiles:
		return p.tiles
	case tileMajor:
		return p.tiles * p.rowBlocks
	}
	return p.rowBlocks * p.colBlocks
}

// bounds returns block blk's rows [i0, i1) and columns [j0, j1).
func (p blocks) bounds(blk int) (i0, i1, j0, j1 int) {
	bi, bj := blk/p.colBlocks, blk%p.colBlocks
	i0, j0 = bi*p.rows, bj*p.cols
	return i0, min(p.m, i0+p.rows), j0, min(p.n, j0+p.cols)
}

// Partition sizes: a block holds at most blockElements outputs, so that
// its tile values and sums stay in the L1/L2 cache between the GEMM that
// writes them and the readout that reads them; a product with at least
// parallelReadouts tile outputs is cut into at least minBlocks items, so
// that all cores get work. An output of at most blockElements over at
// least minBlocks tiles is partitioned by tiles;
// a larger one of at least wideColumns columns over several tiles is
// partitioned tileMajor.
// The partition depends on the shape alone, never on the number of
// goroutines: it decides which noise stream a readout draws from.
const (
	blockElements     = 1 << 16
	parallelReadouts  = 1 << 12
	minBlocks         = 8
	roundOutputs      = 1 << 16
	minRows           = 128
	wideColumns       = 256
	columnGranularity = 16 // a multiple of the GEMM kernels' widths
)

// partition cuts the work of an m×n output with the given number of
// tiles into items.
func partition(m, n, tiles int) blocks {
	if m*n <= blockElements && tiles >= minBlocks && tiles*m*n >= parallelReadouts {
		return blocks{m: m, n: n, tiles: tiles, rows: m, cols: n, rowBlocks: 1, colBlocks: 1, mode: byTiles}
	}
	if m*n > blockElements && n >= wideColumns && tiles > 1 {
		rows := max(1, min(max(minRows, blockElements/n), ceilDiv(m, minBlocks)))
		return blocks{m: m, n: n, tiles: tiles, rows: rows, cols: n, rowBlocks: ceilDiv(m, rows), colBlocks: 1, mode: tileMajor}
	}
	// At least minRows rows (or all of them): every block packs its own
	// panels of both operands for each tile, so a block of few rows and
	// many columns would pack B about as often as it multiplies by it.
	rows := min(m, max(minRows, blockElements/n))
	cols := min(n, max(columnGranularity, blockElements/rows/columnGranularity*columnGranularity))
	if tiles*m*n >= parallelReadouts && ceilDiv(m, rows)*ceilDiv(n, cols) < minBlocks {
		// Few rows: cut the columns too, then the rows.
		want := ceilDiv(minBlocks, ceilDiv(m, rows))
		cols = min(n, max(columnGranularity, ceilDiv(ceilDiv(n, want), columnGranularity)*columnGranularity))
		if ceilDiv(m, rows)*ceilDiv(n, cols) < minBlocks {
			rows = max(1, ceilDiv(m, ceilDiv(minBlocks, ceilDiv(n, cols))))
		}
	}
	return blocks{m: m, n: n, tiles: tiles, rows: rows, cols: cols, rowBlocks: ceilDiv(m, rows), colBlocks: ceilDiv(n, cols)}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// worker is one goroutine's scratch space.
type worker struct {
	tile, acc []float32 // a block's tile values; its sums when accumulating
	invB, scB []float64 // per column of the block: 2^-eb, and 2^eb or 0
	noise     *stream
	reader    rowReader
	dead      []float32 // a row of the dead value
	codes, xs []float64 // the three-pass read's per-column codes and x
	thr       []uint64  // and thresholds
}

// blockRead is the loop over one product's items (see blocks).
type blockRead struct {
	b       *Backend
	g       *backend.GEMM
	qa, qb  *ibfp.Matrix
	tiles   int
	part    blocks
	key     uint64 // the noise key of this product (see noise.go)
	t0      int    // byTiles: the first tile of the round
	runFunc func(worker, chunk int)
}

// run computes item chunk (of the round starting at tile rd.t0, byTiles;
// of tile rd.t0, tileMajor) and stores its readouts and ADC clips in
// b.counts[2·item], b.counts[2·item+1]. The item's noise stream is item's.
func (rd *blockRead) run(wk, chunk int) {
	b, g, w := rd.b, rd.g, rd.b.workers[wk]
	item := chunk
	switch rd.part.mode {
	case byTiles:
		item += rd.t0
	case tileMajor:
		item += rd.t0 * rd.part.rowBlocks
	}
	if b.noisyNow {
		w.noise.reset(rd.key, item)
	}
	var readouts, clipped int64
	switch rd.part.mode {
	case tileMajor:
		// Rows chunk of tile t0, whose values are in b.vals.
		i0, i1, _, _ := rd.part.bounds(chunk)
		r, ldr := g.C[i0*g.LDC:], g.LDC
		if g.Accumulate {
			r, ldr = b.acc[i0*g.N:], g.N
		}
		readouts, clipped = rd.readTile(w, rd.t0, i0, i1, 0, g.N, b.vals[i0*g.N:], r, ldr, rd.t0 == 0, 0)
	case byTiles:
		// Tile item of the whole output, into its buffer. A dead tile
		// reads -0 there, which leaves any sum it is added to unchanged
		// (+0 would turn a -0 sum into +0), except for tile 0, whose
		// readouts are the sum so far.
		m, n := g.M, g.N
		vals := b.vals[chunk*m*n : (chunk+1)*m*n]
		tileBlockGEMM(rd.qa, rd.qb, item, 0, m, 0, n, vals, n)
		dead := float32(math.Copysign(0, -1))
		if item == 0 {
			dead = 0
		}
		readouts, clipped = rd.readTile(w, item, 0, m, 0, n, vals, vals, n, true, dead)
	default:
		// Block item over all tiles, summed in tile order into r, which
		// is C itself unless C's old values are needed.
		i0, i1, j0, j1 := rd.part.bounds(item)
		rows, cols := i1-i0, j1-j0
		w.tile = grow(w.tile, rows*cols)
		r, ldr := g.C[i0*g.LDC+j0:], g.LDC
		if g.Accumulate {
			w.acc = grow(w.acc, rows*cols)
			r, ldr = w.acc, cols
		}
		for t := range rd.tiles {
			tileBlockGEMM(rd.qa, rd.qb, t, i0, i1, j0, j1, w.tile, cols)
			n, c := rd.readTile(w, t, i0, i1, j0, j1, w.tile, r, ldr, t == 0, 0)
			readouts, clipped = readouts+n, clipped+c
		}
		if g.Accumulate {
			addInto(g.C[i0*g.LDC+j0:], g.LDC, r, ldr, rows, cols)
		}
	}
	b.counts[2*item] = readouts
	b.counts[2*item+1] = clipped
}

// readTile reads out tile t of outputs [i0, i1)×[j0, j1), whose exact
// values are in tile (row stride j1−j0), into dst (row stride ldd; it
// may be tile itself): dst = the readout when assign (dead for a tile with
// a zero block), else dst += the readout (nothing for a dead tile). It
// returns the readouts and ADC clips.
func (rd *blockRead) readTile(w *worker, t, i0, i1, j0, j1 int, tile, dst []float32, ldd int, assign bool, dead float32) (readouts, clipped int64) {
	b, tiles := rd.b, rd.tiles
	rows, cols := i1-i0, j1-j0
	w.invB, w.scB = grow(w.invB, cols), grow(w.scB, cols)
	zeroA, zeroB, expA, expB := b.zeroA, b.zeroB, rd.qa.Exp, rd.qb.Exp
	scB, invB := w.scB[:cols], w.invB[:cols]
	// Powers of two, multiplied in float64: exact, and cheaper than
	// math.Ldexp per element. A zero block of B gets scale 0.
	for jj := range cols {
		e := int(expB[(j0+jj)*tiles+t])
		invB[jj], scB[jj] = pow2(-e), pow2(e)
		if zeroB[(j0+jj)*tiles+t] {
			scB[jj] = 0
		}
	}
	r := &w.reader
	*r = rowReader{
		job: rowRead{
			head16: &b.noise.head16[0], step: b.cfg.Step,
			lo: -math.Ldexp(1, b.cfg.ADCBits-1), hi: math.Ldexp(1, b.cfg.ADCBits-1) - 1,
			levelScale: b.noise.levelScale, dead: dead,
		},
		scB: scB, invB: invB, nm: b.noise, s: w.noise, lanes: b.lanes,
	}
	if b.noisyNow && b.lanes >= 4 {
		w.codes, w.thr, w.xs = grow(w.codes, cols), grow(w.thr, cols), grow(w.xs, cols)
		r.codes, r.thr, r.xs = w.codes, w.thr, w.xs
	}
	if b.noisyNow {
		r.job.noisy = 1
	}
	if assign {
		r.job.assign = 1
	}
	var deadRow []float32
	for ii := range rows {
		ri := dst[ii*ldd : ii*ldd+cols]
		if zeroA[(i0+ii)*tiles+t] {
			if assign {
				// One row of dead values, copied (a vectorised memmove)
				// into every dead row.
				if deadRow == nil {
					w.dead = grow(w.dead, cols)
					for j := range w.dead {
						w.dead[j] = dead
					}
					deadRow = w.dead
				}
				copy(ri, deadRow)
			}
			continue
		}
		e := int(expA[(i0+ii)*tiles+t])
		r.job.invA, r.job.scA = pow2(-e), pow2(e)
		r.readRow(tile[ii*cols:(ii+1)*cols], ri)
	}
	return r.job.readouts, r.job.clipped
}

// addInto adds the m×n matrix src into dst, row by row with vec.Add (the
// same FP32 additions as a loop over the elements).
func addInto(dst []float32, ldd int, src []float32, lds, m, n int) {
	for i := range m {
		vec.Add(dst[i*ldd:i*ldd+n], src[i*lds:i*lds+n])
	}
}

// tileBlockGEMM computes the exact tile products of tile t for outputs
// [i0, i1)×[j0, j1) into c (row stride ldc), overwriting it, on the
// calling goroutine.
func tileBlockGEMM(a, b *ibfp.Matrix, t, i0, i1, j0, j1 int, c []float32, ldc int) {
	k0, k1 := t*a.Tile, min((t+1)*a.Tile, a.K)
	av, lda := a.Values[i0*a.K+k0:], a.K
	if a.KMajor {
		av, lda = a.Values[k0*a.Rows+i0:], a.Rows
	}
	bv, ldb := b.Values[j0*b.K+k0:], b.K
	if b.KMajor {
		bv, ldb = b.Values[k0*b.Rows+j0:], b.Rows
	}
	gemm.SgemmSerial(a.KMajor, !b.KMajor, i1-i0, j1-j0, k1-k0, 1, av, lda, bv, ldb, 0, c, ldc)
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
