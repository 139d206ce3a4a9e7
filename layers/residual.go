package layers

import (
	"fmt"
	"math/rand/v2"

	"github.com/mirage-go/mirage/autograd"
)

// Shortcut selects how a residual block matches its input to its output
// when the block changes the number of channels or the resolution.
type Shortcut int

const (
	// ShortcutPad is He et al.'s option A: subsample the input with the
	// block's stride and pad the new channels with zeros. It has no
	// parameters (used by the CIFAR ResNet-20/32/44/56).
	ShortcutPad Shortcut = iota
	// ShortcutProjection is option B: a strided 1×1 convolution followed by
	// batch norm (used by ResNet-18/34 and torchvision).
	ShortcutProjection
)

// BasicBlock is the two-convolution residual block of ResNet-18/20/34:
//
//	out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))
//
// conv1 carries the block's stride. Parameters are named
// name+".conv1.weight", name+".bn1.weight", … and, for a projection
// shortcut, name+".shortcut.0.weight" (conv) and name+".shortcut.1.*" (bn),
// as in the common PyTorch CIFAR implementations.
type BasicBlock struct {
	Conv1 *Conv2d
	BN1   *BatchNorm
	Conv2 *Conv2d
	BN2   *BatchNorm
	// Shortcut maps the input to the output's shape; nil means identity.
	Shortcut Module
}

// NewBasicBlock returns a block from in to out channels whose first
// convolution has the given stride. When stride ≠ 1 or in ≠ out the
// shortcut is built as kind says; otherwise it is the identity.
// Convolutions have no bias (batch norm follows them) and PyTorch's default
// initialisation; models may re-initialise them.
func NewBasicBlock(name string, in, out, stride int, kind Shortcut, rng *rand.Rand) *BasicBlock {
	b := &BasicBlock{
		Conv1: NewConv2d(name+".conv1", in, out, 3, stride, 1, false, rng),
		BN1:   NewBatchNorm2d(name+".bn1", out),
		Conv2: NewConv2d(name+".conv2", out, out, 3, 1, 1, false, rng),
		BN2:   NewBatchNorm2d(name+".bn2", out),
	}
	if stride != 1 || in != out {
		switch kind {
		case ShortcutPad:
			b.Shortcut = &PadShortcut{Stride: stride, Extra: out - in}
		case ShortcutProjection:
			b.Shortcut = NewSequential(
				NewConv2d(name+".shortcut.0", in, out, 1, stride, 0, false, rng),
				NewBatchNorm2d(name+".shortcut.1", out),
			)
		default:
			panic(fmt.Sprintf("layers.NewBasicBlock: unknown shortcut kind %d", kind))
		}
	}
	return b
}

func (b *BasicBlock) parts() []Module {
	ms := []Module{b.Conv1, b.BN1, b.Conv2, b.BN2}
	if b.Shortcut != nil {
		ms = append(ms, b.Shortcut)
	}
	return ms
}

// Forward implements Module.
func (b *BasicBlock) Forward(t *autograd.Tape, x *autograd.Tensor) *autograd.Tensor {
	// BatchNorm+ReLU and BatchNorm+Add+ReLU run as fused ops: the same
	// values and gradients as the separate ops, with fewer passes over
	// memory.
	h := b.BN1.ForwardReLU(t, b.Conv1.Forward(t, x))
	skip := x
	if b.Shortcut != nil {
		skip = b.Shortcut.Forward(t, x)
	}
	return b.BN2.ForwardAddReLU(t, b.Conv2.Forward(t, h), skip)
}

// Params implements Module.
func (b *BasicBlock) Params() []*autograd.Tensor { return Collect(Module.Params, b.parts()...) }

// Buffers implements Module.
func (b *BasicBlock) Buffers() []*autograd.Tensor { return Collect(Module.Buffers, b.parts()...) }

// SetTraining implements Module.
func (b *BasicBlock) SetTraining(training bool) { SetTrainingAll(training, b.parts()...) }

// PadShortcut is the parameter-free option-A shortcut: it keeps every
// Stride-th row and column (x[:, :, ::s, ::s]) and appends Extra zero
// channels, split evenly before and after the existing ones (PyTorch:
// F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, extra/2, extra/2))).
type PadShortcut struct {
	stateless
	Stride int
	Extra  int
}

// Forward implements Module.
func (p *PadShortcut) Forward(t *autograd.Tape, x *autograd.Tensor) *autograd.Tensor {
	check4D("PadShortcut", x)
	if p.Stride > 1 {
		// A 1×1 max-pool with stride s is exactly the strided subsampling,
		// and its gradient routes back to the kept positions.
		x = t.MaxPool2d(x, 1, p.Stride, 0)
	}
	if p.Extra <= 0 {
		return x
	}
	before := p.Extra / 2
	return t.PadChannels(x, before, p.Extra-before)
}
