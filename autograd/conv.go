package autograd

import (
	"fmt"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/internal/conv"
)

// Conv2d returns the 2-D cross-correlation of x (N, C, H, W) with weights w
// (O, C, KH, KW), plus bias (O) when bias is not nil: PyTorch's nn.Conv2d
// with square stride and symmetric zero padding. The result is
// (N, O, OH, OW) with OH = ⌊(H + 2·padding − KH)/stride⌋ + 1, likewise OW.
//
// It is computed as one matrix product for the whole batch (im2col): every
// receptive field becomes a row of cols, (N·OH·OW) × (C·KH·KW), and
//
//	forward  y2d   = cols · wᵀ       role Forward,    reduction C·KH·KW
//	dX       dcols = dy2d · w        role GradInput,  reduction O; then col2im
//	dW       dw    = dy2dᵀ · cols    role GradWeight, reduction N·OH·OW
//
// so all three products run on the tape's backend tagged with layer, and
// the GradInput product is skipped when x needs no gradient (first layer).
// The bias gradient is a plain per-channel sum.
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

	// cols and y2d are overwritten completely, so scratch memory (reused
	// across steps after Reset) does not need zeroing.
	cols := t.scratch(rows * k)
	conv.Im2col(g, x.data, cols)
	y2d := t.scratch(rows * o)
	t.gemm(layer, backend.Forward, rows, o, k, cols, k, false, w.data, k, true, y2d, o, false)
	if t.err != nil {
		clear(y2d) // a failed GEMM leaves scratch garbage: output zeros instead
	}
	out := t.resultUninit([]int{g.N, o, oh, ow}, x, w, bias)
	var biasData []float32
	if bias != nil {
		biasData = bias.data
	}
	conv.RowsToNCHW(y2d, biasData, out.data, g.N, o, positions)
	if !out.requiresGrad {
		// Nothing will run backward (evaluation): hand the scratch back
		// now, so an evaluation loop that never calls Reset does not grow.
		t.release(cols)
		t.release(y2d)
		return out
	}

	t.record(out, func(gout []float32) {
		// The output gradient in the GEMM's row-per-position layout.
		dy2d := y2d // the forward product is no longer needed: reuse it
		conv.NCHWToRows(gout, dy2d, g.N, o, positions)
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
		if gx := gradOf(x); gx != nil {
			dcols := t.scratch(rows * k) // overwritten: the GEMM does not accumulate
			t.gemm(layer, backend.GradInput, rows, k, o, dy2d, o, false, w.data, k, false, dcols, k, false)
			conv.Col2im(g, dcols, gx)
			t.release(dcols)
		}
		if gw := gradOf(w); gw != nil {
			t.gemm(layer, backend.GradWeight, o, k, rows, dy2d, o, true, cols, k, false, gw, k, true)
		}
	})
	return out
}
