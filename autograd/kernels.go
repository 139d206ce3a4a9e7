package autograd

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// Elementwise kernels shared by the ops, and the helper that spreads them
// over the machine's cores.
//
// A convolutional network spends as much time streaming activations
// through ReLU, batch norm and residual additions as in its GEMMs once
// those are fast, so the big loops run on every core (GOMAXPROCS
// goroutines, never more) and are written so the compiler can keep them
// tight: re-sliced operands (no bounds checks), no branches on data where a
// select works.

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
func parallelFor(n int, f func(lo, hi int)) {
	if n < parallelMinElems {
		f(0, n)
		return
	}
	parallelChunks(n, parallelChunkElems, f)
}

// parallelChannels splits channels [0, c) over goroutines, one channel at
// a time, for per-channel loops over a tensor of elems elements in all.
func parallelChannels(c, elems int, f func(c0, c1 int)) {
	if elems < parallelMinElems {
		f(0, c)
		return
	}
	parallelChunks(c, 1, f)
}

// parallelChunks calls f on the chunks [i·chunk, (i+1)·chunk) ∩ [0, n),
// handed out in order through an atomic counter to up to GOMAXPROCS
// goroutines, the caller's included, and waits for all.
func parallelChunks(n, chunk int, f func(lo, hi int)) {
	count := (n + chunk - 1) / chunk
	workers := min(runtime.GOMAXPROCS(0), count)
	if workers < 2 {
		f(0, n)
		return
	}
	var next atomic.Int64
	work := func() {
		for {
			c := int(next.Add(1) - 1)
			if c >= count {
				return
			}
			f(c*chunk, min((c+1)*chunk, n))
		}
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Go(work)
	}
	work()
	wg.Wait()
}

// positiveMask returns all ones when v > 0 and zero when v ≤ 0 (including
// −0), computed without a branch: the kernels below AND a value's bits with
// it. ReLU masks are data-dependent and close to random, so a branch would
// be mispredicted about half the time, which costs several times more than
// the arithmetic. A NaN with the sign bit clear counts as positive, so
// ReLU passes NaN through, as PyTorch does.
func positiveMask(v float32) uint32 {
	b := int64(int32(math.Float32bits(v)))
	return uint32((-b) >> 63)
}

// relu writes max(x, 0) into y.
func relu(y, x []float32) {
	parallelFor(len(x), func(lo, hi int) {
		xs, ys := x[lo:hi], y[lo:hi]
		ys = ys[:len(xs)]
		for i, v := range xs {
			ys[i] = math.Float32frombits(math.Float32bits(v) & positiveMask(v))
		}
	})
}

// reluBackward adds g into gx where x > 0; with assign it overwrites gx
// instead (g where x > 0, else 0).
func reluBackward(gx, g, x []float32, assign bool) {
	parallelFor(len(x), func(lo, hi int) {
		xs, gs, gxs := x[lo:hi], g[lo:hi], gx[lo:hi]
		gs, gxs = gs[:len(xs)], gxs[:len(xs)]
		if assign {
			for i, v := range xs {
				gxs[i] = math.Float32frombits(math.Float32bits(gs[i]) & positiveMask(v))
			}
			return
		}
		for i, v := range xs {
			gxs[i] += math.Float32frombits(math.Float32bits(gs[i]) & positiveMask(v))
		}
	})
}

// shiftedSums returns Σ(x−k) and Σ(x−k)² in float64, with four
// independent accumulators so the additions pipeline.
func shiftedSums(xs []float32, k float32) (sum, sumSq float64) {
	var s0, s1, s2, s3, q0, q1, q2, q3 float64
	i := 0
	for ; i+4 <= len(xs); i += 4 {
		d0, d1 := float64(xs[i]-k), float64(xs[i+1]-k)
		d2, d3 := float64(xs[i+2]-k), float64(xs[i+3]-k)
		s0, s1, s2, s3 = s0+d0, s1+d1, s2+d2, s3+d3
		q0, q1, q2, q3 = q0+d0*d0, q1+d1*d1, q2+d2*d2, q3+d3*d3
	}
	for ; i < len(xs); i++ {
		d := float64(xs[i] - k)
		s0 += d
		q0 += d * d
	}
	return (s0 + s1) + (s2 + s3), (q0 + q1) + (q2 + q3)
}

// sumAndDot returns Σg and Σg·x in float64 (len(x) ≥ len(g)), counting
// only the elements where mask > 0 when mask is not nil.
func sumAndDot(g, x, mask []float32) (sum, dot float64) {
	x = x[:len(g)]
	if mask != nil {
		mask = mask[:len(g)]
		var s0, s1, d0, d1 float64
		i := 0
		for ; i+2 <= len(g); i += 2 {
			g0 := float64(math.Float32frombits(math.Float32bits(g[i]) & positiveMask(mask[i])))
			g1 := float64(math.Float32frombits(math.Float32bits(g[i+1]) & positiveMask(mask[i+1])))
			s0, s1 = s0+g0, s1+g1
			d0 += g0 * float64(x[i])
			d1 += g1 * float64(x[i+1])
		}
		if i < len(g) {
			g0 := float64(math.Float32frombits(math.Float32bits(g[i]) & positiveMask(mask[i])))
			s0 += g0
			d0 += g0 * float64(x[i])
		}
		return s0 + s1, d0 + d1
	}
	var s0, s1, s2, s3, d0, d1, d2, d3 float64
	i := 0
	for ; i+4 <= len(g); i += 4 {
		g0, g1, g2, g3 := float64(g[i]), float64(g[i+1]), float64(g[i+2]), float64(g[i+3])
		s0, s1, s2, s3 = s0+g0, s1+g1, s2+g2, s3+g3
		d0 += g0 * float64(x[i])
		d1 += g1 * float64(x[i+1])
		d2 += g2 * float64(x[i+2])
		d3 += g3 * float64(x[i+3])
	}
	for ; i < len(g); i++ {
		s0 += float64(g[i])
		d0 += float64(g[i]) * float64(x[i])
	}
	return (s0 + s1) + (s2 + s3), (d0 + d1) + (d2 + d3)
}

// axpb writes y = x·a + b, or max(x·a + b, 0) with relu.
func axpb(y, x []float32, a, b float32, relu bool) {
	y = y[:len(x)]
	if relu {
		for i, v := range x {
			v = v*a + b
			y[i] = math.Float32frombits(math.Float32bits(v) & positiveMask(v))
		}
		return
	}
	for i, v := range x {
		y[i] = v*a + b
	}
}

// addAffine2 adds (g·p + x·q + r) into dst — only where mask > 0 when mask
// is not nil, the rest adding 0 — or, with assign, overwrites dst with it.
func addAffine2(dst, g, x, mask []float32, p, q, r float32, assign bool) {
	g, x = g[:len(dst)], x[:len(dst)]
	if mask != nil {
		mask = mask[:len(dst)]
		if assign {
			for i := range dst {
				v := math.Float32frombits(math.Float32bits(g[i]) & positiveMask(mask[i]))
				dst[i] = v*p + x[i]*q + r
			}
			return
		}
		for i := range dst {
			v := math.Float32frombits(math.Float32bits(g[i]) & positiveMask(mask[i]))
			dst[i] += v*p + x[i]*q + r
		}
		return
	}
	if assign {
		for i := range dst {
			dst[i] = g[i]*p + x[i]*q + r
		}
		return
	}
	for i := range dst {
		dst[i] += g[i]*p + x[i]*q + r
	}
}
