package autograd

import (
	"fmt"
	"runtime"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/internal/conv"
	"github.com/mirage-go/mirage/internal/vec"
)

// Conv2d returns the 2-D cross-correlation of x (N, C, H, W) with weights w
// (O, C, KH, KW), plus bias (O) when bias is not nil: PyTorch's nn.Conv2d
// with square stride and symmetric zero padding. The result is
// (N, O, OH, OW) with OH = ⌊(H + 2·padding − KH)/stride⌋ + 1, likewise OW.
//
// It is computed as matrix products (im2col): every receptive field
// becomes a row of cols, (N·OH·OW) × (C·KH·KW), and
//
//	forward  y2d   = cols · wᵀ       role Forward,    reduction C·KH·KW
//	dX       dcols = dy2d · w        role GradInput,  reduction O; then col2im
//	dW       dw    = dy2dᵀ · cols    role GradWeight, reduction N·OH·OW
//
// so all three products run on the tape's backend tagged with layer, and
// the GradInput product is skipped when x needs no gradient (first layer).
// The bias gradient is a plain per-channel sum. (dy2d, the output
// gradient with one row per position, is stored transposed, one row per
// channel, which NCHW gives by plain copies; the GEMMs take it with the
// transpose flag, computing the same products.)
//
// On a backend that implements backend.ImplicitConv (fp32: plain float32
// products, whatever the operands' layout) the products skip MatMul and
// cols: convolutions with square kernels run their forward and
// input-gradient products as implicit GEMMs on padded images (split into
// phases at stride > 1, several small images side by side), and every
// convolution's weight gradient is reduced per chunk of images
// (conv.Workers.Backward). The forward result is bit-identical to the
// im2col product on one goroutine; the gradients sum in another order.
// Quantising backends (bfp, rns, analog) and wrappers that observe MatMul
// keep the im2col path described next, which gives them the column matrix
// they quantise.
//
// # Blocks of images
//
// cols is 9× the size of the activation for a 3×3 kernel (75 MiB for a
// ResNet-20 stage-1 layer at batch 128), and streaming it through memory
// costs more than the arithmetic. So the products run on blocks of whole
// images, each block's part of cols sized to stay in the CPU cache
// (convBlockElems) between im2col writing it and the GEMM reading it; the
// backward pass recomputes it (in cache) instead of keeping the whole
// matrix. What each backend computes does not change:
//
//   - forward and dX: a block is a block of rows of the product, and a row
//     block of a product is exactly the product of the row block (block
//     floating point quantises each row, and each column of the other
//     operand, independently);
//   - dW reduces over the batch: each block adds its part into dw
//     (Accumulate), and blocks hold a multiple of convTileAlign rows
//     (all but the last), so a backend that tiles the reduction in tiles of
//     any length dividing convTileAlign (BFP and RNS tiles of 1, 2, 4, …,
//     512) sees exactly the tiles of one GEMM over the batch, summed in
//     order.
//
// Only the number of calls a backend sees grows (one per block and role).
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
	k := g.Cols()
	oh, ow := g.OutH(), g.OutW()
	positions := oh * ow
	imageIn := g.C * g.H * g.W
	block := imagesPerBlock(positions, max(k, o))
	blockRows := min(block, g.N) * positions

	out := t.resultUninit([]int{g.N, o, oh, ow}, x, w, bias)
	var biasData []float32
	if bias != nil {
		biasData = bias.data
	}
	_, layoutFree := t.backend.(backend.ImplicitConv)
	implicit := layoutFree && g.Implicit()
	if implicit {
		t.conv.ImplicitForward(g, o, x.data, w.data, biasData, out.data)
	} else {
		// Scratch buffers are overwritten completely, so memory recycled
		// across steps after Reset does not need zeroing: cols and y2d
		// hold one block (they are reused by every block, and by every
		// layer).
		cols := t.scratch(blockRows * k)
		y2d := t.scratch(blockRows * o)
		for n0 := 0; n0 < g.N; n0 += block {
			n1 := min(n0+block, g.N)
			blk := g // the geometry of this block of images
			blk.N = n1 - n0
			rb := (n1 - n0) * positions
			t.conv.Im2col(blk, x.data[n0*imageIn:n1*imageIn], cols[:rb*k])
			t.gemm(layer, backend.Forward, rb, o, k, cols[:rb*k], k, false, w.data, k, true, y2d[:rb*o], o, false)
			if t.err != nil {
				clear(y2d[:rb*o]) // a failed GEMM leaves scratch garbage: output zeros instead
			}
			t.conv.RowsToNCHW(y2d[:rb*o], biasData, out.data[n0*o*positions:n1*o*positions], n1-n0, o, positions)
		}
		t.release(cols)
		t.release(y2d)
	}
	if !out.requiresGrad {
		return out
	}

	t.record(out, func(gout []float32) {
		if gb := gradOf(bias); gb != nil {
			t.parallelChannels(o, len(gout), func(c0, c1 int) {
				for ch := c0; ch < c1; ch++ {
					var total float64 // per-image sums in float64 (the squares are not needed)
					for n := 0; n < g.N; n++ {
						s, _ := vec.ShiftedSums(gout[(n*o+ch)*positions:(n*o+ch+1)*positions], 0)
						total += s
					}
					gb[ch] += float32(total)
				}
			})
		}
		gx, fresh := gradFor(x)
		gw := gradOf(w)
		if layoutFree && (gw != nil || implicit && gx != nil) {
			// One pass over the images for both gradients (the input
			// gradient only for the implicit geometries).
			var dx []float32
			if implicit {
				dx = gx
				gx = nil
			}
			t.conv.Backward(g, o, x.data, gout, w.data, dx, gw, fresh)
			gw = nil
		}
		if gx == nil && gw == nil {
			return
		}
		// Per block: dyT, the block's output gradient as an O × rows
		// matrix (row ch is channel ch of each image in turn, copied from
		// gout); cols recomputed; dcols for the input gradient.
		dyT := t.scratch(o * blockRows)
		var cols, dcols []float32
		if gw != nil {
			cols = t.scratch(blockRows * k)
		}
		if gx != nil {
			dcols = t.scratch(blockRows * k)
		}
		for n0 := 0; n0 < g.N; n0 += block {
			n1 := min(n0+block, g.N)
			rb := (n1 - n0) * positions
			for ch := 0; ch < o; ch++ {
				for n := n0; n < n1; n++ {
					copy(dyT[ch*rb+(n-n0)*positions:ch*rb+(n-n0+1)*positions], gout[(n*o+ch)*positions:(n*o+ch+1)*positions])
				}
			}
			blk := g
			blk.N = n1 - n0
			if gx != nil {
				db := dcols[:rb*k]
				t.gemm(layer, backend.GradInput, rb, k, o, dyT[:o*rb], rb, true, w.data, k, false, db, k, false)
				gxb := gx[n0*imageIn : n1*imageIn]
				if fresh {
					clear(gxb) // zeroed block by block, while it is in cache
				}
				t.conv.Col2im(blk, db, gxb)
			}
			if gw != nil {
				t.conv.Im2col(blk, x.data[n0*imageIn:n1*imageIn], cols[:rb*k])
				t.gemm(layer, backend.GradWeight, o, k, rb, dyT[:o*rb], rb, false, cols[:rb*k], k, false, gw, k, true)
			}
		}
		t.release(dyT)
		if cols != nil {
			t.release(cols)
		}
		if dcols != nil {
			t.release(dcols)
		}
	})
	return out
}

