// Package bfp implements block floating point (BFP) along the reduction
// dimension of a matrix product, the number format the Mirage accelerator
// feeds to its integer (RNS) cores.
//
// # The format
//
// A GEMM C = op(A)·op(B) reduces over K. BFP cuts K into tiles of length h
// (the analog dot-product length of the hardware). Every row of op(A) and
// every column of op(B) gets, per tile, one shared power-of-two scale 2^e;
// the elements become signed b-bit integer mantissas q with
// |q| ≤ 2^(b-1)-1, so that x ≈ q·2^e. The exponent is chosen from the
// block's largest magnitude xmax = f·2^E (1 ≤ f < 2) as e = E-(b-2): the
// largest element then maps to [2^(b-2), 2^(b-1)), the top binade of the
// mantissa range. Rounding is to nearest with ties to even, or stochastic
// (round up with probability equal to the fraction). The one value that can
// round past the range, xmax just below 2^(b-1) steps, saturates at
// ±(2^(b-1)-1).
//
// Blocks whose largest magnitude is below the smallest normal FP32 number
// (2^-126) are flushed to zero. A block holding Inf or NaN has no finite
// scale: it becomes all NaN (and is counted in [Matrix.NonFinite]), so that
// a diverging training run shows NaN losses as it would in FP32.
//
// # Exact products
//
// For one output element and one tile, the product of two BFP blocks is the
// exact integer P = Σ qa·qb times 2^(ea+eb). An FP32 GEMM over the
// dequantised values q·2^e computes it without rounding: every product is
// exact (at most 2·12 significant bits), and every partial sum of a tile is
// an integer multiple of 2^(ea+eb) of magnitude at most
// h·(2^(b-1)-1)²·2^(ea+eb); [Format.Validate] requires
// h·(2^(b-1)-1)² < 2^24, so FP32 represents every partial sum exactly, in
// any summation order, with or without fused multiply-add, however the
// kernel blocks or splits the reduction. (This needs the products to stay
// in FP32's range, 2^(ea+eb) ≥ 2^-149: only blocks whose largest
// magnitudes are around 1e-20 and below violate it.)
//
// At the other end, every product and partial sum must stay below FP32's
// largest value, about 3.4e38. The backends that multiply dequantised
// values in an FP32 GEMM (bfp, rns --rns-mode fast, analog) overflow to
// ±Inf as soon as one product |qa·2^ea · qb·2^eb| exceeds it — operands
// of magnitude about 2e19 each — even when the exact sum is small: with
// A = [2e19, 2e19] and B = [2e19, -2e19] they return +Inf, as FP32 does,
// while rns --rns-mode reference, which forms each tile's integer sum
// exactly and scales it once, returns 0. Reference mode overflows only
// when a tile value or the running FP32 sum itself leaves the range.
//
// Across tiles the scales differ, and the tile values T_t = 2^(ea+eb)·P_t
// are added in FP32, the job of the accelerator's digital accumulator.
// [Product] offers two orders: tile by tile, one GEMM per tile, bit for
// bit reproducible; or one GEMM over all of K, which leaves the order of
// the cross-tile additions to the GEMM kernel and costs no more than an
// FP32 GEMM. They differ by FP32 rounding of the accumulation only.
package bfp

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"runtime"

	"github.com/mirage-go/mirage/internal/gemm"
	"github.com/mirage-go/mirage/internal/parallel"
)

// Rounding selects how values are rounded to mantissas.
type Rounding int

const (
	// Nearest rounds to the nearest mantissa, ties to even.
	Nearest Rounding = iota
	// Stochastic rounds up with probability equal to the discarded
	// fraction, so that the rounding is unbiased in expectation.
	Stochastic
)

func (r Rounding) String() string {
	switch r {
	case Nearest:
		return "nearest"
	case Stochastic:
		return "stochastic"
	}
	return fmt.Sprintf("Rounding(%d)", int(r))
}

// ParseRounding is the inverse of Rounding.String.
func ParseRounding(s string) (Rounding, error) {
	switch s {
	case "nearest":
		return Nearest, nil
	case "stochastic":
		return Stochastic, nil
	}
	return 0, fmt.Errorf("unknown rounding %q: use nearest (ties to even) or stochastic", s)
}

// MaxBits is the widest mantissa supported: with b = 12 even a tile of one
// element needs 2^22 of the 2^24 integers FP32 sums exactly.
const MaxBits = 12

// ExactLimit is 2^24: FP32 represents every integer of smaller magnitude
// exactly, so a tile dot product below it is computed without rounding.
const ExactLimit = 1 << 24

// Format is a BFP configuration.
type Format struct {
	Bits     int      // mantissa width b, sign included
	Tile     int      // tile length h along the reduction dimension
	Rounding Rounding // how values round to mantissas
}

// MaxMantissa returns 2^(b-1)-1, the largest mantissa magnitude.
func (f Format) MaxMantissa() int64 { return 1<<(f.Bits-1) - 1 }

// MaxTileDot returns h·(2^(b-1)-1)², the largest magnitude a tile's
// integer dot product can reach.
func (f Format) MaxTileDot() int64 {
	q := f.MaxMantissa()
	return int64(f.Tile) * q * q
}

