package layers

import (
	"fmt"

	"github.com/mirage-go/mirage/autograd"
)

// stateless provides the Module methods of layers without parameters,
// buffers or mode-dependent behaviour.
type stateless struct{}

// Params implements Module.
func (stateless) Params() []*autograd.Tensor { return nil }

// Buffers implements Module.
func (stateless) Buffers() []*autograd.Tensor { return nil }

// SetTraining implements Module.
func (stateless) SetTraining(bool) {}

// ReLU applies max(x, 0) elementwise.
type ReLU struct{ stateless }

// Forward implements Module.
func (ReLU) Forward(t *autograd.Tape, x *autograd.Tensor) *autograd.Tensor { return t.ReLU(x) }

// GELU applies the exact (erf) GELU elementwise, PyTorch's default.
type GELU struct{ stateless }

// Forward implements Module.
func (GELU) Forward(t *autograd.Tape, x *autograd.Tensor) *autograd.Tensor { return t.GELU(x) }

// Tanh applies tanh elementwise.
type Tanh struct{ stateless }

// Forward implements Module.
func (Tanh) Forward(t *autograd.Tape, x *autograd.Tensor) *autograd.Tensor { return t.Tanh(x) }

// Flatten reshapes (N, d1, d2, ...) to (N, d1·d2·…), PyTorch's nn.Flatten.
type Flatten struct{ stateless }

// Forward implements Module.
func (Flatten) Forward(t *autograd.Tape, x *autograd.Tensor) *autograd.Tensor {
	if len(x.Shape()) == 2 {
		return x
	}
	return t.Reshape(x, x.Dim(0), -1)
}

// MaxPool2d is PyTorch's nn.MaxPool2d with a square window on
// (N, C, H, W) inputs. Padding counts as −∞.
type MaxPool2d struct {
	stateless
	Kernel, Stride, Padding int
}

// NewMaxPool2d returns a max-pooling layer. PyTorch's default stride equals
// the kernel size.
func NewMaxPool2d(kernel, stride, padding int) *MaxPool2d {
	return &MaxPool2d{Kernel: kernel, Stride: stride, Padding: padding}
}

// Forward implements Module.
func (p *MaxPool2d) Forward(t *autograd.Tape, x *autograd.Tensor) *autograd.Tensor {
	check4D("MaxPool2d", x)
	return t.MaxPool2d(x, p.Kernel, p.Stride, p.Padding)
}

// AvgPool2d is PyTorch's nn.AvgPool2d with a square window on
// (N, C, H, W) inputs.
type AvgPool2d struct {
	stateless
	Kernel, Stride, Padding int
}

// NewAvgPool2d returns an average-pooling layer.
func NewAvgPool2d(kernel, stride, padding int) *AvgPool2d {
	return &AvgPool2d{Kernel: kernel, Stride: stride, Padding: padding}
}

// Forward implements Module.
func (p *AvgPool2d) Forward(t *autograd.Tape, x *autograd.Tensor) *autograd.Tensor {
	check4D("AvgPool2d", x)
	return t.AvgPool2d(x, p.Kernel, p.Stride, p.Padding)
}

// GlobalAvgPool averages each channel over its spatial positions:
// (N, C, H, W) → (N, C), i.e. AdaptiveAvgPool2d(1) followed by flatten.
type GlobalAvgPool struct{ stateless }

// Forward implements Module.
func (GlobalAvgPool) Forward(t *autograd.Tape, x *autograd.Tensor) *autograd.Tensor {
	check4D("GlobalAvgPool", x)
	return t.GlobalAvgPool(x)
}

func check4D(layer string, x *autograd.Tensor) {
	if len(x.Shape()) != 4 {
		panic(fmt.Sprintf("layers.%s: input %v, want (N, C, H, W)", layer, x.Shape()))
	}
}
