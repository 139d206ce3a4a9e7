package conv

import (
	"github.com/mirage-go/mirage/internal/gemm"
	"github.com/mirage-go/mirage/internal/vec"
)

// Implicit GEMM. A stride-1 convolution of one zero-padded image (C planes
// of PH×PW) can be computed on a grid of OH×PW output positions — the
// output rows at the full padded width — instead of OH×OW: output position
// j = oy·PW + ox reads input pixel j + c·PH·PW + ky·PW + kx for kernel
// entry (c, ky, kx). So the receptive field of every grid position is the
// same offset table added to j, and
//
//	grid (O × OH·PW) = w (O × C·KH·KW) · B,  B row (c, ky, kx) = padded image from that offset on
//
// is one GEMM whose B rows are runs of the padded image
// (gemm.SgemmRowsB): the GEMM's packing step gathers them into the panels
// it feeds its kernel, and the column matrix is never written. The
// KW−1 positions at the end of each grid row (ox ≥ OW) straddle two image
// rows and are dropped; they cost (PW−OW)/OW more arithmetic (6% on a
// 32-wide ResNet stage, 25% on the 8-wide one), far less than im2col's
// copies cost.
//
// The input gradient of a stride-1 convolution is itself such a
// convolution: of the output gradient, padded by KH−1−Pad, with the
// weights swapped between input and output channels and rotated by 180°.
//
// Larger strides split the padded image into phases first (strided.go).

// Implicit reports whether ImplicitForward and ImplicitInputGrad handle g:
// a square kernel, and padding less than the kernel size (so that the
// stride-1 input gradient's padding, KH−1−Pad, is not negative), at any
// stride.
func (g Geometry) Implicit() bool {
	return g.Stride >= 1 && g.KH == g.KW && g.Pad < g.KH
}

// phaseOffsets fills dst (grown if needed) with the start of each kernel
// entry (c, ky, kx), in (c, ky, kx) order, in the phase images of one
// padded image (see phaseImage; at stride 1, the padded image).
func (g Geometry) phaseOffsets(dst []int) []int {
	n := g.Cols()
	if cap(dst) < n {
		dst = make([]int, n)
	}
	off := dst[:n]
	_, qh, qw := g.phases()
	for ky := 0; ky < g.KH; ky++ {
		for kx := 0; kx < g.KW; kx++ {
			at := g.phaseOffset(ky, kx, g.C)
			for c := 0; c < g.C; c++ {
				off[(c*g.KH+ky)*g.KW+kx] = at + c*qh*qw
			}
		}
	}
	return off
}

// The grid. ImplicitForward computes the output on grids of OutH rows of
// GridWidth columns, each grid the output of GridCanvas images side by
// side on one zero-padded canvas (canvas.go; one image, split into phases
// at stride > 1): output position (oy, ox) of the canvas's image i is grid
// column oy·GridWidth() + i·GridSlot() + ox, and the grid's
// other columns are dropped. Row (c, ky, kx) of the transposed im2col
// matrix over the grid is the run of GridImage's buffer that starts at
// GridOffsets' entry (c, ky, kx). These are exported for backends that
// read the runs themselves (quantising them while they read).

// GridCanvas returns the number of images per grid.
func (g Geometry) GridCanvas() int { return g.gridImages() }

// GridWidth returns the number of columns of a grid row.
func (g Geometry) GridWidth() int {
	if k := g.gridImages(); k > 1 {
		return g.canvasWidth(k)
	}
	_, _, qw := g.phases()
	return qw
}

// GridSlot returns the grid columns from one image of a canvas to the
// next: its W + Pad columns (the image and the zeros after it).
func (g Geometry) GridSlot() int { return g.W + g.Pad }

// GridImageLen returns the length of GridImage's buffer.
func (g Geometry) GridImageLen() int {
	if k := g.gridImages(); k > 1 {
		return g.C*(g.H+2*g.Pad)*g.canvasWidth(k) + g.KW - 1
	}
	return g.phasedImage(g.C)
}

// GridImage writes the canvas of count ≤ GridCanvas() images imgs (C
// planes of H×W each, one image after another) into buf (GridImageLen
// floats) as the runs read it: zero-padded (split into phases at stride >
// 1), the slots past count zero, and followed by the KW−1 zeros that the
// grid's last columns read. g must satisfy g.Implicit().
func GridImage(g Geometry, imgs []float32, count int, buf []float32) {
	n := g.GridImageLen()
	if k := g.gridImages(); k > 1 {
		padCanvas(g, imgs, count, k, buf)
	} else {
		phaseImage(g, imgs, buf[:n], g.C)
	}
	clear(buf[n-(g.KW-1) : n])
}

// GridOffsets fills dst (grown if needed) with the start of each kernel
// entry (c, ky, kx)'s run, in (c, ky, kx) order, in GridImage's buffer.
func (g Geometry) GridOffsets(dst []int) []int {
	if k := g.gridImages(); k > 1 {
		return planeOffsets(dst, g.C, g.KH, g.KW, g.H+2*g.Pad, g.canvasWidth(k))
	}
	return g.phaseOffsets(dst)
}