// LargestTile returns the largest power-of-two tile length h with
// h·(2^(b-1)-1)² ≤ limit, or 0 if not even h = 1 fits.
func LargestTile(bitsWidth int, limit int64) int {
	q := int64(1)<<(bitsWidth-1) - 1
	h := limit / (q * q)
	if h < 1 {
		return 0
	}
	return 1 << (bits.Len64(uint64(h)) - 1)
}

// Validate checks that the format is usable and that every tile dot
// product is exact in FP32. Its messages name the flag to change.
func (f Format) Validate() error {
	if f.Bits < 2 || f.Bits > MaxBits {
		return fmt.Errorf("--bfp-bits %d is outside [2, %d]: a mantissa needs a sign and at least one magnitude bit, and wider mantissas no longer sum exactly in FP32", f.Bits, MaxBits)
	}
	if f.Tile < 1 {
		return fmt.Errorf("--tile %d must be at least 1 (it is the dot-product length of one analog readout, e.g. 128)", f.Tile)
	}
	if f.Rounding != Nearest && f.Rounding != Stochastic {
		return fmt.Errorf("unknown rounding %v: use nearest or stochastic", f.Rounding)
	}
	if d := f.MaxTileDot(); d >= ExactLimit {
		return fmt.Errorf("tile %d × (2^%d-1)^2 = %d reaches 2^24 = %d, beyond which FP32 no longer sums a tile exactly; lower --tile to %d or --bfp-bits",
			f.Tile, f.Bits-1, d, ExactLimit, LargestTile(f.Bits, ExactLimit-1))
	}
	return nil
}

// Matrix holds Rows vectors of length K, each quantised along K in tiles of
// length Tile (the last tile may be shorter).
type Matrix struct {
	Rows, K, Tile int
	// Values holds the dequantised values q·2^e. They are exact: mantissas
	// have at most 12 bits. Element p of vector v is Values[v*K+p], or
	// Values[p*Rows+v] when KMajor (the layout of a source whose vectors
	// are columns, kept so that quantising it reads and writes memory in
	// order).
	Values []float32
	KMajor bool
	// Exp holds the scale exponent e of every block, Rows×Tiles. Blocks
	// that were flushed to zero or hold Inf or NaN have exponent 0, a
	// placeholder rather than a scale (see ZeroBlocks).
	Exp []int32
	// NonFinite counts the blocks that held Inf or NaN; their values are
	// NaN.
	NonFinite int
	// zero flags the blocks flushed to zero, Rows×Tiles, as the Quantiser
	// that filled the matrix classified them; zeroKnown says it did (a
	// Matrix built by hand has no flags, and ZeroBlocks scans its values).
	zero      []bool
	zeroKnown bool
	// view, for a view (see ViewRuns), is where its values come from;
	// owned keeps the matrix's own Values buffer meanwhile.
	view  *runsView
	owned []float32
}

// Tiles returns the number of tiles along K.
func (m *Matrix) Tiles() int {
	if m.Tile == 0 {
		return 0
	}
	return (m.K + m.Tile - 1) / m.Tile
}

// At returns the dequantised element p of vector v.
func (m *Matrix) At(v, p int) float32 {
	if m.IsView() {
		return m.view.value(v, p, m.Tile)
	}
	if m.KMajor {
		return m.Values[p*m.Rows+v]
	}
	return m.Values[v*m.K+p]
}

// Mantissa returns the integer mantissa of element p of vector v (of a
// finite block).
func (m *Matrix) Mantissa(v, p int) int64 {
	e := m.Exp[v*m.Tiles()+p/m.Tile]
	return int64(float64(m.At(v, p)) * pow2(-int(e)))
}

// Mantissas writes every mantissa into dst, Rows×K with K contiguous
// whatever the layout of m, and returns it, grown if needed.
func (m *Matrix) Mantissas(dst []int32) []int32 {
	dst = grow(dst, m.Rows*m.K)
	tiles := m.Tiles()
	for v := 0; v < m.Rows; v++ {
		out := dst[v*m.K : (v+1)*m.K]
		for t := 0; t < tiles; t++ {
			inv := pow2(-int(m.Exp[v*tiles+t]))
			for p := t * m.Tile; p < min((t+1)*m.Tile, m.K); p++ {
				out[p] = int32(float64(m.At(v, p)) * inv)
			}
		}
	}
	return dst
}

