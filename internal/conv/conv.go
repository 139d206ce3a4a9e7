// Package conv holds the kernels behind mirage's 2-D convolution: im2col,
// its adjoint col2im, and the moves between NCHW activations and the
// row-per-output-position matrices the GEMMs use; and, for backends whose
// products do not depend on how operands are stored (fp32), convolutions
// that never build the column matrix (implicit.go, weightgrad.go).
//
// A convolution of x (N, C, H, W) with weights (O, C, KH, KW) becomes one
// matrix product once every receptive field is laid out as a row:
//
//	cols (N·OH·OW) × (C·KH·KW)   row r = (n, oh, ow), column = (c, kh, kw)
//	y2d = cols · wᵀ              (N·OH·OW) × O
//
// The column order (c, kh, kw) matches the row-major layout of the weight
// tensor, so w needs no rearrangement. Within one row the kw entries come
// from consecutive input pixels whatever the stride, so the kernels copy
// short contiguous runs; zero padding is written explicitly.
//
// The column matrix is 9× the activation for a 3×3 kernel, and writing and
// reading it cost more than the arithmetic of a small-channel layer. The
// implicit kernels (ImplicitForward, ImplicitInputGrad, Backward) instead
// compute on a zero-padded copy of one image at a time: the GEMM reads the
// receptive fields in place through a table of offsets
// (gemm.SgemmRowsB), and the weight gradient is one product per kernel
// entry with the padded image read in place. Strided convolutions do the
// same on the image split into stride² phases (space-to-depth,
// strided.go), in each of which every window is a stride-1 window. Small
// images share one zero-padded canvas side by side (canvas.go), so that
// the GEMM's tiles are not mostly padding.
//
// The kernels are plain loops over []float32 that never allocate their
// buffers, so the caller controls buffer reuse; large calls run on all
// cores, and a caller that keeps a [Workers] makes them without any
// allocation at all.
package conv

import (
	"fmt"

	"github.com/mirage-go/mirage/internal/vec"
)

// Geometry describes a 2-D convolution or pooling window over an NCHW
// batch: square stride and symmetric zero padding, as in PyTorch.
type Geometry struct {
	N, C, H, W int // input batch, channels, height, width
	KH, KW     int // kernel height and width
	Stride     int
	Pad        int
}

// OutH returns the output height, ⌊(H + 2·Pad − KH)/Stride⌋ + 1.
func (g Geometry) OutH() int { return (g.H+2*g.Pad-g.KH)/g.Stride + 1 }

// OutW returns the output width, ⌊(W + 2·Pad − KW)/Stride⌋ + 1.
func (g Geometry) OutW() int { return (g.W+2*g.Pad-g.KW)/g.Stride + 1 }

// Rows returns the number of rows of the column matrix, N·OH·OW.
func (g Geometry) Rows() int { return g.N * g.OutH() * g.OutW() }

// Cols returns the number of columns of the column matrix, C·KH·KW: the
// reduction length of the convolution's GEMMs.
func (g Geometry) Cols() int { return g.C * g.KH * g.KW }

// Validate reports sizes that cannot form a window, naming the limit.
func (g Geometry) Validate() error {
	switch {
	case g.N < 0 || g.C < 0 || g.H < 0 || g.W < 0:
		return fmt.Errorf("conv: negative input size %dx%dx%dx%d", g.N, g.C, g.H, g.W)
	case g.KH <= 0 || g.KW <= 0:
		return fmt.Errorf("conv: kernel %dx%d must be at least 1x1", g.KH, g.KW)
	case g.Stride <= 0:
		return fmt.Errorf("conv: stride %d must be at least 1", g.Stride)
	case g.Pad < 0:
		return fmt.Errorf("conv: negative padding %d", g.Pad)
	case g.H+2*g.Pad < g.KH || g.W+2*g.Pad < g.KW:
		return fmt.Errorf("conv: kernel %dx%d is larger than the padded input %dx%d (input %dx%d, padding %d)",
			g.KH, g.KW, g.H+2*g.Pad, g.W+2*g.Pad, g.H, g.W, g.Pad)
	}
	return nil
}

