package autograd

import (
	"fmt"
	"runtime"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/internal/conv"
)

// Conv2d returns the 2-D cross-correlation of x (N, C, H, W) with weights w
// (O, C, KH, KW), plus bias (O) when bias is not nil: PyTorch's nn.Conv2d
// with square stride and symmetric zero padding. The result is
// (N, O, OH, OW) with OH = ⌊(H + 2·padding − KH)/stride⌋ + 1, likewise OW.
//
// It is computed as matrix products over the whole batch (im2col): every
// receptive field becomes a row of cols, (N·OH·OW) × (C·KH·KW), and
//
//	forward  y2d   = cols · wᵀ       role Forward,    reduction C·KH·KW
//	dX       dcols = dy2d · w        role GradInput,  reduction O; then col2im
//	dW       dw    = dy2dᵀ · cols    role GradWeight, reduction N·OH·OW
//
// so all three products run on the tape's backend tagged with layer, and
// the GradInput product is skipped when x needs no gradient (first layer).
// The bias gradient is a plain per-channel sum.
//
// The forward and dX products are sent as consecutive row blocks of whole
// images, each block sized so that its part of cols (or dcols) stays in
// the CPU cache between being written and being read: im2col, the GEMM and
// the rearrangement to NCHW run block by block instead of streaming
// matrices of tens of megabytes through memory. A row block of a product
// is exactly the product of the row block, for every backend (block
// floating point quantises each row and each column of the other operand
// independently), so the split changes how many calls a backend sees, not
// what it computes. The dW product reduces over the batch and stays one
// GEMM, so its reduction is tiled exactly as without blocks.
func (t *Tape) Conv2d(x, w, bias *Tensor, stride, padding int, layer string) *Tensor {
	if len(x.shape) != 4 || len(w.shape) != 4 {
		panic(fmt.Sprintf("autograd.Conv2d %s: need x (N,C,H,W) and w (O,C,KH,KW), got %v and %v", layer, x.shape, w.shape))
	}
	if x.shape[1] != w.shape[1] {
		panic(fmt.Sprintf("autograd.Conv2d %s: input has %d channels, weights expect %d (x %v, w %v)", layer, x.shape[1], w.shape[1], x.shape, w.shape))
	}
	o := w.shape[0]
	if bias != nil && (len(bias.shape) != 1 || bias.shape[0] != o) {
		panic(fmt.Sprintf("autograd.Conv2d %s: bias must have shape [%d], got %v", layer, o, bias.shape))
	}
	g := conv.Geometry{
		N: x.shape[0], C: x.shape[1], H: x.shape[2], W: x.shape[3],
		KH: w.shape[2], KW: w.shape[3], Stride: stride, Pad: padding,
	}
	if err := g.Validate(); err != nil {
		panic(fmt.Sprintf("autograd.Conv2d %s: %v (x %v, w %v)", layer, err, x.shape, w.shape))
	}
	rows, k := g.Rows(), g.Cols()
	oh, ow := g.OutH(), g.OutW()
	positions := oh * ow
	imageIn := g.C * g.H * g.W
	block := imagesPerBlock(positions * max(k, o))

	// cols and y2d are overwritten completely, so scratch memory (reused
	// across steps after Reset) does not need zeroing.
	cols := t.scratch(rows * k)
	y2d := t.scratch(rows * o)
	out := t.resultUninit([]int{g.N, o, oh, ow}, x, w, bias)
	var biasData []float32
	if bias != nil {
		biasData = bias.data
	}
	for n0 := 0; n0 < g.N; n0 += block {
		n1 := min(n0+block, g.N)
		blk := g // the geometry of this block of images
		blk.N = n1 - n0
		r0, r1 := n0*positions, n1*positions
		t.conv.Im2col(blk, x.data[n0*imageIn:n1*imageIn], cols[r0*k:r1*k])
		t.gemm(layer, backend.Forward, r1-r0, o, k, cols[r0*k:r1*k], k, false, w.data, k, true, y2d[r0*o:r1*o], o, false)
		if t.err != nil {
			clear(y2d[r0*o : r1*o]) // a failed GEMM leaves scratch garbage: output zeros instead
		}
		t.conv.RowsToNCHW(y2d[r0*o:r1*o], biasData, out.data[n0*o*positions:n1*o*positions], n1-n0, o, positions)
	}
	if !out.requiresGrad {
		// Nothing will run backward (evaluation): hand the scratch back
		// now, so an evaluation loop that never calls Reset does not grow.
		t.release(cols)
		t.release(y2d)
		return out
	}

	t.record(out, func(gout []float32) {
		if gb := gradOf(bias); gb != nil {
			for n := 0; n < g.N; n++ {
				for ch := 0; ch < o; ch++ {
					var s float32
					for _, v := range gout[(n*o+ch)*positions : (n*o+ch+1)*positions] {
						s += v
					}
					gb[ch] += s
				}
			}
		}
		// The output gradient in the GEMM's row-per-position layout; the
		// forward product is no longer needed, so its buffer is reused.
		dy2d := y2d
		gx, fresh := gradFor(x)
		var dcols []float32
		if gx != nil {
			dcols = t.scratch(min(block, g.N) * positions * k) // one block, overwritten by each GEMM
		}
		for n0 := 0; n0 < g.N; n0 += block {
			n1 := min(n0+block, g.N)
			r0, r1 := n0*positions, n1*positions
			t.conv.NCHWToRows(gout[n0*o*positions:n1*o*positions], dy2d[r0*o:r1*o], n1-n0, o, positions)
			if gx == nil {
				continue
			}
			db := dcols[:(r1-r0)*k]
			t.gemm(layer, backend.GradInput, r1-r0, k, o, dy2d[r0*o:r1*o], o, false, w.data, k, false, db, k, false)
			gxb := gx[n0*imageIn : n1*imageIn]
			if fresh {
				clear(gxb) // zeroed block by block, while it is in cache
			}
			blk := g
			blk.N = n1 - n0
			t.conv.Col2im(blk, db, gxb)
		}
		if dcols != nil {
			t.release(dcols)
		}
		if gw := gradOf(w); gw != nil {
			t.gemm(layer, backend.GradWeight, o, k, rows, dy2d, o, true, cols, k, false, gw, k, true)
		}
	})
	return out
}

// convBlockElems is the size, in float32s, of the part of the column
// matrix that one block of images fills: 512 Ki elements, 2 MiB, about
// one core's L2 cache, so that the GEMM reads what im2col just wrote (and
// col2im what the GEMM just wrote) from cache.
const convBlockElems = 1 << 19

// imagesPerBlock returns how many images go in one block when each image
// has perImage elements in the largest per-block matrix: at least one, and
// a multiple of GOMAXPROCS when there are several, so the parallel
// rearrangement kernels split a block evenly.
func imagesPerBlock(perImage int) int {
	workers := runtime.GOMAXPROCS(0)
	n := convBlockElems / max(perImage, 1)
	if n >= workers {
		n -= n % workers
	}
	return max(n, 1)
}
