package conv

import (
	"runtime"

	"github.com/mirage-go/mirage/internal/gemm"
	"github.com/mirage-go/mirage/internal/vec"
)

// WeightGrad adds into dw (O, C, KH, KW) the weight gradient of the
// convolution of x (N, C, H, W) for output gradient dy (N, O, OH, OW); it
// is Backward without the input gradient.
func (w *Workers) WeightGrad(g Geometry, o int, x, dy, dw []float32) {
	w.Backward(g, o, x, dy, nil, nil, dw, false)
}

// Backward computes the gradients of the convolution of x (N, C, H, W)
// with weights wts (O, C, KH, KW) for output gradient dy (N, O, OH, OW):
// it adds the weight gradient into dw (when dw is not nil), and adds the
// input gradient into dx — or, with assign, writes it — when dx is not
// nil, which needs g.Implicit() (see ImplicitInputGrad). Both are computed
// in one pass over the images, so each image's dy is read from memory
// once.
//
// The weight gradient is
//
//	dw += Σₙ dyₙ · colsₙ    dyₙ (O × OH·OW) as stored, colsₙ the image's im2col matrix
//
// (for any geometry). The batch is cut into a fixed number of
// chunks of consecutive images, each reduced into its own partial
// gradient by one goroutine, image by image (each image's cols, 9× the
// image for a 3×3 kernel, is written and read while it is in that
// core's cache); the partial gradients are added into dw in chunk order.
// So goroutines meet once per call rather than once per image or block,
// and the result depends on GOMAXPROCS (the chunks) but not on how the
// goroutines are scheduled.
//
// Convolutions with square kernels (g.Implicit()) skip cols: on the grid
// of ForwardImplicit (output rows at the padded width PW, P' = OH·PW
// positions, at stride 1), kernel entry (ky, kx) of input channel c sees
// the padded image from offset c·PH·PW + ky·PW + kx on, so
//
//	dw[·][·][ky][kx]ᵀ (C × O) += Xₖ (C × P') · dyTₙ (P' × O)
//
// with Xₖ the padded image read in place at that offset (rows one plane
// apart) and dyTₙ the output gradient transposed onto the grid (zero at
// the KW−1 extra positions of each row): KH·KW products per image, which
// move one copy of the image and of dy instead of KH·KW copies of the
// image. At stride s > 1 the same holds on the phase images (strided.go):
// the grid is OH·QW positions, and entry (ky, kx) = (s·u + a, s·v + b)
// reads phase (a, b) from offset c·QH·QW + u·QW + v on.
func (w *Workers) Backward(g Geometry, o int, x, dy, wts, dx, dw []float32, assign bool) {
	if dx != nil && !g.Implicit() {
		panic("conv: Backward computes input gradients only for a square kernel and padding below the kernel size")
	}
	if dw == nil {
		if dx != nil {
			w.ImplicitInputGrad(g, o, dy, wts, dx, assign)
		}
		return
	}
	k := g.Cols()
	if g.N*g.C*g.H*g.W == 0 || o == 0 || k == 0 {
		if dx != nil && assign {
			clear(dx[:g.N*g.C*g.H*g.W])
		}
		return
	}
	positions := g.OutH() * g.OutW()
	_ = x[g.N*g.C*g.H*g.W-1]
	_ = dy[g.N*o*positions-1]
	_ = dw[o*k-1]
	var flipped []float32
	var off []int
	if dx != nil {
		flipped, off = w.prepareInputGrad(g, o, dy, wts, dx)
	}
	// A few chunks per goroutine, so that one the OS runs late leaves
	// little work behind.
	chunks := min(g.N, 2*runtime.GOMAXPROCS(0))
	if g.N*positions*k*o < parallelMin*64 {
		chunks = 1
	}
	size := o * k
	rows := implicitWeightRows(g, o)
	if rows > 0 {
		size = g.KH * g.KW * rows * o
	}
	if cap(w.partials) < chunks*size {
		w.partials = make([]float32, chunks*size)
	}
	partials := w.partials[:chunks*size]
	w.run(job{kind: jobBackward, g: g, a: x, b: dy, c: partials, d: flipped, e: dx, o: o, n: chunks, p: rows, k: g.gridImages(), offsets: off, assign: assign}, chunks, parallelMin)
	if rows == 0 {
		for c := 0; c < chunks; c++ {
			part := partials[c*size : (c+1)*size]
			dst := dw[:size]
			for i, v := range part {
				dst[i] += v
			}
		}
		return
	}
	// Partials are (KH·KW, rows ≥ C, O); dw is (O, C, KH·KW).
	kk := g.KH * g.KW
	for e := 0; e < kk; e++ {
		for c := 0; c < g.C; c++ {
			for oc := 0; oc < o; oc++ {
				var sum float32
				for ch := 0; ch < chunks; ch++ {
					sum += partials[ch*size+(e*rows+c)*o+oc]
				}
				dw[(oc*g.C+c)*kk+e] += sum
			}
		}
	}
}