// ZeroBlocks writes into dst, Rows×Tiles, whether each block was flushed to
// zero, and returns it, grown if needed.
//
// A zero block has no scale: its exponent 0 is a placeholder, not 2^0. A
// backend that adds anything to a tile (converter noise, a wrong residue)
// must not scale it by such a block's 2^0, which is typically thousands of
// times the scale of the neighbouring blocks (activations and gradients are
// far below 1); the tile's product is exactly 0 and the hardware knows it
// from the encoding, so it has nothing to read out.
//
// For a matrix filled by a Quantiser this copies the flags it set while
// quantising (its values must not have been changed since); otherwise it
// scans the values.
func (m *Matrix) ZeroBlocks(dst []bool) []bool {
	tiles := m.Tiles()
	dst = grow(dst, m.Rows*tiles)
	if m.zeroKnown && len(m.zero) == len(dst) {
		copy(dst, m.zero)
		return dst
	}
	// Only exponent-0 blocks can be zero blocks: a finite non-zero block
	// has a non-zero largest mantissa, so one scan of the candidates
	// decides. A vector's block is contiguous when K is; else a block's
	// elements lie one per stored row, and a tile with many candidates is
	// checked row by row, in memory order.
	for i, e := range m.Exp[:m.Rows*tiles] {
		dst[i] = e == 0
	}
	if !m.KMajor {
		for v := range m.Rows {
			for t := range tiles {
				if dst[v*tiles+t] {
					dst[v*tiles+t] = allZero(m.Values[v*m.K+t*m.Tile : v*m.K+min((t+1)*m.Tile, m.K)])
				}
			}
		}
		return dst
	}
	for t := range tiles {
		k0, k1 := t*m.Tile, min((t+1)*m.Tile, m.K)
		candidates := 0
		for v := range m.Rows {
			if dst[v*tiles+t] {
				candidates++
			}
		}
		switch {
		case candidates == 0:
		case candidates*8 < m.Rows:
			// Few: each candidate's elements, one per stored row.
			for v := range m.Rows {
				if !dst[v*tiles+t] {
					continue
				}
				for p := k0; p < k1; p++ {
					if m.Values[p*m.Rows+v] != 0 {
						dst[v*tiles+t] = false
						break
					}
				}
			}
		default:
			// Many: the tile's stored rows, in order.
			for p := k0; p < k1; p++ {
				for v, x := range m.Values[p*m.Rows : (p+1)*m.Rows] {
					if x != 0 {
						dst[v*tiles+t] = false
					}
				}
			}
		}
	}
	return dst
}

// allZero reports whether every value of x is zero.
func allZero(x []float32) bool {
	for _, v := range x {
		if v != 0 {
			return false
		}
	}
	return true
}

// pow2 returns 2^e for e in float64's normal exponent range.
func pow2(e int) float64 { return math.Float64frombits(uint64(1023+e) << 52) }

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// Quantiser turns FP32 operands into BFP matrices. It keeps scratch buffers
// and the random generator of stochastic rounding, so a Quantiser must be
// used by one goroutine at a time. Large operands are quantised by up to
// GOMAXPROCS goroutines: those of a parallel.Team, its own or one shared
// with the caller's other loops (UseTeam), whose helpers spin between
// loops, so that the many short quantisations of a training step start on
// every core at once.
//
// Stochastic rounding draws one key per quantisation from the generator;
// the uniform number that rounds the element at index i of the result's
// Values is a hash of the key and i (stochasticUniform). The draws are
// therefore the same whichever goroutine rounds which element, and in
// whatever order, so stochastic rounding runs in parallel like nearest
// rounding, and the same seed still gives the same results.
type Quantiser struct {
	format Format
	rng    *rand.Rand
	src    *rand.PCG // rng's source, saved and restored by state.go
	key    uint64    // stochastic rounding's key for the quantisation being run
	// keys, for a lane (see Lane), gives the keys in place of rng.
	keys  func() uint64
	work  []worker
	team  *parallel.Team // shared, if UseTeam was called, else &own
	own   parallel.Team
	job   quantJob               // the quantisation being run, for its chunks
	chunk func(worker, part int) // q.runPart, made once so handing it to the team allocates nothing
	// fusedColumns selects the whole-tile SIMD kernels for vectors stored
	// as columns (one call per tile rather than two per row of the tile).
	// It is set where the kernels exist; tests clear it to compare them
	// with the row-by-row path.
	fusedColumns bool
	// vectorStochastic selects the AVX-512 kernels of stochastic rounding
	// where the CPU has them; tests clear it to compare them with Go.
	vectorStochastic bool
}

// worker is the scratch space of one quantising goroutine.
type worker struct {
	maxBits     []uint32
	magic, lim  []float32 // per column: rounding constant 1.5·2^(23+e), clamp limit qmax·2^e
	inv64, sc64 []float64 // per column: 2^-e and 2^e for the float64 path
	wide        bool      // some block of the current tile needs the float64 path
	clamp       bool      // some block of the current tile may round past qmax
	nonFinite   int       // blocks holding Inf or NaN
	rows, fill  []float32 // QuantiseSource: rows filled by the Source, and its scratch
}

// parallelMin is the operand size (elements) from which quantisation is
// split over goroutines: below it the goroutine start-up costs more than
// it saves.
const parallelMin = 1 << 15

// sharedParallelMin is parallelMin on a shared team (UseTeam), whose
// helpers have usually just run the caller's previous loop and are still
// spinning: handing them a loop costs under a microsecond. A weight
// gradient's output-gradient block (16 channels × 1,536 positions in
// ResNet-20's first stage, quantised once per block of the reduction) was
// quantised on one core while the other spun. At 8 Ki elements BERT's
// per-head attention operands (128 × 64) went parallel too, and its step
// got slower: 16 Ki keeps them on one goroutine.
const sharedParallelMin = 1 << 14

// minParallel returns the operand size from which q splits a
// quantisation over goroutines.
func (q *Quantiser) minParallel() int {
	if q.team != nil {
		return sharedParallelMin
	}
	return parallelMin
}

// NewQuantiser returns a quantiser for f; seed drives stochastic rounding.
// f must be valid (see Format.Validate).
func NewQuantiser(f Format, seed uint64) *Quantiser {
	src := rand.NewPCG(seed, 0x6266705f726e6421)
	return &Quantiser{format: f, rng: rand.New(src), src: src, fusedColumns: hasAVX2, vectorStochastic: hasAVX512DQ}
}