// phasedImage returns the scratch size of the phase images of one image
// of g with planes planes per phase, and the KW−1 floats past them that the
// last grid positions read.
func (g Geometry) phasedImage(planes int) int {
	sp, qh, qw := g.phases()
	return sp*sp*planes*qh*qw + g.KW - 1
}

// planeOffsets fills dst (grown if needed) with the start, in a padded
// image of planes of ph×pw, of each kernel entry (c, ky, kx) for
// c < channels.
func planeOffsets(dst []int, channels, kh, kw, ph, pw int) []int {
	n := channels * kh * kw
	if cap(dst) < n {
		dst = make([]int, n)
	}
	off := dst[:n]
	for c := 0; c < channels; c++ {
		for ky := 0; ky < kh; ky++ {
			for kx := 0; kx < kw; kx++ {
				off[(c*kh+ky)*kw+kx] = c*ph*pw + ky*pw + kx
			}
		}
	}
	return off
}

// ImplicitForward computes y (N, O, OH, OW) = conv(x, wts) + bias for x
// (N, C, H, W) and weights wts (O, C, KH, KW), bias (O) or nil, as
// implicit GEMMs (one per image, images in parallel). g must satisfy
// g.Implicit(). The float32 sums are those of the im2col product
// cols·wtsᵀ on one goroutine, bit for bit, at any stride.
func (w *Workers) ImplicitForward(g Geometry, o int, x, wts, bias, y []float32) {
	if !g.Implicit() {
		panic("conv: ImplicitForward needs a square kernel and padding below the kernel size")
	}
	oh, ow := g.OutH(), g.OutW()
	if g.N*o*oh*ow == 0 {
		return
	}
	_ = x[g.N*g.C*g.H*g.W-1]
	_ = wts[o*g.Cols()-1]
	_ = y[g.N*o*oh*ow-1]
	if bias != nil {
		_ = bias[o-1]
	}
	k := g.gridImages()
	w.offsets = g.GridOffsets(w.offsets) // the runs of the canvas, or of the phase images
	w.run(job{kind: jobImplicitForward, g: g, a: x, b: y, c: bias, d: wts, o: o, k: k, offsets: w.offsets}, (g.N+k-1)/k, g.N*o*oh*ow*g.Cols())
}

// implicitForwardImages does ImplicitForward's work for the grids (groups
// of j.k images) g0 ≤ i < g1 with goroutine worker's scratch buffer.
func (w *Workers) implicitForwardImages(j *job, worker, g0, g1 int) {
	g, o, k := j.g, j.o, j.k
	oh, ow := g.OutH(), g.OutW()
	_, _, pw := g.phases() // the grid's width: the padded width at stride 1
	padded := g.phasedImage(g.C)
	slot := 0 // grid columns from one image's outputs to the next's
	if k > 1 {
		pw = g.canvasWidth(k)
		padded = g.C*(g.H+2*g.Pad)*pw + g.KW - 1
		slot = g.GridSlot()
	}
	gridLen := oh * pw
	buf := w.pad(worker, padded+o*gridLen)
	xpad, grid := buf[:padded], buf[padded:]
	image, out := g.C*g.H*g.W, o*oh*ow
	for gi := g0; gi < g1; gi++ {
		n0 := gi * k
		count := min(k, g.N-n0)
		if k == 1 {
			phaseImage(g, j.a[n0*image:(n0+1)*image], xpad, g.C)
		} else {
			padCanvas(g, j.a[n0*image:(n0+count)*image], count, k, xpad)
		}
		clear(xpad[padded-(g.KW-1):])
		gemm.SgemmRowsB(false, false, o, gridLen, g.Cols(), 1, j.d, g.Cols(), xpad, j.offsets, 0, grid, gridLen)
		for i := 0; i < count; i++ {
			yn := j.b[(n0+i)*out : (n0+i+1)*out]
			for ch := 0; ch < o; ch++ {
				for oy := 0; oy < oh; oy++ {
					at := ch*gridLen + oy*pw + i*slot
					src := grid[at : at+ow]
					dst := yn[(ch*oh+oy)*ow : (ch*oh+oy+1)*ow]
					if j.c == nil {
						copy(dst, src)
						continue
					}
					vec.Axpb(dst, src, 1, j.c[ch]) // v·1 + bias: exactly v + bias
				}
			}
		}
	}
}

// ImplicitInputGrad computes the input gradient of the convolution
// ImplicitForward computes: for dy (N, O, OH, OW), it adds into dx
// (N, C, H, W) — or, with assign, writes — the sum over output channels
// and kernel entries of wts·dy. g must satisfy g.Implicit().
func (w *Workers) ImplicitInputGrad(g Geometry, o int, dy, wts, dx []float32, assign bool) {
	if !g.Implicit() {
		panic("conv: ImplicitInputGrad needs a square kernel and padding below the kernel size")
	}
	if g.N*g.C*g.H*g.W == 0 || o == 0 {
		if assign {
			clear(dx[:g.N*g.C*g.H*g.W])
		}
		return
	}
	flipped, off := w.prepareInputGrad(g, o, dy, wts, dx)
	k := g.gridImages()
	w.run(job{kind: jobImplicitInputGrad, g: g, b: dy, e: dx, d: flipped, o: o, k: k, assign: assign, offsets: off}, (g.N+k-1)/k, g.N*o*g.OutH()*g.OutW()*g.Cols())
}

