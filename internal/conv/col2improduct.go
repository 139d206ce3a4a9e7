package conv

import (
	"github.com/mirage-go/mirage/internal/gemm"
	"github.com/mirage-go/mirage/internal/vec"
)

// The input gradient of a stride-1 convolution, straight from its two
// factors, for backends that quantise them (bfp, rns): the terms and the
// order of additions of dcols = dy2d·w followed by Col2im, without dcols.
//
// For padded geometries Col2im works on a zeroed padded copy of each image
// (col2imPadded): it adds the entries of dcols row by row, that is in
// increasing output position, and then adds the copy's interior onto dx.
// Without padding it adds them straight onto dx, which Col2imAssign clears
// first: the same sums from +0, so Col2imProduct does those too (and not
// Col2im onto a dx that holds values, whose first additions would differ).
// Entry (c, ky, kx) of position (oh, ow) lands on padded pixel
// (oh+ky, ow+kx): for one kernel entry (ky, kx) that is a shift of the
// grid of output positions. Laid out with the padded image's row length PW
// (each output row followed by PW−OW zero columns), all of one entry is
// one product,
//
//	canvas[c][ky·PW + kx + j] += Σ_o w[o][c, ky, kx] · grid[o][j],   j < OH·PW,
//
// a GEMM with beta = 1 whose output rows are the padded planes. A padded
// pixel (y, x) gets one term per kernel entry, from position
// (y−ky, x−kx); running the entries in decreasing ky and then decreasing
// kx adds its terms in increasing position, as Col2im does. Each term is
// the GEMM's sum over o: one chain of fused multiply-adds in increasing o
// from zero, added once (o ≤ gemm.KBlock), the value dcols would hold and
// the addition Col2im would make.
//
// The zero columns of the grid add +0 (finite weights times zeros) to
// pixels that Col2im does not touch there: padding, or real pixels next to
// the right border and, wrapping, the next row's first columns. The canvas
// starts at +0 and a sum that starts at +0 is never −0 (x + y is −0 only
// when both are), and s + 0 = s for every other s, NaN and ±Inf included,
// so those additions change nothing. Non-finite weights would make them
// NaN, which is why the caller must check that every weight is finite.
// Planes are spaced KW−1 floats further apart than the padded image, so
// that the last rows' shifted columns spill into that slack and not into
// the next plane, which the same GEMM writes.

// Col2imProductOK reports whether Col2imProduct computes the input
// gradient of g with o output channels (written over dx when assign):
// stride 1, at most gemm.KBlock output channels (one block of the
// reduction), and padding or assign. Without padding Col2im adds the
// entries straight onto dx, which only starts at +0 when it is written,
// not added to.
func Col2imProductOK(g Geometry, o int, assign bool) bool {
	return g.Stride == 1 && (g.Pad > 0 || assign) && o >= 1 && o <= gemm.KBlock
}

// col2imCanvas returns the images per canvas of Col2imProduct (see
// canvas.go: several small images side by side on one grid, when that
// fills the GEMM's tiles better) and the canvas width.
func (g Geometry) col2imCanvas() (k, cw int) {
	if k = g.gridImages(); k > 1 {
		return k, g.canvasWidth(k)
	}
	return 1, g.W + 2*g.Pad
}

// col2imPlane is the spacing of the canvas planes of Col2imProduct, for
// canvases cw wide (see col2imCanvas).
func (g Geometry) col2imPlane(cw int) int { return (g.H+2*g.Pad)*cw + g.KW - 1 }

// col2imProductScratch is the per-goroutine scratch of Col2imProduct: the
// canvas of C planes and the grid of o output-gradient planes, followed
// by the floats gemm.SgemmShifted may read past it.
func col2imProductScratch(g Geometry, o int) int {
	_, cw := g.col2imCanvas()
	return g.C*g.col2imPlane(cw) + o*g.OutH()*cw + 16
}

