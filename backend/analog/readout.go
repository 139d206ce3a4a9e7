package analog

import (
	"math"
	"unsafe"
)

// rowRead is everything the readout of one row of a tile needs: the
// row's exact tile values and destination, the per-column scales of the
// B blocks, the row's scales, the converter, the noise stream's position
// and the counts so far. The kernels read its fields by offset (see
// asm/gen.go and TestRowReadLayout), so their order and sizes must not
// change.
type rowRead struct {
	tile       *float32 // the row's tile values, from the first column to read
	dst        *float32 // the row's outputs, same columns
	invB, scB  *float64 // per column: 2^-eb, and 2^eb or 0 for a zero B block
	head16     *uint16  // noiseModel.head16, the kernels' table of thresholds
	n          int      // columns
	invA, scA  float64  // the row's 2^-ea, 2^ea
	step       float64  // Δ
	lo, hi     float64  // the extreme codes
	levelScale float64  // noiseModel.levelScale
	state      uint64   // the stream's SplitMix64 state,
	bits       uint64   // its unused pieces,
	nbits      int      // and how many bits they hold
	readouts   int64
	clipped    int64
	noisy      int64    // 1 with ADC noise
	assign     int64    // 1: dst = readout (dead where no readout), 0: dst += readout
	dead       float32  // what a tile with a zero block reads when assigning
	codes      *float64 // per column: the code (prepareRowAVX2, writeRowAVX2)
	thr        *uint64  // per column: the fast path's threshold, slowThr or deadThr
	xs         *float64 // per column: x = P/Δ (prepareRowAVX2)
}

// Thresholds of prepareRowAVX2 for a lane that no piece decides (its tail
// level is below 1, or NaN) and for a dead lane: both above every 16-bit
// piece, so that one comparison finds the common case.
const (
	slowThr = 1 << 16
	deadThr = 1 << 17
)

// rowReader reads out the rows of one tile (see blockRead.readTile): a
// rowRead for the vector kernel, and the same quantities for the scalar
// loop, which is the definition.
type rowReader struct {
	job       rowRead // the row's scales and the counts live here
	scB, invB []float64
	nm        *noiseModel
	s         *stream
	lanes     int // 8: readRowAVX512, 4: readRowAVX2, 0: the scalar loop alone
	// The three-pass noisy read's per-column codes, thresholds and x (see
	// readRow), at least as long as a row.
	codes, xs []float64
	thr       []uint64
}

// readRow reads out the row ti (exact tile values) into ri, both of the
// reader's n columns, with a vector kernel of r.lanes where it can and the
// scalar loop, which the kernels match bit for bit and whose stream they
// continue, for the rest: a readout off the noisy fast path (AVX-512) and
// the last n%4 columns (AVX2).
//
// The rest of a noisy row is read in three passes (readPasses) where the
// kernel would stop often: on AVX2 from the row's first group with a
// readout off the fast path, on AVX-512 from its second such readout or
// any later one where they have come once in denseGap columns or more
// often. With a wide converter (an 11-bit one leaves the fast path at one
// readout in seven, a 6-bit one at one in thousands) the kernel would stop
// at nearly every other group, and each stop costs a call of the scalar
// loop and one of the kernel.
func (r *rowReader) readRow(ti, ri []float32) {
	cols, lanes := len(ri), r.lanes
	j := 0
	if lanes == 8 && cols > 0 || lanes == 4 && cols >= 4 {
		job, s := &r.job, r.s
		job.state, job.bits, job.nbits = s.state, s.bits, s.nbits
		stops := 0 // the AVX-512 kernel's stops in this row
		for {
			job.tile, job.dst, job.invB, job.scB, job.n = &ti[j], &ri[j], &r.invB[j], &r.scB[j], cols-j
			// The conversion in the call keeps job's buffers alive (see
			// package unsafe): the kernels take a uintptr because avo
			// cannot name rowRead.
			step, passes := 1, lanes == 4
			if lanes == 8 {
				// All of the row but a readout off the fast path.
				j += readRowAVX512(uintptr(unsafe.Pointer(job)))
				stops++
				passes = stops >= 2 && j < stops*denseGap && cols-j >= 4
			} else {
				// Whole groups up to a group with a readout off the
				// fast path, which the scalar loop reads.
				j += readRowAVX2(uintptr(unsafe.Pointer(job)))
				step = lanes
			}
			if cols-j < step {
				break
			}
			s.state, s.bits, s.nbits = job.state, job.bits, job.nbits
			if passes {
				// The rest of the row in three passes, from the
				// group's (or the readout's) stream position.
				j = r.readPasses(ti, ri, j)
				job.state, job.bits, job.nbits = s.state, s.bits, s.nbits
				break
			}
			// The scalar loop from the same stream position.
			r.readGo(ti, ri, j, j+step)
			job.state, job.bits, job.nbits = s.state, s.bits, s.nbits
			if j += step; j == cols {
				break
			}
		}
		s.state, s.bits, s.nbits = job.state, job.bits, job.nbits
	}
	if j < cols {
		r.readGo(ti, ri, j, cols)
	}
}

