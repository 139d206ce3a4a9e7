package conv

import (
	"runtime"

	"github.com/mirage-go/mirage/internal/gemm"
)

// WeightGrad adds into dw (O, C, KH, KW) the weight gradient of the
// convolution of x (N, C, H, W) for output gradient dy (N, O, OH, OW):
//
//	dw += Σₙ dyₙ · colsₙ    dyₙ (O × OH·OW) as stored, colsₙ the image's im2col matrix
//
// It works for any geometry. The batch is cut into a fixed number of
// chunks of consecutive images, each reduced into its own partial
// gradient by one goroutine, image by image (each image's cols, 9× the
// image for a 3×3 kernel, is written and read while it is in that
// core's cache); the partial gradients are added into dw in chunk order.
// So goroutines meet once per call rather than once per image or block,
// and the result depends on GOMAXPROCS (the chunks) but not on how the
// goroutines are scheduled.
func (w *Workers) WeightGrad(g Geometry, o int, x, dy, dw []float32) {
	k := g.Cols()
	if g.N == 0 || o == 0 || k == 0 {
		return
	}
	positions := g.OutH() * g.OutW()
	_ = x[g.N*g.C*g.H*g.W-1]
	_ = dy[g.N*o*positions-1]
	_ = dw[o*k-1]
	// A few chunks per goroutine, so that one the OS runs late leaves
	// little work behind.
	chunks := min(g.N, 2*runtime.GOMAXPROCS(0))
	if g.N*positions*k*o < parallelMin*64 {
		chunks = 1
	}
	size := o * k
	if cap(w.partials) < chunks*size {
		w.partials = make([]float32, chunks*size)
	}
	partials := w.partials[:chunks*size]
	w.run(job{kind: jobWeightGrad, g: g, a: x, b: dy, c: partials, o: o, n: chunks}, chunks, parallelMin)
	for c := 0; c < chunks; c++ {
		part := partials[c*size : (c+1)*size]
		dst := dw[:size]
		for i, v := range part {
			dst[i] += v
		}
	}
}

// weightGradChunk computes chunk c of WeightGrad's partial gradients with
// goroutine worker's scratch buffers.
func (w *Workers) weightGradChunk(j *job, worker, c int) {
	g, o, chunks := j.g, j.o, j.n
	k := g.Cols()
	positions := g.OutH() * g.OutW()
	n0, n1 := g.N*c/chunks, g.N*(c+1)/chunks
	part := j.c[c*o*k : (c+1)*o*k]
	image := g.C * g.H * g.W
	one := g
	one.N = 1
	padded := 0
	if g.Pad > 0 {
		padded = g.paddedImage()
	}
	buf := w.pad(worker, padded+positions*k)
	pad, cols := buf[:padded], buf[padded:]
	var beta float32
	for n := n0; n < n1; n++ {
		xn := j.a[n*image : (n+1)*image]
		if g.Pad > 0 {
			im2colPadded(one, xn, cols, pad, 0, 1)
		} else {
			im2colImages(one, xn, cols, 0, 1)
		}
		gemm.SgemmSerial(false, false, o, k, positions, 1, j.b[n*o*positions:(n+1)*o*positions], positions, cols, k, beta, part, k)
		beta = 1
	}
	if n0 == n1 {
		clear(part)
	}
}