// Col2imProduct adds Col2im(g, dcols) onto dx (writes it, when assign,
// like Col2imAssign) for the input gradient's im2col product
//
//	dcols[r][f] = Σ_{p<o} dy[p·ldy + r] · wts[p·F + f],   r < g.Rows(), F = g.Cols(),
//
// whose output gradient dy is stored channel-major (o rows of ldy ≥
// g.Rows() floats, the positions of image n from n·OH·OW on) and wts as
// the (o, C, KH, KW) weights. The result is bit for bit that of computing
// dcols with gemm (K = o) and calling Col2im, provided
// Col2imProductOK(g, o, assign) holds and every weight is finite (see the
// comment above), without dcols.
func (w *Workers) Col2imProduct(g Geometry, o int, dy []float32, ldy int, wts, dx []float32, assign bool) {
	if g.N == 0 || g.C == 0 {
		return
	}
	// One C×o matrix per kernel entry, transposed, in the order the
	// entries are added (decreasing ky, then kx), packed for
	// gemm.SgemmShifted, and each entry's shift on the canvas.
	kk, f := g.KH*g.KW, g.Cols()
	if cap(w.flipped) < kk*o*g.C {
		w.flipped = make([]float32, kk*o*g.C)
	}
	wk := w.flipped[:kk*o*g.C]
	for p := range o {
		for c := range g.C {
			src := wts[p*f+c*kk : p*f+(c+1)*kk]
			for e, v := range src {
				wk[((kk-1-e)*o+p)*g.C+c] = v
			}
		}
	}
	w.packed = gemm.PackShiftedA(w.packed, wk, true, kk, g.C, o)
	w.offsets = w.offsets[:0]
	k, cw := g.col2imCanvas()
	for e := kk - 1; e >= 0; e-- {
		w.offsets = append(w.offsets, e/g.KW*cw+e%g.KW)
	}
	w.run(job{kind: jobCol2imProduct, g: g, o: o, a: dy, n: ldy, c: w.packed, offsets: w.offsets, b: dx, assign: assign},
		(g.N+k-1)/k, g.N*g.C*g.H*g.W*kk)
}

// vectorRow is the shortest image row that col2imProductCanvas adds onto
// dx with vec.Add rather than a plain loop (BenchmarkInputGrad: 8%
// faster for ResNet-20's 32-wide rows, no faster for 16 and 8).
const vectorRow = 32

// col2imProductCanvas does Col2imProduct's work for canvas i (images
// i·k … of the k per canvas, see col2imCanvas) with scratch buf (len
// col2imProductScratch). On a canvas of several images, image s's output
// position (oy, ox) is grid column oy·CW + s·(W+Pad) + ox, and its terms
// land on its own padded pixels, which start at column s·(W+Pad) (the Pad
// columns between two images are the padding of both): a real pixel gets
// exactly the terms, in the order, of a canvas of its image alone, and
// from the grid's zero columns the +0 additions described above.
func col2imProductCanvas(j *job, buf []float32, i int) {
	g, o := j.g, j.o
	oh, ow := g.OutH(), g.OutW()
	k, cw := g.col2imCanvas()
	n0 := i * k
	count := min(k, g.N-n0)
	slot := g.W + g.Pad // a canvas's slots, when k > 1 (then ow ≤ slot)
	if k == 1 {
		slot = cw
	}
	plane, grid := g.col2imPlane(cw), oh*cw
	canvas, gr := buf[:g.C*plane], buf[g.C*plane:] // (gr: the grid and its slack)
	clear(canvas)
	positions := oh * ow
	for p := range o {
		src := j.a[p*j.n+n0*positions : p*j.n+(n0+count)*positions]
		dst := gr[p*grid : (p+1)*grid]
		for y := range oh {
			row := dst[y*cw : (y+1)*cw]
			at := 0
			for s := range count {
				copy(row[at:at+ow], src[(s*oh+y)*ow:(s*oh+y+1)*ow])
				clear(row[at+ow : at+slot])
				at += slot
			}
			clear(row[at:])
		}
	}
	gemm.SgemmShifted(g.C, grid, o, j.c, j.offsets, gr, grid, canvas, plane)
	// The interior onto dx, as col2imPadded adds it.
	image := g.C * g.H * g.W
	for s := range count {
		dn := j.b[(n0+s)*image : (n0+s+1)*image]
		if j.assign {
			clear(dn)
		}
		for c := range g.C {
			for y := range g.H {
				src := canvas[c*plane+(y+g.Pad)*cw+g.Pad+s*slot:]
				row := dn[(c*g.H+y)*g.W : (c*g.H+y+1)*g.W]
				if g.W >= vectorRow {
					vec.Add(row, src[:g.W])
				} else {
					addShort(row, src[:g.W])
				}
			}
		}
	}
}