// UseTeam makes q run its parallel loops on team's goroutines instead of a
// team of its own (two teams whose helpers spin on the cores that the
// other needs slow each other down).
func (q *Quantiser) UseTeam(team *parallel.Team) { q.team = team }

// quantJob is one parallel quantisation: nw parts, each a range of
// vectors (or of tiles) of dst, from a stored operand (src, ld) or from a
// Source.
type quantJob struct {
	dst        *Matrix
	src        []float32
	ld         int
	source     Source
	r0         int
	nw, tiles  int
	byTiles    bool // parts are ranges of tiles, not of vectors
	fromSource bool
	rows       int
}

// part returns the range of part w: tiles [lo, hi) of every vector when
// byTiles, else vectors [lo, hi) (multiples of 8 but the last).
func (j *quantJob) part(w int) (lo, hi int) {
	if j.byTiles {
		return j.tiles * w / j.nw, j.tiles * (w + 1) / j.nw
	}
	lo, hi = j.rows*w/j.nw&^7, j.rows*(w+1)/j.nw&^7
	if w == j.nw-1 {
		hi = j.rows
	}
	return lo, hi
}

// runParts runs the nw parts of q.job on the team (all on the calling
// goroutine when nw is 1), each worker with its own scratch, and returns
// the number of non-finite blocks found.
func (q *Quantiser) runParts() int {
	nw := q.job.nw
	for len(q.work) < nw {
		q.work = append(q.work, worker{})
	}
	for w := range q.work {
		q.work[w].nonFinite = 0
	}
	if nw == 1 {
		q.runPart(0, 0)
	} else {
		if q.chunk == nil {
			q.chunk = q.runPart
		}
		team := q.team
		if team == nil {
			team = &q.own
		}
		team.Run(nw, nw, q.chunk)
	}
	q.job = quantJob{} // keep no reference to the caller's operands
	n := 0
	for w := range q.work {
		n += q.work[w].nonFinite
	}
	return n
}

// runPart quantises part p of q.job with worker w's scratch space.
func (q *Quantiser) runPart(w, p int) {
	j := &q.job
	lo, hi := j.part(p)
	wk := &q.work[w]
	switch {
	case j.fromSource && j.byTiles:
		q.sourceTiles(j.dst, j.source, j.r0, lo, hi, wk)
	case j.fromSource:
		q.sourceRows(j.dst, j.source, j.r0, lo, hi, wk)
	case j.byTiles:
		q.quantiseRange(j.dst, 0, j.src, j.ld, 0, j.rows, lo, hi, wk)
	default:
		q.quantiseRange(j.dst, 0, j.src, j.ld, lo, hi, 0, j.tiles, wk)
	}
}

// Format returns the quantiser's format.
func (q *Quantiser) Format() Format { return q.format }

const (
	signMask    = 0x7fffffff
	minNormal   = 0x00800000 // bits of 2^-126
	nonFinite   = 0x7f800000 // bits of +Inf; NaNs are above
	roundMagic  = 0x1.8p52   // adding and subtracting it rounds a float64 below 2^51 to an integer, ties to even
	uniformUnit = 0x1p-53
	// Exponents e for which 2^e and 2^-e are both normal FP32 numbers: the
	// blocks the FP32 (SIMD) rounding handles. Others take a float64 path.
	minFastExp, maxFastExp = -126, 126
	// maxMagicExp is the largest e for which the rounding constant
	// 1.5·2^(23+e) is a finite FP32 number.
	maxMagicExp = 104
)

// Quantise fills dst with rows vectors of length k taken from src and
// quantised along k. Vector v's element p is src[v*ld+p] when strided is
// false and src[p*ld+v] when it is true (the vectors are then the columns
// of a k×rows matrix, and dst keeps that layout: KMajor). dst's buffers
// are reused when large enough. The only errors are operands too short for
// their shape.
func (q *Quantiser) Quantise(dst *Matrix, src []float32, ld, rows, k int, strided bool) error {
	dst.detach()
	dst.Rows, dst.K, dst.Tile, dst.KMajor, dst.NonFinite = rows, k, q.format.Tile, strided, 0
	dst.Values = grow(dst.Values, rows*k)
	dst.Exp = grow(dst.Exp, rows*dst.Tiles())
	dst.zero, dst.zeroKnown = grow(dst.zero, rows*dst.Tiles()), false
	if rows == 0 || k == 0 {
		dst.zeroKnown = true
		return nil
	}
	if need := (rows-1)*ld + k; strided {
		need = (k-1)*ld + rows
		if ld < rows || len(src) < need {
			return fmt.Errorf("source of %d×%d (ld %d) has %d elements, needs %d", k, rows, ld, len(src), need)
		}
	} else if ld < k || len(src) < need {
		return fmt.Errorf("source of %d×%d (ld %d) has %d elements, needs %d", rows, k, ld, len(src), need)
	}
	// Large operands are shared among goroutines by vectors, or, when
	// they are columns and few (a weight gradient's 25 columns of 25088
	// im2col rows), by tiles: splitting 25 columns in two would leave
	// each goroutine rows of a dozen elements, mostly loop overhead.
	tiles := dst.Tiles()
	byTiles := strided && rows < fewColumns
	nw := 1
	if rows*k >= q.minParallel() {
		nw = min(runtime.GOMAXPROCS(0), rows/8+1)
		if byTiles {
			nw = min(runtime.GOMAXPROCS(0), tiles)
		}
	}
	q.job = quantJob{dst: dst, src: src, ld: ld, nw: nw, tiles: tiles, byTiles: byTiles, rows: rows}
	q.drawKey()
	dst.NonFinite = q.runParts()
	dst.zeroKnown = true
	return nil
}