// convBlockElems is the size, in float32s, of the largest per-block matrix
// of a convolution (its part of cols, usually): 512 Ki elements, 2 MiB,
// about one core's L2 cache, so that the GEMM reads what im2col just wrote
// (and col2im what the GEMM just wrote) from cache.
const convBlockElems = 1 << 19

// convTileAlign is what the number of rows of every block but the last is
// a multiple of, so that the dW product's reduction is cut at the same
// places as the tiles of any backend tiling it in lengths dividing 512.
const convTileAlign = 512

// imagesPerBlock returns how many images go in one block for images of
// positions output positions, each with width elements in the largest
// per-block matrix: about convBlockElems in all, at least one image, and
// a count whose rows (images·positions) are a multiple of convTileAlign —
// rounded down, or up to the smallest such count when that is above the
// cache budget (then blocks are larger than the cache, never misaligned).
// Among aligned counts within the budget it prefers multiples of
// GOMAXPROCS, so the parallel kernels split a block evenly.
func imagesPerBlock(positions, width int) int {
	step := convTileAlign / gcd(convTileAlign, max(positions, 1)) // smallest aligned image count
	n := convBlockElems / max(positions*width, 1)
	n -= n % step
	if n < step {
		return step
	}
	workers := runtime.GOMAXPROCS(0)
	if m := n - n%lcm(step, workers); m >= step {
		n = m
	}
	return n
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func lcm(a, b int) int { return a / gcd(a, b) * b }
