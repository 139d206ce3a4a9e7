// Package conv holds the data-rearrangement kernels behind mirage's 2-D
// convolution: im2col, its adjoint col2im, and the moves between NCHW
// activations and the row-per-output-position matrices the GEMMs use.
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
// The kernels are plain loops over []float32 with no allocation, so the
// caller controls buffer reuse.
package conv

import (
	"fmt"
	"runtime"
	"sync"
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
func Im2col(g Geometry, x, cols []float32) {
	if g.Rows() == 0 || g.Cols() == 0 {
		return
	}
	_ = x[g.N*g.C*g.H*g.W-1]
	_ = cols[g.Rows()*g.Cols()-1]
	parallelImages(g, func(n0, n1 int) { im2colImages(g, x, cols, n0, n1) })
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
	oh, ow := g.OutH(), g.OutW()
	k := g.Cols()
	plane := g.H * g.W
	inLo, inHi := g.interior()
	kw := g.KW
	for n := n0; n < n1; n++ {
		xn := x[n*g.C*plane : (n+1)*g.C*plane]
		for oy := 0; oy < oh; oy++ {
			ih0 := oy*g.Stride - g.Pad
			kyLo, kyHi := g.kyRange(ih0)
			for ox := 0; ox < ow; ox++ {
				row := cols[((n*oh+oy)*ow+ox)*k : ((n*oh+oy)*ow+ox+1)*k]
				iw0 := ox*g.Stride - g.Pad
				if ox < inLo || ox >= inHi {
					im2colEdgeRow(g, row, xn, ih0, iw0, kyLo, kyHi)
					continue
				}
				seg := 0
				for c := 0; c < g.C; c++ {
					// Rows above and below the input are padding.
					clear(row[seg : seg+kyLo*kw])
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
					clear(row[seg : seg+(g.KH-kyHi)*kw])
					seg += (g.KH - kyHi) * kw
				}
			}
		}
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
				clear(d)
				continue
			}
			src := c*plane + (ih0+ky)*g.W + iw0
			clear(d[:lo])
			if lo < hi {
				copyShort(d[lo:hi], xn[src+lo:src+hi])
			}
			clear(d[hi:])
		}
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
func Col2im(g Geometry, cols, dx []float32) {
	if g.Rows() == 0 || g.Cols() == 0 {
		return
	}
	_ = dx[g.N*g.C*g.H*g.W-1]
	_ = cols[g.Rows()*g.Cols()-1]
	parallelImages(g, func(n0, n1 int) { col2imImages(g, cols, dx, n0, n1) })
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

// parallelImages calls work on contiguous ranges of images, one per
// available CPU (GOMAXPROCS), and waits. Small problems run inline.
func parallelImages(g Geometry, work func(n0, n1 int)) {
	parallelBatch(g.N, g.Rows()*g.Cols(), work)
}

// transposeTile is the number of positions moved per tile by RowsToNCHW
// and NCHWToRows: a tile of the (positions × channels) matrix stays in L1
// while it is read in one order and written in the other.
const transposeTile = 64

// RowsToNCHW rearranges a (N·P) × O matrix (one row per output position,
// P positions per image) into NCHW order y[n][o][p], adding bias[o] when
// bias is not nil. It overwrites y.
func RowsToNCHW(rows, bias, y []float32, n, o, p int) {
	if n*p*o == 0 {
		return
	}
	_ = rows[n*p*o-1]
	_ = y[n*o*p-1]
	parallelBatch(n, n*p*o, func(b0, b1 int) {
		for b := b0; b < b1; b++ {
			src := rows[b*p*o : (b+1)*p*o]
			dst := y[b*o*p : (b+1)*o*p]
			for p0 := 0; p0 < p; p0 += transposeTile {
				p1 := min(p0+transposeTile, p)
				for ch := 0; ch < o; ch++ {
					var add float32
					if bias != nil {
						add = bias[ch]
					}
					d := dst[ch*p+p0 : ch*p+p1]
					for i := range d {
						d[i] = src[(p0+i)*o+ch] + add
					}
				}
			}
		}
	})
}

// NCHWToRows is the inverse rearrangement of RowsToNCHW (without bias): it
// writes rows[(n·P + p)·O + o] = y[n][o][p].
func NCHWToRows(y, rows []float32, n, o, p int) {
	if n*p*o == 0 {
		return
	}
	_ = rows[n*p*o-1]
	_ = y[n*o*p-1]
	parallelBatch(n, n*p*o, func(b0, b1 int) {
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
	})
}

// parallelBatch splits images [0, n) over GOMAXPROCS goroutines when the
// work (elements moved) is large enough to pay for them.
func parallelBatch(n, elems int, work func(n0, n1 int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 || elems < parallelMin {
		work(0, n)
		return
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		n0, n1 := w*n/workers, (w+1)*n/workers
		wg.Go(func() { work(n0, n1) })
	}
	work(0, n/workers)
	wg.Wait()
}
