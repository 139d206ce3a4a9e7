package layers

import (
	"fmt"
	"math/rand/v2"

	"github.com/mirage-go/mirage/autograd"
)

// Conv2d is PyTorch's nn.Conv2d with a square kernel, equal stride and
// padding on both axes, and no groups or dilation. Input is (N, C, H, W).
// The convolution runs as im2col + GEMM on the tape's backend, tagged with
// Name.
type Conv2d struct {
	Name    string
	Weight  *autograd.Tensor // (out, in, k, k), named Name+".weight"
	Bias    *autograd.Tensor // (out) or nil, named Name+".bias"
	Stride  int
	Padding int
}

// NewConv2d returns a convolution with PyTorch's default initialisation:
// weight and bias from U(±1/√fan_in), fan_in = in·k·k.
func NewConv2d(name string, in, out, kernel, stride, padding int, bias bool, rng *rand.Rand) *Conv2d {
	c := &Conv2d{
		Name:    name,
		Weight:  autograd.Param(name+".weight", out, in, kernel, kernel),
		Stride:  stride,
		Padding: padding,
	}
	fanIn := in * kernel * kernel
	InitUniform(c.Weight, DefaultBound(fanIn), rng)
	if bias {
		c.Bias = autograd.Param(name+".bias", out)
		InitUniform(c.Bias, DefaultBound(fanIn), rng)
	}
	return c
}

// InChannels returns the number of input channels.
func (c *Conv2d) InChannels() int { return c.Weight.Dim(1) }

// OutChannels returns the number of output channels.
func (c *Conv2d) OutChannels() int { return c.Weight.Dim(0) }

// Kernel returns the kernel size.
func (c *Conv2d) Kernel() int { return c.Weight.Dim(2) }

// OutSize returns the spatial output size for an input of size n.
func (c *Conv2d) OutSize(n int) int { return ConvOutSize(n, c.Kernel(), c.Stride, c.Padding) }

// ConvOutSize is the output length of a convolution or pooling window of
// size kernel sliding with stride over n inputs padded by padding on each
// side: ⌊(n + 2·padding − kernel)/stride⌋ + 1.
func ConvOutSize(n, kernel, stride, padding int) int {
	return (n+2*padding-kernel)/stride + 1
}

// Forward implements Module.
func (c *Conv2d) Forward(t *autograd.Tape, x *autograd.Tensor) *autograd.Tensor {
	if len(x.Shape()) != 4 || x.Dim(1) != c.InChannels() {
		panic(fmt.Sprintf("layers.Conv2d %s: input %v, want (N, %d, H, W)", c.Name, x.Shape(), c.InChannels()))
	}
	return t.Conv2d(x, c.Weight, c.Bias, c.Stride, c.Padding, c.Name)
}

// Params implements Module.
func (c *Conv2d) Params() []*autograd.Tensor { return nonNil(c.Weight, c.Bias) }

// Buffers implements Module.
func (c *Conv2d) Buffers() []*autograd.Tensor { return nil }

// SetTraining implements Module; Conv2d behaves the same in both modes.
func (c *Conv2d) SetTraining(bool) {}