// implicitWeightRows returns the number of rows (input channels, rounded
// up) of WeightGrad's per-entry products for a geometry it computes
// without cols, or 0 for the others. With 16 or fewer output channels the
// products are C × 16, which the 24×16 tiles of the AVX-512 kernels fit
// best; a C that is not a multiple of the tile height would make the GEMM
// pack the whole of A for its last tile, so the padded image gets zero
// planes up to a multiple of 24 (8 otherwise), and the extra rows of the
// product are computed and ignored.
//
// It is used for kernels up to 3×3 between layers of at least 16
// channels: with larger kernels or fewer channels (LeNet) the many small
// products cost more than im2col saves (LeNet-5's step was 7× slower).
//
// Where stacking shifted copies avoids the extra rows (shifted.go), the
// rows are the C channels.
func implicitWeightRows(g Geometry, o int) int {
	if !g.Implicit() || g.KH > 3 || g.C < 16 || o < 16 {
		return 0
	}
	if shiftedWeightRows(g, o) {
		return g.C
	}
	tile := weightGradTile(o)
	return (g.C + tile - 1) / tile * tile
}

// weightGradScratch is the scratch size of weightGradImage.
func weightGradScratch(g Geometry, o, rows int) int {
	if shiftedWeightRows(g, o) {
		return shiftedScratch(g, o)
	}
	if rows > 0 {
		sp, qh, qw := g.weightGrid()
		return sp*sp*rows*qh*qw + g.KW - 1 + g.OutH()*qw*o
	}
	padded := 0
	if g.Pad > 0 {
		padded = g.paddedImage()
	}
	return padded + g.OutH()*g.OutW()*g.Cols()
}

// backwardChunk computes Backward's chunk c — the input gradients of its
// images and its partial weight gradient — with goroutine worker's
// scratch buffer.
func (w *Workers) backwardChunk(j *job, worker, c int) {
	g, o, chunks, rows := j.g, j.o, j.n, j.p
	n0, n1 := g.N*c/chunks, g.N*(c+1)/chunks
	size := len(j.c) / chunks
	part := j.c[c*size : (c+1)*size]
	if n0 == n1 {
		clear(part)
		return
	}
	dxLen := 0
	if j.e != nil {
		dxLen = inputGradScratch(g, o)
	}
	buf := w.pad(worker, dxLen+weightGradScratch(g, o, rows))
	dxBuf, dwBuf := buf[:dxLen], buf[dxLen:]
	grids := rows > 0 && !shiftedWeightRows(g, o) // weightGradGrid, not weightGradImage
	if grids {
		// The planes past C of each phase, and the slack, stay zero
		// (phaseImage and padCanvas write only the first C planes).
		sp, qh, qw := g.weightGrid()
		plane := qh * qw
		for ph := 0; ph < sp*sp; ph++ {
			clear(dwBuf[(ph*rows+g.C)*plane : (ph+1)*rows*plane])
		}
		clear(dwBuf[sp*sp*rows*plane : sp*sp*rows*plane+g.KW-1])
	}
	var beta float32
	for n := n0; n < n1; n += j.k {
		count := min(j.k, n1-n)
		if j.e != nil {
			inputGradGroup(j, dxBuf, n, count)
		}
		if grids {
			weightGradGrid(j, dwBuf, n, count, part, beta)
			beta = 1
			continue
		}
		for i := n; i < n+count; i++ {
			weightGradImage(j, dwBuf, i, part, beta)
			beta = 1
		}
	}
}

// weightGrid returns the layout of the image the implicit weight gradient
// reads: phases per axis, and the height and width of one plane (at
// stride 1 the canvas of gridImages images, at stride > 1 the phases).
func (g Geometry) weightGrid() (sp, qh, qw int) {
	sp, qh, qw = g.phases()
	if g.Stride == 1 {
		qw = g.canvasWidth(g.gridImages())
	}
	return sp, qh, qw
}

