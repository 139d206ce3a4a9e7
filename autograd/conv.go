package autograd

import (
	"fmt"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/internal/conv"
	"github.com/mirage-go/mirage/internal/vec"
)

// Conv2d returns the 2-D cross-correlation of x (N, C, H, W) with weights w
// (O, C, KH, KW), plus bias (O) when bias is not nil: PyTorch's nn.Conv2d
// with square stride and symmetric zero padding. The result is
// (N, O, OH, OW) with OH = ⌊(H + 2·padding − KH)/stride⌋ + 1, likewise OW.
//
// Every product goes through the tape's backend, tagged with layer and
// its role. A backend that implements backend.Convolver (fp32) gets each
// convolution whole, with its geometry: fp32 computes it as implicit GEMMs
// that read the image in place. Any other backend (today the quantising
// ones, and wrappers that observe MatMul) gets the im2col products of
// backend.Im2col: every receptive field becomes a row of cols,
// (N·OH·OW) × (C·KH·KW), and
//
//	forward  y2d   = cols · wᵀ       role Forward,    reduction C·KH·KW
//	dX       dcols = dy2d · w        role GradInput,  reduction O; then col2im
//	dW       dw    = dy2dᵀ · cols    role GradWeight, reduction N·OH·OW
//
// in blocks of images. A Convolver returns what that path returns on it
// (see backend.Convolver for the exact contract). The GradInput product is
// skipped when x needs no gradient (first layer). The bias gradient is a
// plain per-channel sum.
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
	oh, ow := g.OutH(), g.OutW()
	positions := oh * ow
	out := t.resultUninit([]int{g.N, o, oh, ow}, x, w, bias)
	var biasData []float32
	if bias != nil {
		biasData = bias.data
	}
	bg := backend.ConvGeometry{N: g.N, C: g.C, H: g.H, W: g.W, O: o, KH: g.KH, KW: g.KW, Stride: g.Stride, Pad: g.Pad}
	var err error
	if cv, ok := t.backend.(backend.Convolver); ok {
		err = cv.ConvForward(layer, bg, x.data, w.data, biasData, out.data)
	} else {
		err = t.im2col.Forward(t.backend, layer, bg, x.data, w.data, biasData, out.data)
	}
	if err != nil {
		t.setErr(err)   // it names the layer and the role
		clear(out.data) // zeros instead of garbage
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
		if gx == nil && gw == nil {
			return
		}
		grads := backend.ConvGrads{DX: gx, AssignDX: fresh, DW: gw}
		var err error
		if cv, ok := t.backend.(backend.Convolver); ok {
			err = cv.ConvBackward(layer, bg, x.data, w.data, gout, grads)
		} else {
			err = t.im2col.Backward(t.backend, layer, bg, x.data, w.data, gout, grads)
		}
		if err != nil {
			t.setErr(err)
			if gx != nil && fresh {
				clear(gx) // zeros instead of garbage
			}
		}
	})
	return out
}
