package autograd

import (
	"runtime"

	"github.com/mirage-go/mirage/internal/vec"
)

// Elementwise kernels shared by the ops, and the helpers that spread them
// over the machine's cores.
//
// A convolutional network spends as much time streaming activations
// through ReLU, batch norm and residual additions as in its GEMMs once
// those are fast, so the big loops run on every core (GOMAXPROCS
// goroutines, never more) and are written so the compiler can keep them
// tight: re-sliced operands (no bounds checks), no branches on data where a
// select works.
//
// The loops run on the tape's parallel.Team, shared with its convolution
// kernels: its helper goroutines spin between loops, so that a loop that
// follows another within 50 µs (most loops of a training step) starts on
// every core at once, instead of waiting a thread wake-up (70–300 µs on
// the virtual machines mirage is benchmarked on) for its second core.

// parallelMinElems is the number of elements under which splitting a loop
// over goroutines costs more (about a microsecond per goroutine) than it
// saves.
const parallelMinElems = 1 << 15

// parallelChunkElems is the size of the pieces parallelFor hands out: small
// enough that a goroutine the OS runs late (on a shared machine) only
// delays a small piece while the others take the rest, large enough that
// handing one out (an atomic add) costs nothing. A multiple of 16, so
// workers never share a cache line of float32s.
const parallelChunkElems = 1 << 14

// parallelFor calls f on disjoint ranges [lo, hi) that cover [0, n), on up
// to GOMAXPROCS goroutines (the caller's included), and waits. Small n runs
// inline.
func (t *Tape) parallelFor(n int, f func(lo, hi int)) {
	if n < parallelMinElems {
		f(0, n)
		return
	}
	t.parallelChunks(n, parallelChunkElems, f)
}

// parallelRows splits rows [0, rows) of cols elements each over
// goroutines, several rows at a time, for loops that treat each row on its
// own (a softmax, a normalisation over the last axis).
func (t *Tape) parallelRows(rows, cols int, f func(r0, r1 int)) {
	if rows*cols < parallelMinElems {
		f(0, rows)
		return
	}
	t.parallelChunks(rows, max(1, parallelChunkElems/max(cols, 1)), f)
}

// parallelChannels splits channels [0, c) over goroutines, one channel at
// a time, for per-channel loops over a tensor of elems elements in all.
func (t *Tape) parallelChannels(c, elems int, f func(c0, c1 int)) {
	if elems < parallelMinElems {
		f(0, c)
		return
	}
	t.parallelChunks(c, 1, f)
}

// parallelChunks calls f on the chunks [i·chunk, (i+1)·chunk) ∩ [0, n),
// handed out in order to up to GOMAXPROCS goroutines of the tape's team,
// the caller's included, and waits for all. A chunk's bounds do not depend
// on which goroutine runs it, so neither do the results.
func (t *Tape) parallelChunks(n, chunk int, f func(lo, hi int)) {
	count := (n + chunk - 1) / chunk
	procs := min(runtime.GOMAXPROCS(0), count)
	if procs < 2 {
		f(0, n)
		return
	}
	t.team.Run(procs, count, func(_, c int) {
		f(c*chunk, min((c+1)*chunk, n))
	})
}

// positiveMask returns all ones when v > 0 and zero when v ≤ 0 (including
// −0), without a branch; a NaN counts as positive when its sign bit is
// clear. It is the rule of every ReLU mask here, implemented in package vec.
func positiveMask(v float32) uint32 { return vec.PositiveMask(v) }

// The loops below run in package vec's kernels (AVX2 or AVX-512 where the
// CPU has them), inside the chunks parallelFor hands out. The elementwise
// ones give bit for bit the results of the Go loops they replaced (up to
// which NaN an accumulation keeps when it adds a NaN to a NaN, which Go
// leaves to register allocation); the float64 sums differ in the order of
// their additions.

// relu writes max(x, 0) into y.
func (t *Tape) relu(y, x []float32) {
	t.parallelFor(len(x), func(lo, hi int) {
		vec.ReLU(y[lo:hi], x[lo:hi])
	})
}

// reluBackward adds g into gx where x > 0; with assign it overwrites gx
// instead (g where x > 0, else 0).
func (t *Tape) reluBackward(gx, g, x []float32, assign bool) {
	t.parallelFor(len(x), func(lo, hi int) {
		if assign {
			vec.MaskPositive(gx[lo:hi], g[lo:hi], x[lo:hi])
			return
		}
		vec.AddMaskPositive(gx[lo:hi], g[lo:hi], x[lo:hi])
	})
}

// shiftedSums returns Σ(x−k) and Σ(x−k)² in float64.
func shiftedSums(xs []float32, k float32) (sum, sumSq float64) {
	return vec.ShiftedSums(xs, k)
}

// sumAndDot returns Σg and Σg·x in float64 (len(x) ≥ len(g)), counting
// only the elements where mask > 0 when mask is not nil.
func sumAndDot(g, x, mask []float32) (sum, dot float64) {
	return vec.SumAndDot(g, x, mask)
}

// axpb writes y = x·a + b, or max(x·a + b, 0) with relu.
func axpb(y, x []float32, a, b float32, relu bool) {
	y = y[:len(x)]
	if relu {
		vec.AxpbReLU(y, x, a, b)
		return
	}
	vec.Axpb(y, x, a, b)
}

// addAffine2 adds (g·p + x·q + r) into dst — only where mask > 0 when mask
// is not nil, the rest adding 0 — or, with assign, overwrites dst with it.
func addAffine2(dst, g, x, mask []float32, p, q, r float32, assign bool) {
	if assign {
		vec.Affine2(dst, g, x, mask, p, q, r)
		return
	}
	vec.AddAffine2(dst, g, x, mask, p, q, r)
}