// fewColumns is the number of columns below which a column-stored operand
// is shared among goroutines by tiles rather than by columns.
const fewColumns = 64

// quantiseRange quantises tiles t0..t1-1 of vectors v0..v1-1. Vectors
// stored as rows are always quantised whole (t0 = 0, t1 = Tiles). dst may
// be a view of the matrix being quantised whose Values start at index base
// of the whole one's (the index stochastic rounding hashes).
func (q *Quantiser) quantiseRange(dst *Matrix, base int, src []float32, ld, v0, v1, t0, t1 int, w *worker) {
	if dst.KMajor {
		q.quantiseColumns(dst, src, ld, 0, v0, v1, t0, t1, w)
		return
	}
	k, h, tiles := dst.K, dst.Tile, dst.Tiles()
	qmax := float32(q.format.MaxMantissa())
	for v := v0; v < v1; v++ {
		if hasAVX2 && q.format.Rounding == Nearest {
			// The fused kernel does whole rows; it stops before a row it
			// cannot handle, which the loop below then does in Go.
			job := rowJob{
				src: &src[v*ld], ld: ld, out: &dst.Values[v*k], rows: v1 - v, k: k, tile: h,
				exps: &dst.Exp[v*tiles], shift: q.format.Bits - 2, qmax: qmax, tiles: tiles,
				satMant: uint32(1<<(q.format.Bits-1)-1) << (24 - q.format.Bits),
			}
			done := quantRowsAVX2(&job)
			// The kernel does not report which blocks it flushed: those
			// are the exponent-0 blocks whose values are all zero (see
			// ZeroBlocks), checked while the rows are in the cache.
			for r := v; r < v+done; r++ {
				for t := range tiles {
					i := r*tiles + t
					dst.zero[i] = dst.Exp[i] == 0 && maxAbsBits(dst.Values[r*k+t*h:r*k+min((t+1)*h, k)]) == 0
				}
			}
			if v += done; v == v1 {
				break
			}
		}
		row := src[v*ld : v*ld+k]
		out := dst.Values[v*k : (v+1)*k]
		for t := 0; t < tiles; t++ {
			k0, k1 := t*h, min((t+1)*h, k)
			block := row[k0:k1]
			e, kind := q.exponent(maxAbsBits(block))
			dst.Exp[v*tiles+t] = e
			dst.zero[v*tiles+t] = kind == zeroBlock
			switch {
			case kind == zeroBlock:
				clear(out[k0:k1])
			case kind == nonFiniteBlock:
				w.nonFinite++
				for i := k0; i < k1; i++ {
					out[i] = float32(math.NaN())
				}
			case q.format.Rounding == Stochastic:
				q.roundStochastic(out[k0:k1], block, pow2(-int(e)), pow2(int(e)), base+v*k+k0)
			case e >= minFastExp && e <= maxFastExp:
				roundScale(out[k0:k1], block, float32(pow2(-int(e))), float32(pow2(int(e))), qmax)
			default:
				roundWide(out[k0:k1], block, pow2(-int(e)), pow2(int(e)), float64(qmax))
			}
		}
	}
}