// denseGap is the mean gap, in columns, between the readouts off the fast
// path of a row below which readRow reads the rest of the row in three
// passes on AVX-512: such readouts are then dense enough that the passes,
// which cost about 1 ns a readout more than the AVX-512 kernel but never
// stop, cost less than a call of the scalar loop and of the kernel at
// each (BenchmarkReadRow: 6-bit rows 2.4–2.6 ns a readout in passes
// against 1.4–1.6; 11-bit rows, one such readout in seven, under 9 ns
// against 12).
const denseGap = 16

// readPasses reads out the whole groups of four of columns [j, n) of the
// row ti into ri with noise, in three passes, and returns where it
// stopped: prepareRowAVX2 computes every code and threshold, decide runs
// the stream over them in column order and draws the noisy codes of the
// readouts no piece decides, and writeRowAVX2 reads the codes out. Each
// readout does the same arithmetic and takes the same pieces and draws as
// in readGo.
func (r *rowReader) readPasses(ti, ri []float32, j int) int {
	cols := len(ri) - j
	if len(r.codes) < cols || len(r.xs) < cols { // readers outside blockRead.readTile
		r.codes, r.thr, r.xs = make([]float64, cols), make([]uint64, cols), make([]float64, cols)
	}
	job := &r.job
	job.tile, job.dst, job.invB, job.scB, job.n = &ti[j], &ri[j], &r.invB[j], &r.scB[j], cols
	job.codes, job.thr, job.xs = &r.codes[0], &r.thr[0], &r.xs[0]
	prepareRowAVX2(uintptr(unsafe.Pointer(job)))
	r.decide(cols &^ 3)
	return j + writeRowAVX2(uintptr(unsafe.Pointer(job)))
}

// decide runs the stream over the first n columns of the row that
// prepareRowAVX2 prepared, as readGo does, from the thresholds it wrote: a
// live readout a piece decides takes it and keeps its code, and one that no
// piece decides gets slowCode's noisy code of its x in place of its code.
func (r *rowReader) decide(n int) {
	thr, codes, xs := r.thr[:n], r.codes[:n], r.xs[:n]
	nm, s := r.nm, r.s
	bits, nbits := s.bits, s.nbits
	for j, t := range thr {
		if t == deadThr {
			continue
		}
		if nbits == 0 {
			bits, nbits = s.Uint64(), 64
		}
		if bits&0xffff > t {
			bits >>= 16
			nbits -= 16
			continue
		}
		s.bits, s.nbits = bits, nbits
		codes[j] = nm.slowCode(xs[j], s)
		bits, nbits = s.bits, s.nbits
	}
	s.bits, s.nbits = bits, nbits
}

// readGo reads out columns [j0, j1) of the row ti into ri with scalar
// float64 arithmetic: x = tile·invA·invB/step, its code (noisy or not),
// clamped and counted, scaled back and stored or added; nothing for a
// column whose B block is zero but, when assigning, the dead value.
func (r *rowReader) readGo(ti, ri []float32, j0, j1 int) {
	// Everything the loop reads, in locals (registers), the stream's
	// pieces too: they go back to the stream around slowCode, which
	// draws from it.
	scB, invB := r.scB[:j1], r.invB[:j1]
	ti, ri = ti[:j1], ri[:j1]
	job := &r.job
	invA, scA, step, lo, hi := job.invA, job.scA, job.step, job.lo, job.hi
	noisy, assign, dead := job.noisy != 0, job.assign != 0, job.dead
	nm, s := r.nm, r.s
	levelScale, head := nm.levelScale, &nm.head
	readouts, clipped := job.readouts, job.clipped
	bits, nbits := s.bits, s.nbits
	for j := j0; j < j1; j++ {
		if scB[j] == 0 {
			if assign {
				ri[j] = dead
			}
			continue
		}
		readouts++
		x := float64(ti[j]) * invA * invB[j] / step // P/Δ, P the exact integer
		code := math.RoundToEven(x)
		if noisy {
			// nm.code(x, s), inlined by hand (see there).
			level := (0.5 - math.Abs(x-code)) * levelScale
			if nbits == 0 {
				bits, nbits = s.Uint64(), 64
			}
			if level > maxLevel {
				level = maxLevel
			}
			if level >= 1 && bits&0xffff > head[int(level)] {
				bits >>= 16
				nbits -= 16
			} else {
				s.bits, s.nbits = bits, nbits
				code = nm.slowCode(x, s)
				bits, nbits = s.bits, s.nbits
			}
		}
		if code < lo || code > hi {
			clipped++
			code = max(lo, min(hi, code))
		}
		v := float32(code * step * scA * scB[j])
		if assign {
			ri[j] = v
		} else {
			ri[j] += v
		}
	}
	s.bits, s.nbits = bits, nbits
	job.readouts, job.clipped = readouts, clipped
}