// padded returns the geometry of the same convolution on the input padded
// explicitly: H+2·Pad by W+2·Pad and no implicit padding.
func (g Geometry) padded() Geometry {
	p := g
	p.H, p.W, p.Pad = g.H+2*g.Pad, g.W+2*g.Pad, 0
	return p
}

// paddedImage returns the size of one image of the padded geometry.
func (g Geometry) paddedImage() int { return g.C * (g.H + 2*g.Pad) * (g.W + 2*g.Pad) }

// kwRange returns the kernel columns [lo, hi) that land inside the input
// for an output column whose leftmost input column is iw0 (may be < 0 or
// ≥ W). lo == hi when the whole window row lies in the padding.
func (g Geometry) kwRange(iw0 int) (lo, hi int) {
	lo = min(max(0, -iw0), g.KW)
	hi = min(g.KW, g.W-iw0)
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

// interior returns the output columns [lo, hi) whose windows lie wholly
// inside the input horizontally (no padding); the kernels copy those
// without per-element bounds logic.
func (g Geometry) interior() (lo, hi int) {
	ow := g.OutW()
	lo = min((g.Pad+g.Stride-1)/g.Stride, ow)
	if last := g.W + g.Pad - g.KW; last >= 0 {
		hi = min(last/g.Stride+1, ow)
	}
	return lo, max(lo, hi)
}

// Im2col fills cols (len Rows()·Cols()) with the receptive fields of x
// (len N·C·H·W), one output position per row. Padding reads as zero.
//
// It writes cols strictly in order, one row (output position) at a time:
// for each (c, ky) the row gets the KW input pixels x[c][iy][ix0 … ix0+KW),
// which come from the C·KH input rows of the current output row — a few
// kilobytes that stay in L1 — so the cost is the sequential write of cols.
// The 3-wide and 5-wide windows of ResNet and LeNet have unrolled copies.
func Im2col(g Geometry, x, cols []float32) { new(Workers).Im2col(g, x, cols) }

// Im2col is the package function Im2col, run on w's goroutines.
func (w *Workers) Im2col(g Geometry, x, cols []float32) {
	if g.Rows() == 0 || g.Cols() == 0 {
		return
	}
	_ = x[g.N*g.C*g.H*g.W-1]
	_ = cols[g.Rows()*g.Cols()-1]
	w.run(job{kind: jobIm2col, g: g, a: x, b: cols}, g.N, g.Rows()*g.Cols())
}

// kyRange returns the kernel rows [lo, hi) that land inside the input for
// an output row whose top input row is ih0 (may be < 0 or ≥ H).
func (g Geometry) kyRange(ih0 int) (lo, hi int) {
	lo = min(max(0, -ih0), g.KH)
	hi = min(g.KH, g.H-ih0)
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

// im2colImages does Im2col's work for images n0 ≤ n < n1.
func im2colImages(g Geometry, x, cols []float32, n0, n1 int) {
	positions := g.OutH() * g.OutW()
	k := g.Cols()
	image := g.C * g.H * g.W
	for n := n0; n < n1; n++ {
		im2colPositions(g, x[n*image:(n+1)*image], cols[n*positions*k:(n+1)*positions*k], 0, positions)
	}
}

// im2colPositions fills the rows of output positions q0 ≤ q < q1 of one
// image xn (C·H·W) into cols, whose first row is position q0's.
func im2colPositions(g Geometry, xn, cols []float32, q0, q1 int) {
	ow := g.OutW()
	k := g.Cols()
	plane := g.H * g.W
	inLo, inHi := g.interior()
	kw := g.KW
	for q := q0; q < q1; {
		oy := q / ow
		ih0 := oy*g.Stride - g.Pad
		kyLo, kyHi := g.kyRange(ih0)
		ox1 := min(ow, q1-oy*ow)
		vector := kyLo == 0 && kyHi == g.KH && vec.MovesWindows(kw)
		for ox := q - oy*ow; ox < ox1; ox++ {
			row := cols[(q-q0)*k : (q-q0+1)*k]
			iw0 := ox*g.Stride - g.Pad
			if ox < inLo || ox >= inHi {
				q++
				im2colEdgeRow(g, row, xn, ih0, iw0, kyLo, kyHi)
				continue
			}
			if vector {
				// The row's interior windows in one call: every window
				// row is one vector move (vec.Windows).
				run := min(ox1, inHi) - ox
				vec.Windows(cols[(q-q0)*k:(q-q0+run)*k], xn[ih0*g.W+iw0:], run, g.Stride, g.C, plane, g.KH, g.W, kw)
				q += run
				ox += run - 1
				continue
			}
			q++
			if kw == 3 && g.KH == 3 && kyLo == 0 && kyHi == 3 {
				im2colRow3x3(row, xn, plane, ih0*g.W+iw0, g.W)
				continue
			}
			if kw == 5 && g.KH == 5 && kyLo == 0 && kyHi == 5 {
				im2colRow5x5(row, xn, plane, ih0*g.W+iw0, g.W)
				continue
			}
			seg := 0
			for c := 0; c < g.C; c++ {
				// Rows above and below the input are padding.
				zeroShort(row[seg : seg+kyLo*kw])
				seg += kyLo * kw
				src := c*plane + (ih0+kyLo)*g.W + iw0
				switch kw {
				case 3:
					for ky := kyLo; ky < kyHi; ky++ {
						d, s := row[seg:seg+3:seg+3], xn[src:src+3:src+3]
						d[0], d[1], d[2] = s[0], s[1], s[2]
						seg += 3
						src += g.W
					}
				case 5:
					for ky := kyLo; ky < kyHi; ky++ {
						d, s := row[seg:seg+5:seg+5], xn[src:src+5:src+5]
						d[0], d[1], d[2], d[3], d[4] = s[0], s[1], s[2], s[3], s[4]
						seg += 5
						src += g.W
					}
				default:
					for ky := kyLo; ky < kyHi; ky++ {
						copyShort(row[seg:seg+kw], xn[src:src+kw])
						seg += kw
						src += g.W
					}
				}
				zeroShort(row[seg : seg+(g.KH-kyHi)*kw])
				seg += (g.KH - kyHi) * kw
			}
		}
	}
}

// Im2colRows fills dst with rows r0 ≤ r < r1 of the column matrix of
// Im2col(g, x, ·), row r0 first: the receptive fields of a range of output
// positions, which may start and end inside an image. It runs on the
// calling goroutine; pad is the caller's scratch buffer, grown as needed,
// for the zero-padded copy of an image (see im2colPadded), so that
// callers on several goroutines can fill disjoint ranges at once.
func Im2colRows(g Geometry, x, dst []float32, r0, r1 int, pad *[]float32) {
	positions := g.OutH() * g.OutW()
	k := g.Cols()
	if r1 <= r0 || k == 0 || positions == 0 {
		return
	}
	image := g.C * g.H * g.W
	_ = x[(r1-1)/positions*image+image-1]
	_ = dst[(r1-r0)*k-1]
	pg, padded := g, g.Pad > 0
	if padded {
		pg = g.padded()
		if cap(*pad) < g.paddedImage() {
			*pad = make([]float32, g.paddedImage())
		}
	}
	for r := r0; r < r1; {
		n := r / positions
		q0, q1 := r-n*positions, min(positions, r1-n*positions)
		xn := x[n*image : (n+1)*image]
		out := dst[(r-r0)*k : (r-r0+q1-q0)*k]
		if padded {
			buf := (*pad)[:g.paddedImage()]
			padImage(g, xn, buf)
			im2colPositions(pg, buf, out, q0, q1)
		} else {
			im2colPositions(g, xn, out, q0, q1)
		}
		r += q1 - q0
	}
}

// im2colPadded does Im2col's work for images n0 ≤ n < n1 of a padded
// geometry through buf (len paddedImage()): each image is first copied
// into buf with explicit zero borders, after which every window lies
// inside and takes the unrolled copies, with none of the border cases
// (which cost as much as all the rest on small images such as ResNet's
// 8×8 stage).
func im2colPadded(g Geometry, x, cols, buf []float32, n0, n1 int) {
	pg := g.padded()
	image, rowsPerImage := g.C*g.H*g.W, g.OutH()*g.OutW()
	k := g.Cols()
	for n := n0; n < n1; n++ {
		padImage(g, x[n*image:(n+1)*image], buf)
		im2colImages(pg, buf, cols[n*rowsPerImage*k:(n+1)*rowsPerImage*k], 0, 1)
	}
}

// padImage copies one image (C planes of H×W) into buf with a border of
// g.Pad zeros around each plane. Only the border is zeroed (the rows are
// copied over the rest): the planes' top rows, the 2·Pad zeros between
// one row's end and the next row's start, and the bottom rows.
func padImage(g Geometry, img, buf []float32) {
	pw, ph := g.W+2*g.Pad, g.H+2*g.Pad
	if g.Pad == 0 {
		copy(buf[:len(img)], img)
		return
	}
	edge := g.Pad*pw + g.Pad // zeros before a plane's first row, and after its last
	for c := 0; c < g.C; c++ {
		plane := buf[c*ph*pw : (c+1)*ph*pw]
		clear(plane[:edge])
		at := edge
		for y := 0; y < g.H; y++ {
			copy(plane[at:at+g.W], img[(c*g.H+y)*g.W:(c*g.H+y+1)*g.W])
			at += g.W
			if y+1 < g.H {
				zeroShort(plane[at : at+2*g.Pad])
				at += 2 * g.Pad
			}
		}
		clear(plane[at:])
	}
}

// col2imPadded is the adjoint of im2colPadded: per image, col2im into a
// zeroed padded buffer, then the interior is added onto dx.
func col2imPadded(g Geometry, cols, dx, buf []float32, n0, n1 int) {
	pg := g.padded()
	pw, ph := pg.W, pg.H
	image, rowsPerImage := g.C*g.H*g.W, g.OutH()*g.OutW()
	k := g.Cols()
	for n := n0; n < n1; n++ {
		clear(buf[:g.C*ph*pw])
		col2imImages(pg, cols[n*rowsPerImage*k:(n+1)*rowsPerImage*k], buf, 0, 1)
		dn := dx[n*image : (n+1)*image]
		for c := 0; c < g.C; c++ {
			for y := 0; y < g.H; y++ {
				src := buf[(c*ph+y+g.Pad)*pw+g.Pad:]
				addShort(dn[(c*g.H+y)*g.W:(c*g.H+y+1)*g.W], src[:g.W])
			}
		}
	}
}

// im2colRow3x3 fills one row of cols for a 3×3 window that lies wholly
// inside the input, whose top-left pixel is at offset src of channel 0:
// nine values per channel, unrolled.
func im2colRow3x3(row, xn []float32, plane, src, w int) {
	for seg := 0; seg+9 <= len(row); seg += 9 {
		d := row[seg : seg+9 : seg+9]
		s0 := xn[src : src+3 : src+3]
		s1 := xn[src+w : src+w+3 : src+w+3]
		s2 := xn[src+2*w : src+2*w+3 : src+2*w+3]
		d[0], d[1], d[2] = s0[0], s0[1], s0[2]
		d[3], d[4], d[5] = s1[0], s1[1], s1[2]
		d[6], d[7], d[8] = s2[0], s2[1], s2[2]
		src += plane
	}
}

// im2colRow5x5 is im2colRow3x3 for LeNet's 5×5 windows.
func im2colRow5x5(row, xn []float32, plane, src, w int) {
	for seg := 0; seg+25 <= len(row); seg += 25 {
		d := row[seg : seg+25 : seg+25]
		for ky := 0; ky < 5; ky++ {
			s := xn[src+ky*w : src+ky*w+5 : src+ky*w+5]
			dk := d[5*ky : 5*ky+5 : 5*ky+5]
			dk[0], dk[1], dk[2], dk[3], dk[4] = s[0], s[1], s[2], s[3], s[4]
		}
		src += plane
	}
}

// col2imRow3x3 is the adjoint of im2colRow3x3: it adds one row of cols
// back onto the 3×3 windows it was read from.
func col2imRow3x3(row, dn []float32, plane, dst, w int) {
	for seg := 0; seg+9 <= len(row); seg += 9 {
		s := row[seg : seg+9 : seg+9]
		d0 := dn[dst : dst+3 : dst+3]
		d1 := dn[dst+w : dst+w+3 : dst+w+3]
		d2 := dn[dst+2*w : dst+2*w+3 : dst+2*w+3]
		d0[0] += s[0]
		d0[1] += s[1]
		d0[2] += s[2]
		d1[0] += s[3]
		d1[1] += s[4]
		d1[2] += s[5]
		d2[0] += s[6]
		d2[1] += s[7]
		d2[2] += s[8]
		dst += plane
	}
}

// im2colEdgeRow fills one row of cols whose window overlaps the left or
// right padding.
func im2colEdgeRow(g Geometry, row, xn []float32, ih0, iw0, kyLo, kyHi int) {
	plane := g.H * g.W
	lo, hi := g.kwRange(iw0)
	kw := g.KW
	seg := 0
	for c := 0; c < g.C; c++ {
		for ky := 0; ky < g.KH; ky++ {
			d := row[seg : seg+kw]
			seg += kw
			if ky < kyLo || ky >= kyHi {
				zeroShort(d)
				continue
			}
			src := c*plane + (ih0+ky)*g.W + iw0
			zeroShort(d[:lo])
			if lo < hi {
				copyShort(d[lo:hi], xn[src+lo:src+hi])
			}
			zeroShort(d[hi:])
		}
	}
}

// zeroShort zeroes a few elements; for the padding of a kernel row, a
// plain loop beats a call to the runtime's memclr.
func zeroShort(dst []float32) {
	// Not a range loop: the compiler turns that form back into memclr.
	for i := 0; i < len(dst); i++ {
		dst[i] = 0
	}
}

// copyShort copies a few elements; for the runs of a kernel row, a plain
// loop beats a call to the runtime's memmove.
func copyShort(dst, src []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] = src[i]
	}
}

