package conv

import (
	"runtime"

	"github.com/mirage-go/mirage/internal/parallel"
)

// Workers runs the package's kernels on GOMAXPROCS goroutines (the
// caller's included) without allocating, so that a caller that keeps one
// Workers — autograd keeps one per tape — can call the kernels thousands of
// times per training step for free. The package functions (Im2col, …) use
// a fresh one per call.
//
// The goroutines are those of a [parallel.Team]: the Workers' own, or one
// shared with the caller's other loops (see UseTeam), whose helpers spin
// between loops, so that a kernel called shortly after another loop starts
// on every core at once rather than after a thread wakes up. Images are
// handed out one at a time through the team's atomic counter, so a
// goroutine that the OS runs late (on a shared machine) takes fewer images
// instead of holding everyone up. Every image is computed by one goroutine
// in the same order, so results do not depend on the split.
//
// The zero value is ready to use. A Workers runs one kernel at a time: it
// must not be used by several goroutines at once.
type Workers struct {
	job job // the kernel being run
	// team runs the kernels' loops: shared, if UseTeam was called, else
	// own.
	team *parallel.Team
	own  parallel.Team
	// image is w.runImage, made once so that handing it to the team
	// allocates nothing.
	image func(worker, n int)
	// pads are per-goroutine scratch images (index 0: the caller's), for
	// the kernels that work on a zero-padded copy of an image.
	pads [][]float32
	// offsets and flipped hold the implicit kernels' offset table and
	// rearranged weights, written before the goroutines start.
	offsets []int
	flipped []float32
	// packed holds Col2imProduct's weights packed for gemm.SgemmShifted.
	packed []float32
	// partials holds Backward's per-chunk weight gradients.
	partials []float32
}

// UseTeam makes w run its kernels on team's goroutines instead of a team
// of its own, so that a program's loops share one set of spinning helpers
// (two sets, each helper spinning on a core that the other needs, would
// slow both).
func (w *Workers) UseTeam(team *parallel.Team) { w.team = team }

// pad returns goroutine worker's scratch buffer resized to n elements,
// reallocated only when it grows. run sizes w.pads before starting the
// goroutines, so each one only touches its own element.
func (w *Workers) pad(worker, n int) []float32 {
	if cap(w.pads[worker]) < n {
		w.pads[worker] = make([]float32, n)
	}
	return w.pads[worker][:n]
}

// job is one kernel call: which kernel and its operands.
type job struct {
	kind          int
	g             Geometry
	a, b, c, d, e []float32
	n, o, p       int
	k             int // images per grid (canvas) of the implicit kernels
	offsets       []int
	assign        bool
}

const (
	jobIm2col = iota
	jobCol2im
	jobRowsToNCHW
	jobNCHWToRows
	jobChannelRows
	jobImplicitForward
	jobImplicitInputGrad
	jobCol2imProduct
	jobBackward
)

// do runs the job on images [n0, n1) with worker's scratch buffers.
func (w *Workers) do(j *job, worker, n0, n1 int) {
	switch j.kind {
	case jobIm2col:
		if j.g.Pad > 0 {
			im2colPadded(j.g, j.a, j.b, w.pad(worker, j.g.paddedImage()), n0, n1)
		} else {
			im2colImages(j.g, j.a, j.b, n0, n1)
		}
	case jobCol2im:
		if j.assign {
			image := j.g.C * j.g.H * j.g.W
			clear(j.b[n0*image : n1*image])
		}
		if j.g.Pad > 0 {
			col2imPadded(j.g, j.a, j.b, w.pad(worker, j.g.paddedImage()), n0, n1)
		} else {
			col2imImages(j.g, j.a, j.b, n0, n1)
		}
	case jobRowsToNCHW:
		rowsToNCHWImages(j.a, j.c, j.b, j.o, j.p, n0, n1)
	case jobNCHWToRows:
		nchwToRowsImages(j.a, j.b, j.o, j.p, n0, n1)
	case jobChannelRows:
		channelRowsImages(j.a, j.b, j.n, j.o, j.p, n0, n1)
	case jobImplicitForward:
		w.implicitForwardImages(j, worker, n0, n1)
	case jobBackward:
		for c := n0; c < n1; c++ {
			w.backwardChunk(j, worker, c)
		}
	case jobImplicitInputGrad:
		w.implicitInputGradImages(j, worker, n0, n1)
	case jobCol2imProduct:
		buf := w.pad(worker, col2imProductScratch(j.g, j.o))
		for i := n0; i < n1; i++ {
			col2imProductCanvas(j, buf, i)
		}
	}
}

// run does j on images [0, count), in parallel when elems (the elements
// the job moves) is large enough to pay for sharing the work.
func (w *Workers) run(j job, count, elems int) {
	procs := min(runtime.GOMAXPROCS(0), count)
	for len(w.pads) < max(procs, 1) {
		w.pads = append(w.pads, nil)
	}
	team, least := w.team, sharedParallelMin
	if team == nil {
		team, least = &w.own, parallelMin
	}
	if procs <= 1 || elems < least {
		w.do(&j, 0, 0, count)
		return
	}
	if w.image == nil {
		w.image = w.runImage
	}
	w.job = j
	team.Run(procs, count, w.image)
	w.job = job{} // keep no reference to the caller's buffers
}

// runImage does the job in progress on image n, as goroutine worker.
func (w *Workers) runImage(worker, n int) {
	w.do(&w.job, worker, n, n+1)
}
