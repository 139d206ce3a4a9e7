package backend

import "fmt"

// ConvGeometry describes a 2-D convolution (cross-correlation, PyTorch's
// nn.Conv2d without groups or dilation) of N images of C channels, H×W,
// with O filters of C×KH×KW, square stride and symmetric zero padding.
// Tensors are row-major: x (N, C, H, W), weights (O, C, KH, KW), output
// (N, O, OutH, OutW).
type ConvGeometry struct {
	N, C, H, W int // input batch, channels, height, width
	O          int // output channels
	KH, KW     int // kernel height and width
	Stride     int
	Pad        int
}

// OutH returns the output height, ⌊(H + 2·Pad − KH)/Stride⌋ + 1.
func (g ConvGeometry) OutH() int { return (g.H+2*g.Pad-g.KH)/g.Stride + 1 }

// OutW returns the output width, ⌊(W + 2·Pad − KW)/Stride⌋ + 1.
func (g ConvGeometry) OutW() int { return (g.W+2*g.Pad-g.KW)/g.Stride + 1 }

// Positions returns N·OutH·OutW, the number of rows of the im2col matrix.
func (g ConvGeometry) Positions() int { return g.N * g.OutH() * g.OutW() }

// Field returns C·KH·KW, the length of one receptive field: the columns of
// the im2col matrix and the reduction length of the forward product.
func (g ConvGeometry) Field() int { return g.C * g.KH * g.KW }

// Validate reports sizes that cannot form a convolution, naming the limit.
func (g ConvGeometry) Validate() error {
	switch {
	case g.N < 0 || g.C < 0 || g.H < 0 || g.W < 0 || g.O < 0:
		return fmt.Errorf("conv: negative size: input %dx%dx%dx%d, %d output channels", g.N, g.C, g.H, g.W, g.O)
	case g.KH <= 0 || g.KW <= 0:
		return fmt.Errorf("conv: kernel %dx%d must be at least 1x1", g.KH, g.KW)
	case g.Stride <= 0:
		return fmt.Errorf("conv: stride %d must be at least 1", g.Stride)
	case g.Pad < 0:
		return fmt.Errorf("conv: negative padding %d", g.Pad)
	case g.H+2*g.Pad < g.KH || g.W+2*g.Pad < g.KW:
		return fmt.Errorf("conv: kernel %dx%d is larger than the padded input %dx%d", g.KH, g.KW, g.H+2*g.Pad, g.W+2*g.Pad)
	}
	return nil
}

// GEMM returns the shape (M, N, K) of the im2col product of role r: the
// forward product cols·wᵀ is Positions × O over Field, the input
// gradient's dy2d·w is Positions × Field over O, and the weight
// gradient's dy2dᵀ·cols is O × Field over Positions.
func (g ConvGeometry) GEMM(r Role) (m, n, k int) {
	switch r {
	case GradInput:
		return g.Positions(), g.Field(), g.O
	case GradWeight:
		return g.O, g.Field(), g.Positions()
	}
	return g.Positions(), g.O, g.Field()
}

// ConvGrads names the gradients ConvBackward computes. A nil slice means
// the gradient is not wanted (no GEMM of that role is run or counted).
type ConvGrads struct {
	// DX (N, C, H, W) receives the input gradient (role GradInput): it is
	// added into DX, or written over it when AssignDX is set (DX's
	// contents are then garbage that must not be read).
	DX       []float32
	AssignDX bool
	// DW (O, C, KH, KW) receives the weight gradient (role GradWeight),
	// always added into DW.
	DW []float32
}