// Col2im is the adjoint of Im2col: it adds every entry of cols back onto
// the input pixel it was read from, accumulating into dx (len N·C·H·W).
// Entries that fell on padding are dropped. It reads cols strictly in
// order, mirroring Im2col.
func Col2im(g Geometry, cols, dx []float32) { new(Workers).Col2im(g, cols, dx) }

// Col2im is the package function Col2im, run on w's goroutines.
func (w *Workers) Col2im(g Geometry, cols, dx []float32) {
	if g.Rows() == 0 || g.Cols() == 0 {
		return
	}
	_ = dx[g.N*g.C*g.H*g.W-1]
	_ = cols[g.Rows()*g.Cols()-1]
	w.run(job{kind: jobCol2im, g: g, a: cols, b: dx}, g.N, g.Rows()*g.Cols())
}

// Col2imAssign is Col2im writing dx instead of adding into it: dx is
// cleared image by image, by the goroutine that then adds that image's
// columns into it (while it is in that core's cache), so the result is
// bit for bit that of clearing dx and calling Col2im.
func (w *Workers) Col2imAssign(g Geometry, cols, dx []float32) {
	if g.Rows() == 0 || g.Cols() == 0 {
		clear(dx[:g.N*g.C*g.H*g.W])
		return
	}
	_ = dx[g.N*g.C*g.H*g.W-1]
	_ = cols[g.Rows()*g.Cols()-1]
	w.run(job{kind: jobCol2im, g: g, a: cols, b: dx, assign: true}, g.N, g.Rows()*g.Cols())
}