// quantiseColumns handles tiles t0..t1-1 of vectors v0..v1-1 stored as
// columns of a k×rows source whose row p is at src[(p-row0)·ld] (row0 > 0
// when src holds only the rows of these tiles): it walks the source row by row (contiguous
// memory), keeping one running maximum per column, and writes the result
// in the same layout. Rounding uses the magic-number identity of the row
// kernel (see quant_amd64.s), with one constant per column; the clamp runs
// only on tiles where some column's largest element can round past qmax.
// With fusedColumns each of the two passes over a tile is one SIMD call;
// otherwise each is one call per row of the tile, which for short rows (a
// convolution's 6 to 25 columns) costs more than the arithmetic.
func (q *Quantiser) quantiseColumns(dst *Matrix, src []float32, ld, row0, v0, v1, t0, t1 int, w *worker) {
	rows, k, h, tiles := dst.Rows, dst.K, dst.Tile, dst.Tiles()
	n := v1 - v0
	w.maxBits = grow(w.maxBits, n)
	w.magic, w.lim = grow(w.magic, n), grow(w.lim, n)
	w.inv64, w.sc64 = grow(w.inv64, n), grow(w.sc64, n)
	qmax := q.format.MaxMantissa()
	satMant := uint32(qmax) << (24 - q.format.Bits)
	for t := t0; t < t1; t++ {
		k0, k1 := t*h, min((t+1)*h, k)
		// The tile's source and output, rows k0..k1-1, columns v0..v1-1;
		// slicing them checks the bounds the SIMD kernels rely on.
		in := src[(k0-row0)*ld+v0 : (k1-1-row0)*ld+v1]
		out := dst.Values[k0*rows+v0 : (k1-1)*rows+v1]
		mb := w.maxBits
		clear(mb)
		if q.fusedColumns {
			maxAbsBitsColsAVX2(mb, in, ld, k1-k0)
		} else {
			for p := k0; p < k1; p++ {
				maxAbsBitsRow(mb, src[(p-row0)*ld+v0:(p-row0)*ld+v1])
			}
		}
		w.wide, w.clamp = q.format.Rounding == Stochastic, false
		for i := range n {
			e, kind := q.exponent(mb[i])
			dst.Exp[(v0+i)*tiles+t] = e
			dst.zero[(v0+i)*tiles+t] = kind == zeroBlock
			switch kind {
			case zeroBlock:
				// Any magic constant rounds these tiny values to +0, which
				// a positive limit leaves alone (a zero limit would make
				// the SIMD clamp return -0); zero factors round them on
				// the float64 path.
				w.magic[i], w.lim[i] = 0x1.8p23, float32(qmax)
				w.inv64[i], w.sc64[i] = 0, 0
			case nonFiniteBlock:
				// Zero inverse and NaN scale on the float64 path: every
				// element becomes NaN.
				w.nonFinite++
				w.wide = true
				w.inv64[i], w.sc64[i] = 0, math.NaN()
			default:
				w.inv64[i], w.sc64[i] = pow2(-int(e)), pow2(int(e))
				if e < minFastExp || e > maxMagicExp {
					w.wide = true
					continue
				}
				w.magic[i] = math.Float32frombits(uint32(150+e)<<23 | 0x400000)
				w.lim[i] = float32(qmax) * float32(w.sc64[i])
				w.clamp = w.clamp || mb[i] >= mb[i]&0x7f800000|satMant
			}
		}
		if q.fusedColumns && !w.wide {
			lim := w.lim[:0] // no clamp
			if w.clamp {
				lim = w.lim
			}
			roundMagicColsAVX2(out, rows, in, ld, k1-k0, w.magic, lim)
			continue
		}
		for p := k0; p < k1; p++ {
			in := src[(p-row0)*ld+v0 : (p-row0)*ld+v1]
			out := dst.Values[p*rows+v0 : p*rows+v1]
			switch {
			case q.format.Rounding == Stochastic:
				done := 0
				if q.vectorStochastic {
					stochasticColsAVX512(out, in, w.inv64, w.sc64, float64(q.format.MaxMantissa()), q.key, p*rows+v0)
					done = len(in) &^ 7
				}
				for i := done; i < len(in); i++ {
					out[i] = q.stochastic(in[i], w.inv64[i], w.sc64[i], p*rows+v0+i)
				}
			case w.wide:
				for i := range in {
					roundWide(out[i:i+1], in[i:i+1], w.inv64[i], w.sc64[i], float64(qmax))
				}
			case w.clamp:
				roundMagicClampRow(out, in, w.magic, w.lim)
			default:
				roundMagicRow(out, in, w.magic)
			}
		}
	}
}

// rowJob is the argument block of the fused row kernel; quant_amd64.s
// reads its fields by offset, so their order and sizes must not change.
type rowJob struct {
	src   *float32 // first source row
	ld    int      // source row stride
	out   *float32 // first output row (row stride k)
	rows  int
	k     int
	tile  int
	exps  *int32 // exponents of the first row (row stride tiles)
	shift int    // bits-2: e = E - shift
	qmax  float32
	// satMant is the mantissa field of (2^(b-1)-1/2)·2^e: a block whose
	// largest magnitude reaches it rounds past qmax and needs the clamp.
	satMant uint32
	tiles   int
}

// blockKind classifies a block by its largest magnitude.
type blockKind int

const (
	normalBlock    blockKind = iota
	zeroBlock                // all below 2^-126: flushed to zero
	nonFiniteBlock           // holds Inf or NaN
)

// exponent returns the scale exponent e for a block whose largest
// magnitude has FP32 bits mb, and the kind of block.
func (q *Quantiser) exponent(mb uint32) (int32, blockKind) {
	if mb >= nonFinite {
		return 0, nonFiniteBlock
	}
	if mb < minNormal {
		return 0, zeroBlock
	}
	E := int32(mb>>23) - 127
	return E - int32(q.format.Bits-2), normalBlock
}

// roundStochastic writes the stochastically rounded, dequantised mantissas
// of block to out, whose first element has index i0 in the result.
func (q *Quantiser) roundStochastic(out, block []float32, inv, scale float64, i0 int) {
	done := 0
	if q.vectorStochastic {
		stochasticBlockAVX512(out, block, inv, scale, float64(q.format.MaxMantissa()), q.key, i0)
		done = len(block) &^ 7
	}
	for i := done; i < len(block); i++ {
		out[i] = q.stochastic(block[i], inv, scale, i0+i)
	}
}

// stochastic rounds x·inv down or up, up with probability equal to the
// discarded fraction, for the element at index i of the result.
func (q *Quantiser) stochastic(x float32, inv, scale float64, i int) float32 {
	r := math.Floor(float64(x)*inv + stochasticUniform(q.key, i))
	return float32(clampTo(r, float64(q.format.MaxMantissa())) * scale)
}

// drawKey draws the key of a quantisation's stochastic rounding; nearest
// rounding draws nothing, so its generator never moves.
func (q *Quantiser) drawKey() {
	switch {
	case q.format.Rounding != Stochastic:
	case q.keys != nil:
		q.key = q.keys()
	default:
		q.key = q.rng.Uint64()
	}
}

// Key draws from q's generator the key that q's next quantisation would
// draw, for a lane quantising in its place (see Lane).
func (q *Quantiser) Key() uint64 { return q.rng.Uint64() }