// gradGeometry returns the geometry of the stride-1 input gradient's
// products: a convolution of dy (O planes of OH×OW) padded by KH−1−Pad.
func (g Geometry) gradGeometry(o int) Geometry {
	return Geometry{N: 1, C: o, H: g.OutH(), W: g.OutW(), KH: g.KH, KW: g.KW, Stride: 1, Pad: g.KH - 1 - g.Pad}
}

// prepareInputGrad checks the operands of an input gradient and returns
// the rearranged weights and the offset table of its products: the
// transposed convolution of dy padded by q = KH−1−Pad, with the kernel
// swapped between input and output channels and rotated by 180° (for
// stride > 1, per phase: prepareStridedInputGrad).
func (w *Workers) prepareInputGrad(g Geometry, o int, dy, wts, dx []float32) (flipped []float32, off []int) {
	oh, ow := g.OutH(), g.OutW()
	_ = dy[g.N*o*oh*ow-1]
	_ = wts[o*g.Cols()-1]
	_ = dx[g.N*g.C*g.H*g.W-1]
	if g.Stride > 1 {
		return w.prepareStridedInputGrad(g, o, wts)
	}
	dg := g.gradGeometry(o)
	w.offsets = planeOffsets(w.offsets, o, g.KH, g.KW, oh+2*dg.Pad, dg.canvasWidth(g.gridImages()))
	off = w.offsets
	kk := g.KH * g.KW
	if cap(w.flipped) < o*g.C*kk {
		w.flipped = make([]float32, o*g.C*kk)
	}
	flipped = w.flipped[:o*g.C*kk]
	for oc := 0; oc < o; oc++ {
		for c := 0; c < g.C; c++ {
			src := wts[(oc*g.C+c)*kk : (oc*g.C+c+1)*kk]
			dst := flipped[(c*o+oc)*kk : (c*o+oc+1)*kk]
			for i, v := range src {
				dst[kk-1-i] = v
			}
		}
	}
	return flipped, off
}

// inputGradScratch is the scratch size of inputGradGroup.
func inputGradScratch(g Geometry, o int) int {
	if g.Stride > 1 {
		return stridedInputGradScratch(g, o)
	}
	dg := g.gradGeometry(o)
	cw := dg.canvasWidth(g.gridImages())
	return o*(dg.H+2*dg.Pad)*cw + g.KW - 1 + g.C*g.H*cw
}

// implicitInputGradImages does ImplicitInputGrad's work for the grids
// (groups of j.k images) g0 ≤ i < g1 with goroutine worker's scratch
// buffer.
func (w *Workers) implicitInputGradImages(j *job, worker, g0, g1 int) {
	buf := w.pad(worker, inputGradScratch(j.g, j.o))
	for gi := g0; gi < g1; gi++ {
		inputGradGroup(j, buf, gi*j.k, min(j.k, j.g.N-gi*j.k))
	}
}

// inputGradGroup computes the input gradients of the count ≤ j.k images
// from n0 on, one grid (j.k = 1: one image at a time at stride > 1), into
// j.e (dx) from j.b (dy), j.d (the rearranged weights) and j.offsets, with
// scratch buf (len inputGradScratch).
func inputGradGroup(j *job, buf []float32, n0, count int) {
	if j.g.Stride > 1 {
		for n := n0; n < n0+count; n++ {
			stridedInputGradImage(j, buf, n)
		}
		return
	}
	g, o, k := j.g, j.o, j.k
	dg := g.gradGeometry(o)
	ph, pw := dg.H+2*dg.Pad, dg.canvasWidth(k)
	slot := dg.GridSlot() // grid columns from one image's pixels to the next's
	padded := o*ph*pw + g.KW - 1
	gridLen := g.H * pw
	dypad, grid := buf[:padded], buf[padded:padded+g.C*gridLen]
	kk := o * g.KH * g.KW
	image, out := g.C*g.H*g.W, o*dg.H*dg.W
	padCanvas(dg, j.b[n0*out:(n0+count)*out], count, k, dypad)
	clear(dypad[o*ph*pw:])
	gemm.SgemmRowsB(false, false, g.C, gridLen, kk, 1, j.d, kk, dypad, j.offsets, 0, grid, gridLen)
	for i := 0; i < count; i++ {
		dxn := j.e[(n0+i)*image : (n0+i+1)*image]
		for c := 0; c < g.C; c++ {
			for iy := 0; iy < g.H; iy++ {
				at := c*gridLen + iy*pw + i*slot
				src := grid[at : at+g.W]
				dst := dxn[(c*g.H+iy)*g.W : (c*g.H+iy+1)*g.W]
				if j.assign {
					copy(dst, src)
					continue
				}
				vec.Add(dst, src)
			}
		}
	}
}