// Convolver is implemented by backends that compute a whole convolution's
// products themselves, instead of having them built as im2col matrix
// products and sent to MatMul. It is an optional capability, like
// io.WriterTo: autograd hands a convolution to a Backend that implements
// it, and runs everything else through MatMul.
//
// # The contract
//
// Without Convolver, autograd computes a convolution with im2col: every
// receptive field becomes a row of cols, Positions × Field (columns in
// (c, ky, kx) order, the weights' layout), and
//
//	forward  y2d   = cols · wᵀ      role Forward,    GEMM Positions × O over Field
//	dX       dcols = dy2d · w       role GradInput,  GEMM Positions × Field over O; then col2im
//	dW       dw   += dy2dᵀ · cols   role GradWeight, GEMM O × Field over Positions
//
// with dy2d the output gradient as a Positions × O matrix, each product
// sent to MatMul in blocks of whole images (dW accumulating block by
// block; every block but the last a multiple of 512 positions, so the
// reduction is cut at multiples of 512), and the results moved to NCHW in
// FP32: y = y2d + bias (one addition per element), dx = (zero or dx) +
// the col2im sum of dcols.
//
// A Convolver must return what that path returns on the same backend
// value, and leave the backend in the same state (random generators,
// statistics counters: the same calls, readouts and errors counted per
// layer and role): bit for bit wherever the backend's MatMul fixes the
// result bit for bit. The one freedom is the FP32 summation order where
// MatMul itself leaves it to the GEMM kernel (fp32: every product; the
// BFP backends: the FP32 additions across tiles with --tile-accumulation
// gemm); a Convolver may then sum in another order, as long as it adds the
// same terms. How it computes them — implicit GEMMs that read the image
// in place, quantising while packing — is its own business.
//
// Errors are reported by autograd as they are, so they name the layer and
// the role: "conv1 dX: …" ("conv1 backward: …" for an operand check that
// concerns both gradients).
//
// Wrappers that observe calls (recorders, probes) implement Convolver only
// when they can pass the convolution on and observe it as such; a wrapper
// that needs every product as a GEMM does not implement it, and then sees
// convolutions as the im2col GEMMs above.
type Convolver interface {
	Backend
	// ConvForward writes y (N, O, OutH, OutW), the convolution of x
	// (N, C, H, W) with w (O, C, KH, KW), plus bias (O) when bias is not
	// nil: the product of role Forward of layer. y's previous contents
	// are garbage and must not be read.
	ConvForward(layer string, g ConvGeometry, x, w, bias, y []float32) error
	// ConvBackward computes the gradients grads asks for, given the
	// output gradient dy (N, O, OutH, OutW), the input x and the weights
	// w: the product of role GradInput into grads.DX and that of role
	// GradWeight into grads.DW (in one pass, if the backend likes).
	ConvBackward(layer string, g ConvGeometry, x, w, dy []float32, grads ConvGrads) error
}

// CheckForward reports a geometry that cannot form a convolution or
// operands of ConvForward too short for it; Convolver implementations call
// it first, so that a shape bug is an error naming the operand.
func (g ConvGeometry) CheckForward(x, w, bias, y []float32) error {
	if err := g.Validate(); err != nil {
		return err
	}
	if bias != nil {
		if err := checkLen("bias", bias, g.O); err != nil {
			return err
		}
	}
	return checkAll(checkLen("x", x, g.N*g.C*g.H*g.W), checkLen("w", w, g.O*g.Field()), checkLen("y", y, g.N*g.O*g.OutH()*g.OutW()))
}

// CheckBackward is CheckForward for ConvBackward's operands.
func (g ConvGeometry) CheckBackward(x, w, dy []float32, grads ConvGrads) error {
	if err := g.Validate(); err != nil {
		return err
	}
	in, out := g.N*g.C*g.H*g.W, g.N*g.O*g.OutH()*g.OutW()
	err := checkAll(checkLen("x", x, in), checkLen("w", w, g.O*g.Field()), checkLen("dy", dy, out))
	if err == nil && grads.DX != nil {
		err = checkLen("dx", grads.DX, in)
	}
	if err == nil && grads.DW != nil {
		err = checkLen("dw", grads.DW, g.O*g.Field())
	}
	return err
}

func checkLen(name string, s []float32, need int) error {
	if len(s) < need {
		return fmt.Errorf("conv: %s has %d elements, needs %d", name, len(s), need)
	}
	return nil
}

func checkAll(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
