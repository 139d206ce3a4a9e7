package autograd

import (
	"runtime"
	"sync"
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

// parallelFor calls f on disjoint ranges [lo, hi) that cover [0, n), on up
// to GOMAXPROCS goroutines (the caller's included), and waits. Range
// boundaries are multiples of 16 elements so that workers never share a
// cache line of float32s. Small n runs inline.
func parallelFor(n int, f func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers < 2 || n < parallelMinElems {
		f(0, n)
		return
	}
	workers = min(workers, n/(parallelMinElems/2))
	bound := func(w int) int {
		if w == workers {
			return n
		}
		return (n * w / workers) &^ 15
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		lo, hi := bound(w), bound(w+1)
		wg.Go(func() { f(lo, hi) })
	}
	f(0, bound(1))
	wg.Wait()
}

// relu writes max(x, 0) into y.
func relu(y, x []float32) {
	parallelFor(len(x), func(lo, hi int) {
		xs, ys := x[lo:hi], y[lo:hi]
		ys = ys[:len(xs)]
		for i, v := range xs {
			if !(v > 0) { // NaN and negative zero become +0 too
				v = 0
			}
			ys[i] = v
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
				d := gs[i]
				if !(v > 0) {
					d = 0
				}
				gxs[i] = d
			}
			return
		}
		for i, v := range xs {
			if v > 0 {
				gxs[i] += gs[i]
			}
		}
	})
}

// parallelChannels splits channels [0, c) over goroutines as parallelFor
// does, for per-channel loops over a tensor of elems elements in all.
func parallelChannels(c, elems int, f func(c0, c1 int)) {
	workers := min(runtime.GOMAXPROCS(0), c)
	if workers < 2 || elems < parallelMinElems {
		f(0, c)
		return
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		c0, c1 := c*w/workers, c*(w+1)/workers
		wg.Go(func() { f(c0, c1) })
	}
	f(0, c/workers)
	wg.Wait()
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

// sumAndDot returns Σg and Σg·x in float64 (len(x) ≥ len(g)).
func sumAndDot(g, x []float32) (sum, dot float64) {
	x = x[:len(g)]
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

// axpb writes y = x·a + b.
func axpb(y, x []float32, a, b float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = v*a + b
	}
}

// addAffine2 adds g·p + x·q + r into dst; with assign it overwrites dst.
func addAffine2(dst, g, x []float32, p, q, r float32, assign bool) {
	g, x = g[:len(dst)], x[:len(dst)]
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