// weightGradImage computes image n's weight gradient into part (beta = 0)
// or adds it (beta = 1), with scratch buf (len weightGradScratch), for the
// geometries without a grid of several images: with cols (j.p = 0 rows),
// or with shifted copies.
func weightGradImage(j *job, buf []float32, n int, part []float32, beta float32) {
	g, o := j.g, j.o
	oh, ow := g.OutH(), g.OutW()
	image, out := g.C*g.H*g.W, o*oh*ow
	xn, dyn := j.a[n*image:(n+1)*image], j.b[n*out:(n+1)*out]
	if shiftedWeightRows(g, o) {
		weightGradShifted(j, buf, n, part, beta)
		return
	}
	k := g.Cols()
	positions := oh * ow
	padded := 0
	if g.Pad > 0 {
		padded = g.paddedImage()
	}
	pad, cols := buf[:padded], buf[padded:padded+positions*k]
	one := g
	one.N = 1
	if g.Pad > 0 {
		im2colPadded(one, xn, cols, pad, 0, 1)
	} else {
		im2colImages(one, xn, cols, 0, 1)
	}
	gemm.SgemmSerial(false, false, o, k, positions, 1, dyn, positions, cols, k, beta, part, k)
}

// weightGradGrid computes the weight gradient of the count ≤ j.k images
// from n0 on without cols, on one grid (one image at stride > 1, whose
// grid is on its phases; a canvas of j.k at stride 1), into part (beta =
// 0) or added to it (beta = 1), with scratch buf (len weightGradScratch).
func weightGradGrid(j *job, buf []float32, n0, count int, part []float32, beta float32) {
	g, o, rows, k := j.g, j.o, j.p, j.k
	oh, ow := g.OutH(), g.OutW()
	image, out := g.C*g.H*g.W, o*oh*ow
	sp, qh, qw := g.weightGrid()
	plane := qh * qw
	grid := oh * qw
	padded := sp*sp*rows*plane + g.KW - 1
	xpad, dyT := buf[:padded], buf[padded:padded+grid*o]
	xs, dys := j.a[n0*image:(n0+count)*image], j.b[n0*out:(n0+count)*out]
	if g.Stride > 1 {
		phaseImage(g, xs, xpad, rows)
		transposeOntoGrid(dyT, dys, o, oh, ow, qw, qw)
	} else {
		padCanvas(g, xs, count, k, xpad)
		// Slot i of the canvas grid: columns [i·(W+Pad), (i+1)·(W+Pad)),
		// the last one up to the grid's width.
		slot := g.W + g.Pad
		for i := 0; i < k; i++ {
			width := slot
			if i == k-1 {
				width = qw - i*slot
			}
			at := dyT[i*slot*o:]
			if i < count {
				transposeOntoGrid(at, dys[i*out:(i+1)*out], o, oh, ow, width, qw)
				continue
			}
			for oy := 0; oy < oh; oy++ {
				clear(at[oy*qw*o : (oy*qw+width)*o])
			}
		}
	}
	kk := g.KH * g.KW
	for e := 0; e < kk; e++ {
		off := e/g.KW*qw + e%g.KW // the canvas at stride 1
		if g.Stride > 1 {
			off = g.phaseOffset(e/g.KW, e%g.KW, rows)
		}
		gemm.SgemmSerial(false, false, rows, o, grid, 1, xpad[off:], plane, dyT, o, beta, part[e*rows*o:(e+1)*rows*o], o)
	}
}

// transposeOntoGrid writes dyT[(oy·stride + ox)·o + oc] = dy[oc][oy][ox]
// for ox < ow, and zero for ow ≤ ox < width: eight channels at a time
// with vec.Transpose8 (8×8 blocks in registers).
func transposeOntoGrid(dyT, dy []float32, o, oh, ow, width, stride int) {
	plane := oh * ow
	for oy := 0; oy < oh; oy++ {
		row := dyT[oy*stride*o : (oy*stride+width)*o]
		oc := 0
		for ; oc+8 <= o; oc += 8 {
			vec.Transpose8(row[oc:], o, dy[oc*plane+oy*ow:], plane, ow)
		}
		for ; oc < o; oc++ {
			src := dy[oc*plane+oy*ow : oc*plane+(oy+1)*ow]
			for ox, v := range src {
				row[ox*o+oc] = v
			}
		}
		clear(row[ow*o:])
	}
}