// Lane returns a quantiser for one of several goroutines that quantise
// q's operands at once (lanes): the same format and kernels, scratch
// space of its own, every loop run on its caller, and stochastic rounding
// keyed by next instead of a generator. The caller makes next return what
// q.Key would have returned for that quantisation had q run them all one
// after another; then every lane's results are bit for bit q's. A lane
// has no generator: it has no state to save.
func (q *Quantiser) Lane(next func() uint64) *Quantiser {
	return &Quantiser{format: q.format, keys: next, team: parallel.NewSerial(),
		fusedColumns: q.fusedColumns, vectorStochastic: q.vectorStochastic}
}

// stochasticUniform returns a uniform number in [0, 1) for element i of a
// quantisation with the given key: the i-th output of the SplitMix64
// generator started at key (Steele, Lea and Flood, "Fast splittable
// pseudorandom number generators", OOPSLA 2014), whose outputs pass
// BigCrush and can be computed for any i directly.
func stochasticUniform(key uint64, i int) float64 {
	z := key + uint64(i+1)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) * uniformUnit
}

// roundWide is nearest-even rounding in float64, for blocks whose scale or
// inverse scale is outside FP32's normal range.
func roundWide(out, block []float32, inv, scale, qmax float64) {
	for i, x := range block {
		r := (float64(x)*inv + roundMagic) - roundMagic
		out[i] = float32(clampTo(r, qmax) * scale)
	}
}

func clampTo[T float32 | float64](r, qmax T) T {
	if r > qmax {
		return qmax
	}
	if r < -qmax {
		return -qmax
	}
	return r
}

// The kernels below run on AVX2 where available (quant_amd64.s) and finish
// the last len%8 elements in Go, with the same results: x·2^-e is exact in
// FP32, so rounding it in FP32 or float64, or with the magic-number
// identity, gives the same integer (only the sign of a zero may differ).

// maxAbsBits returns the largest FP32 magnitude in x as raw bits. For
// non-negative floats the bit patterns order like the values, so integer
// comparison suffices; NaNs compare above +Inf.
func maxAbsBits(x []float32) uint32 {
	var m uint32
	if hasAVX2 && len(x) >= 8 {
		n := len(x) &^ 7
		m, x = maxAbsBitsAVX2(x[:n]), x[n:]
	}
	for _, v := range x {
		m = max(m, math.Float32bits(v)&signMask)
	}
	return m
}

// roundScale sets out[i] = clamp(roundEven(x[i]·inv), ±qmax)·scale.
func roundScale(out, x []float32, inv, scale, qmax float32) {
	if hasAVX2 && len(x) >= 8 {
		n := len(x) &^ 7
		roundScaleAVX2(out[:n], x[:n], inv, scale, qmax)
		out, x = out[n:], x[n:]
	}
	out = out[:len(x)]
	for i, v := range x {
		r := float32(math.RoundToEven(float64(v * inv)))
		out[i] = clampTo(r, qmax) * scale
	}
}

// maxAbsBitsRow sets mb[i] = max(mb[i], bits(|x[i]|)).
func maxAbsBitsRow(mb []uint32, x []float32) {
	if hasAVX2 && len(x) >= 8 {
		n := len(x) &^ 7
		maxAbsBitsRowAVX2(mb[:n], x[:n])
		mb, x = mb[n:], x[n:]
	}
	mb = mb[:len(x)]
	for i, v := range x {
		mb[i] = max(mb[i], math.Float32bits(v)&signMask)
	}
}

// roundMagicRow sets out[i] = (x[i] + magic[i]) - magic[i] in FP32: for
// magic[i] = 1.5·2^(23+e) and |x[i]| < 2^(22+e) that is x[i] rounded to a
// multiple of 2^e, ties to even.
func roundMagicRow(out, x, magic []float32) {
	if hasAVX2 && len(x) >= 8 {
		n := len(x) &^ 7
		roundMagicRowAVX2(out[:n], x[:n], magic[:n])
		out, x, magic = out[n:], x[n:], magic[n:]
	}
	out, magic = out[:len(x)], magic[:len(x)]
	for i, v := range x {
		out[i] = (v + magic[i]) - magic[i]
	}
}

// roundMagicClampRow is roundMagicRow followed by a clamp to ±lim[i].
func roundMagicClampRow(out, x, magic, lim []float32) {
	if hasAVX2 && len(x) >= 8 {
		n := len(x) &^ 7
		roundMagicClampRowAVX2(out[:n], x[:n], magic[:n], lim[:n])
		out, x, magic, lim = out[n:], x[n:], magic[n:], lim[n:]
	}
	out, magic, lim = out[:len(x)], magic[:len(x)], lim[:len(x)]
	for i, v := range x {
		out[i] = clampTo((v+magic[i])-magic[i], lim[i])
	}
}

// TileDot returns the exact integer dot product P = Σ qa·qb of vector i of
// a and vector j of b over tile t, and the exponent ea+eb of its scale.
func TileDot(a, b *Matrix, i, j, t int) (p int64, exp int) {
	// Every product is exact in float64 (24+24 significant bits) and every
	// partial sum is a multiple of 2^(ea+eb) below 2^24 times it: exact.
	var s float64
	for k := t * a.Tile; k < min((t+1)*a.Tile, a.K); k++ {
		s += float64(a.At(i, k)) * float64(b.At(j, k))
	}
	tiles := a.Tiles()
	exp = int(a.Exp[i*tiles+t] + b.Exp[j*tiles+t])
	return int64(s * pow2(-exp)), exp
}

