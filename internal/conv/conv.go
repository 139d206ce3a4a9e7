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
// It works one output row (n, oy) at a time: that block of OW rows of cols
// is small enough to stay in L1 while, for each (c, ky), the input row
// ih = oy·stride − pad + ky is copied in runs of KW into each output
// position's segment.
func Im2col(g Geometry, x, cols []float32) {
	if g.Rows() == 0 || g.Cols() == 0 {
		return
	}
	_ = x[g.N*g.C*g.H*g.W-1]
	_ = cols[g.Rows()*g.Cols()-1]
	parallelImages(g, func(n0, n1 int) { im2colImages(g, x, cols, n0, n1) })
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
			block := cols[(n*oh+oy)*ow*k : (n*oh+oy+1)*ow*k]
			ih0 := oy*g.Stride - g.Pad
			seg := 0
			for c := 0; c < g.C; c++ {
				for ky := 0; ky < g.KH; ky++ {
					ih := ih0 + ky
					if ih < 0 || ih >= g.H {
						for ox := 0; ox < ow; ox++ {
							clear(block[ox*k+seg : ox*k+seg+kw])
						}
						seg += kw
						continue
					}
					src := xn[c*plane+ih*g.W : c*plane+(ih+1)*g.W]
					for ox := 0; ox < inLo; ox++ {
						im2colEdge(g, block[ox*k+seg:ox*k+seg+kw], src, ox*g.Stride-g.Pad)
					}
					for ox := inLo; ox < inHi; ox++ {
						iw0 := ox*g.Stride - g.Pad
						d := block[ox*k+seg : ox*k+seg+kw]
						s := src[iw0 : iw0+kw]
						for i := range d {
							d[i] = s[i]
						}
					}
					for ox := inHi; ox < ow; ox++ {
						im2colEdge(g, block[ox*k+seg:ox*k+seg+kw], src, ox*g.Stride-g.Pad)
					}
					seg += kw
				}
			}
		}
	}
}

// im2colEdge copies one window row that overlaps the horizontal padding.
func im2colEdge(g Geometry, dst, src []float32, iw0 int) {
	lo, hi := g.kwRange(iw0)
	clear(dst[:lo])
	if lo < hi {
		copy(dst[lo:hi], src[iw0+lo:iw0+hi])
	}
	clear(dst[hi:])
}

// Col2im is the adjoint of Im2col: it adds every entry of cols back onto
// the input pixel it was read from, accumulating into dx (len N·C·H·W).
// Entries that fell on padding are dropped. It walks cols in the same
// order as Im2col.
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
			block := cols[(n*oh+oy)*ow*k : (n*oh+oy+1)*ow*k]
			ih0 := oy*g.Stride - g.Pad
			seg := 0
			for c := 0; c < g.C; c++ {
				for ky := 0; ky < g.KH; ky++ {
					ih := ih0 + ky
					if ih < 0 || ih >= g.H {
						seg += kw
						continue
					}
					dst := dn[c*plane+ih*g.W : c*plane+(ih+1)*g.W]
					for ox := 0; ox < inLo; ox++ {
						col2imEdge(g, block[ox*k+seg:ox*k+seg+kw], dst, ox*g.Stride-g.Pad)
					}
					for ox := inLo; ox < inHi; ox++ {
						iw0 := ox*g.Stride - g.Pad
						s := block[ox*k+seg : ox*k+seg+kw]
						d := dst[iw0 : iw0+kw]
						for i := range s {
							d[i] += s[i]
						}
					}
					for ox := inHi; ox < ow; ox++ {
						col2imEdge(g, block[ox*k+seg:ox*k+seg+kw], dst, ox*g.Stride-g.Pad)
					}
					seg += kw
				}
			}
		}
	}
}

// col2imEdge accumulates one window row that overlaps the horizontal padding.
func col2imEdge(g Geometry, src, dst []float32, iw0 int) {
	lo, hi := g.kwRange(iw0)
	for i := lo; i < hi; i++ {
		dst[iw0+i] += src[i]
	}
}

// parallelMin is the column-matrix size (elements) below which splitting
// the batch over goroutines costs more than it saves.
const parallelMin = 1 << 16

// parallelImages calls work on contiguous ranges of images, one per
// available CPU (GOMAXPROCS), and waits. Small problems run inline.
func parallelImages(g Geometry, work func(n0, n1 int)) {
	workers := min(runtime.GOMAXPROCS(0), g.N)
	if workers <= 1 || g.Rows()*g.Cols() < parallelMin {
		work(0, g.N)
		return
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		n0, n1 := w*g.N/workers, (w+1)*g.N/workers
		wg.Go(func() { work(n0, n1) })
	}
	wg.Wait()
}

// RowsToNCHW rearranges a (N·P) × O matrix (one row per output position,
// P positions per image) into NCHW order y[n][o][p], adding bias[o] when
// bias is not nil. It overwrites y.
func RowsToNCHW(rows, bias, y []float32, n, o, p int) {
	if n*p*o == 0 {
		return
	}
	_ = rows[n*p*o-1]
	_ = y[n*o*p-1]
	for b := 0; b < n; b++ {
		src := rows[b*p*o : (b+1)*p*o]
		dst := y[b*o*p : (b+1)*o*p]
		for ch := 0; ch < o; ch++ {
			var add float32
			if bias != nil {
				add = bias[ch]
			}
			d := dst[ch*p : (ch+1)*p]
			for i := range d {
				d[i] = src[i*o+ch] + add
			}
		}
	}
}

// NCHWToRows is the inverse rearrangement of RowsToNCHW (without bias): it
// writes rows[(n·P + p)·O + o] = y[n][o][p].
func NCHWToRows(y, rows []float32, n, o, p int) {
	if n*p*o == 0 {
		return
	}
	_ = rows[n*p*o-1]
	_ = y[n*o*p-1]
	for b := 0; b < n; b++ {
		src := y[b*o*p : (b+1)*o*p]
		dst := rows[b*p*o : (b+1)*p*o]
		for ch := 0; ch < o; ch++ {
			s := src[ch*p : (ch+1)*p]
			for i, v := range s {
				dst[i*o+ch] = v
			}
		}
	}
}