// col2imImages does Col2im's work for images n0 ≤ n < n1, which write
// disjoint parts of dx.
func col2imImages(g Geometry, cols, dx []float32, n0, n1 int) {
	oh, ow := g.OutH(), g.OutW()
	k := g.Cols()
	plane := g.H * g.W
	inLo, inHi := g.interior()
	kw := g.KW
	for n := n0; n < n1; n++ {
		dn := dx[n*g.C*plane : (n+1)*g.C*plane]
		for oy := 0; oy < oh; oy++ {
			ih0 := oy*g.Stride - g.Pad
			kyLo, kyHi := g.kyRange(ih0)
			for ox := 0; ox < ow; ox++ {
				row := cols[((n*oh+oy)*ow+ox)*k : ((n*oh+oy)*ow+ox+1)*k]
				iw0 := ox*g.Stride - g.Pad
				if ox < inLo || ox >= inHi {
					col2imEdgeRow(g, row, dn, ih0, iw0, kyLo, kyHi)
					continue
				}
				if kw == 3 && g.KH == 3 && kyLo == 0 && kyHi == 3 {
					col2imRow3x3(row, dn, plane, ih0*g.W+iw0, g.W)
					continue
				}
				for c := 0; c < g.C; c++ {
					seg := (c*g.KH + kyLo) * kw
					dst := c*plane + (ih0+kyLo)*g.W + iw0
					switch kw {
					case 3:
						for ky := kyLo; ky < kyHi; ky++ {
							s, d := row[seg:seg+3:seg+3], dn[dst:dst+3:dst+3]
							d[0] += s[0]
							d[1] += s[1]
							d[2] += s[2]
							seg += 3
							dst += g.W
						}
					case 5:
						for ky := kyLo; ky < kyHi; ky++ {
							s, d := row[seg:seg+5:seg+5], dn[dst:dst+5:dst+5]
							d[0] += s[0]
							d[1] += s[1]
							d[2] += s[2]
							d[3] += s[3]
							d[4] += s[4]
							seg += 5
							dst += g.W
						}
					default:
						for ky := kyLo; ky < kyHi; ky++ {
							addShort(dn[dst:dst+kw], row[seg:seg+kw])
							seg += kw
							dst += g.W
						}
					}
				}
			}
		}
	}
}