// TileValue returns P·2^exp rounded to FP32, the value a tile adds to the
// accumulator.
func TileValue(p int64, exp int) float32 {
	return float32(math.Ldexp(float64(p), exp))
}

// Product computes R = Σ_tiles 2^(ea+eb)·P_t for a holding the M rows of
// op(A) and b the N columns of op(B), and stores C = R, or C = C + R when
// accumulate (C is M×N with row stride ldc). Every tile's value is exact
// (see the package documentation); ordered says how the tiles are added:
//
//   - ordered: in tile order, each tile rounded into the FP32 sum once,
//     with one GEMM per tile: R = ((T_0 + T_1) + T_2) + ...; then C + R.
//     This is the reference definition, reproducible bit for bit.
//   - not ordered: one FP32 GEMM over all of K. The GEMM kernel chooses
//     the order of the FP32 additions across tiles (and adds C in between
//     when accumulating), so the result can differ from the ordered one by
//     FP32 rounding: at most about (K+T)·2^-24·(|C| + Σ_k |qa_k·qb_k|)
//     for T tiles, where qa_k·qb_k are the individual dequantised
//     products. The sum is over products, not over the tile sums |T_t|:
//     the GEMM adds the products of a tile one at a time, so a tile whose
//     products cancel (+1 and -1, T_t = 0) can still absorb the other
//     tiles' small contributions. With A = [1e-4, 0…, 1, 1] and
//     B = [1e-4, 0…, 1, -1], K = 130, tile 128, the ordered sum is
//     9.84e-9 and the unordered one 0 (TestUnorderedBoundUsesProductMagnitudes),
//     far beyond 2·T·2^-24·Σ|T_t| ≈ 2.3e-15 and within the bound above.
//     When every partial sum is a representable multiple of the smallest
//     tile scale (tiles of similar exponents), there is no rounding at all
//     and both agree exactly. It costs one FP32 GEMM.
//
// The GEMMs run on team's goroutines (gemm.SgemmOn), or on the GEMM's own
// when team is nil. scratch is reused across calls; Product returns it,
// grown if needed.
func Product(team *parallel.Team, a, b *Matrix, c []float32, ldc int, accumulate, ordered bool, scratch []float32) []float32 {
	m, n := a.Rows, b.Rows
	if m == 0 || n == 0 {
		return scratch
	}
	tiles := a.Tiles()
	if tiles == 0 {
		if !accumulate {
			for i := range m {
				clear(c[i*ldc : i*ldc+n])
			}
		}
		return scratch
	}
	if !ordered {
		var beta float32
		if accumulate {
			beta = 1
		}
		tileGEMM(team, a, b, 0, a.K, beta, c, ldc)
		return scratch
	}
	// R lives in C when C's old values are not needed, else in scratch.
	r, ldr := c, ldc
	scratch = grow(scratch, 2*m*n)
	if accumulate {
		r, ldr = scratch[m*n:], n
	}
	t0 := scratch[:m*n]
	for t := range tiles {
		k0, k1 := t*a.Tile, min((t+1)*a.Tile, a.K)
		if t == 0 {
			// 0 + T_0 = T_0 exactly: the first tile goes straight into R.
			tileGEMM(team, a, b, k0, k1, 0, r, ldr)
			continue
		}
		tileGEMM(team, a, b, k0, k1, 0, t0, n)
		addInto(r, ldr, t0, n, m, n)
	}
	if accumulate {
		addInto(c, ldc, r, ldr, m, n)
	}
	return scratch
}

// addInto adds the m×n matrix src into dst.
func addInto(dst []float32, ldd int, src []float32, lds, m, n int) {
	for i := range m {
		d := dst[i*ldd : i*ldd+n]
		s := src[i*lds : i*lds+n]
		for j := range d {
			d[j] += s[j]
		}
	}
}

// tileGEMM computes c = Σ_{k0≤p<k1} op(A)[:,p]·op(B)[p,:] + beta·c over the
// dequantised values, on team (see Product).
func tileGEMM(team *parallel.Team, a, b *Matrix, k0, k1 int, beta float32, c []float32, ldc int) {
	if a.IsView() || b.IsView() {
		panic("bfp: the product of a view (see Matrix.ViewRuns): its values are not stored")
	}
	av, lda := a.Values[k0:], a.K
	if a.KMajor {
		av, lda = a.Values[k0*a.Rows:], a.Rows
	}
	bv, ldb := b.Values[k0:], b.K
	if b.KMajor {
		bv, ldb = b.Values[k0*b.Rows:], b.Rows
	}
	gemm.SgemmOn(team, a.KMajor, !b.KMajor, a.Rows, b.Rows, k1-k0, 1, av, lda, bv, ldb, beta, c, ldc)
}

// TileGEMM computes the exact tile products of tile t for every output,
// 2^(ea+eb)·P, into c (M×N, row stride ldc), overwriting it, on team
// (see Product).
func TileGEMM(team *parallel.Team, a, b *Matrix, t int, c []float32, ldc int) {
	tileGEMM(team, a, b, t*a.Tile, min((t+1)*a.Tile, a.K), 0, c, ldc)
}