// col2imEdgeRow accumulates one row of cols whose window overlaps the
// left or right padding.
func col2imEdgeRow(g Geometry, row, dn []float32, ih0, iw0, kyLo, kyHi int) {
	plane := g.H * g.W
	lo, hi := g.kwRange(iw0)
	if lo >= hi {
		return
	}
	for c := 0; c < g.C; c++ {
		for ky := kyLo; ky < kyHi; ky++ {
			seg := (c*g.KH + ky) * g.KW
			dst := c*plane + (ih0+ky)*g.W + iw0
			addShort(dn[dst+lo:dst+hi], row[seg+lo:seg+hi])
		}
	}
}

// addShort adds src into dst elementwise (len(src) ≥ len(dst)).
func addShort(dst, src []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}

// parallelMin is the column-matrix size (elements) below which splitting
// the batch over goroutines costs more than it saves.
const parallelMin = 1 << 16

// sharedParallelMin is parallelMin for Workers on a shared team (UseTeam):
// its helpers have usually just run the caller's previous loop (the GEMM
// whose output a RowsToNCHW rearranges) and are still spinning, so
// handing them a loop costs under a microsecond, and a 32 Ki-element
// transpose (ResNet-20's first stage, two images per block) is worth
// sharing. Run alone, it kept one core busy and the other spinning for
// about 2% of a bfp training step.
const sharedParallelMin = 1 << 13

// transposeTile is the number of positions moved per tile by NCHWToRows:
// a tile of the (positions × channels) matrix stays in L1
// while it is read in one order and written in the other.
const transposeTile = 64

// RowsToNCHW rearranges a (N·P) × O matrix (one row per output position,
// P positions per image) into NCHW order y[n][o][p], adding bias[o] when
// bias is not nil. It overwrites y.
func RowsToNCHW(rows, bias, y []float32, n, o, p int) {
	new(Workers).RowsToNCHW(rows, bias, y, n, o, p)
}

// RowsToNCHW is the package function RowsToNCHW, run on w's goroutines.
func (w *Workers) RowsToNCHW(rows, bias, y []float32, n, o, p int) {
	if n*p*o == 0 {
		return
	}
	_ = rows[n*p*o-1]
	_ = y[n*o*p-1]
	w.run(job{kind: jobRowsToNCHW, a: rows, b: y, c: bias, n: n, o: o, p: p}, n, n*p*o)
}

// narrowRowsToNCHW is rowsToNCHWImages for fewer than eight channels,
// which the 8×8 transpose cannot take (LeNet-5's conv1 has six): each
// channel's row of y is written in order, gathering every o-th value of
// the rows, with the bias added as one FP32 addition, as there.
func narrowRowsToNCHW(rows, bias, y []float32, o, p, b0, b1 int) {
	for b := b0; b < b1; b++ {
		src := rows[b*p*o : (b+1)*p*o]
		dst := y[b*o*p : (b+1)*o*p]
		for ch := 0; ch < o; ch++ {
			var add float32
			if bias != nil {
				add = bias[ch]
			}
			d, s := dst[ch*p:(ch+1)*p], src[ch:]
			for i := range d {
				d[i] = s[i*o] + add
			}
		}
	}
}

// rowsToNCHWImages does RowsToNCHW's work for images b0 ≤ b < b1: blocks
// of eight positions by all channels through a register transpose
// (vec.Transpose8), then the bias added to each channel's row in place,
// both SIMD. When y's rows lie a multiple of 4 KiB apart (1024 positions)
// the channels go eight at a time instead, each block writing eight rows:
// more rows at such a stride evict each other from L1. The bias (or 0) is
// added to every element as one FP32 addition, so the result is that of
// rows + bias element by element (-0 + 0 = +0 included).
func rowsToNCHWImages(rows, bias, y []float32, o, p, b0, b1 int) {
	if o < 8 {
		narrowRowsToNCHW(rows, bias, y, o, p, b0, b1)
		return
	}
	p8 := p &^ 7
	group := o
	if p%1024 == 0 {
		group = 8
	}
	for b := b0; b < b1; b++ {
		src := rows[b*p*o : (b+1)*p*o]
		dst := y[b*o*p : (b+1)*o*p]
		for ch0 := 0; ch0 < o; ch0 += group {
			n := min(group, o-ch0)
			for p0 := 0; p0 < p8; p0 += 8 {
				vec.Transpose8(dst[ch0*p+p0:], p, src[p0*o+ch0:], o, n)
			}
		}
		for pos := p8; pos < p; pos++ {
			for ch, v := range src[pos*o : (pos+1)*o] {
				dst[ch*p+pos] = v
			}
		}
		for ch := 0; ch < o; ch++ {
			var add float32
			if bias != nil {
				add = bias[ch]
			}
			d := dst[ch*p : (ch+1)*p]
			vec.Axpb(d, d, 1, add)
		}
	}
}

// NCHWToRows is the inverse rearrangement of RowsToNCHW (without bias): it
// writes rows[(n·P + p)·O + o] = y[n][o][p].
func NCHWToRows(y, rows []float32, n, o, p int) { new(Workers).NCHWToRows(y, rows, n, o, p) }

// NCHWToRows is the package function NCHWToRows, run on w's goroutines.
func (w *Workers) NCHWToRows(y, rows []float32, n, o, p int) {
	if n*p*o == 0 {
		return
	}
	_ = rows[n*p*o-1]
	_ = y[n*o*p-1]
	w.run(job{kind: jobNCHWToRows, a: y, b: rows, n: n, o: o, p: p}, n, n*p*o)
}

// ChannelRows rearranges y (N, O, P) into the O × (N·P) matrix dst whose
// row ch holds channel ch of every image in turn:
// dst[ch·N·P + n·P + p] = y[(n·O + ch)·P + p]. It overwrites dst.
func (w *Workers) ChannelRows(y, dst []float32, n, o, p int) {
	if n*p*o == 0 {
		return
	}
	_ = y[n*o*p-1]
	_ = dst[n*o*p-1]
	w.run(job{kind: jobChannelRows, a: y, b: dst, n: n, o: o, p: p}, n, n*p*o)
}

// channelRowsImages does ChannelRows's work for images b0 ≤ b < b1.
func channelRowsImages(y, dst []float32, n, o, p, b0, b1 int) {
	for b := b0; b < b1; b++ {
		for ch := 0; ch < o; ch++ {
			copy(dst[(ch*n+b)*p:(ch*n+b+1)*p], y[(b*o+ch)*p:(b*o+ch+1)*p])
		}
	}
}

// nchwToRowsImages does NCHWToRows's work for images b0 ≤ b < b1.
func nchwToRowsImages(y, rows []float32, o, p, b0, b1 int) {
	for b := b0; b < b1; b++ {
		src := y[b*o*p : (b+1)*o*p]
		dst := rows[b*p*o : (b+1)*p*o]
		for p0 := 0; p0 < p; p0 += transposeTile {
			p1 := min(p0+transposeTile, p)
			for ch := 0; ch < o; ch++ {
				s := src[ch*p+p0 : ch*p+p1]
				for i, v := range s {
					dst[(p0+i)*o+ch] = v
				}
			}
		}
	}
}
