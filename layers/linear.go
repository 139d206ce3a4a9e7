package layers

import (
	"fmt"
	"math/rand/v2"

	"github.com/mirage-go/mirage/autograd"
)

// Linear is PyTorch's nn.Linear: y = x·Wᵀ + b with W of shape (out, in).
// It applies to the last dimension of x, so (N, in) and (N, L, in) inputs
// both work. Its GEMMs are tagged with Name.
type Linear struct {
	Name   string
	Weight *autograd.Tensor // (out, in), named Name+".weight"
	Bias   *autograd.Tensor // (out) or nil, named Name+".bias"
}

// NewLinear returns a Linear layer with PyTorch's default initialisation:
// weight and bias from U(±1/√in).
func NewLinear(name string, in, out int, bias bool, rng *rand.Rand) *Linear {
	l := &Linear{Name: name, Weight: autograd.Param(name+".weight", out, in)}
	InitUniform(l.Weight, DefaultBound(in), rng)
	if bias {
		l.Bias = autograd.Param(name+".bias", out)
		InitUniform(l.Bias, DefaultBound(in), rng)
	}
	return l
}

// In returns the number of input features.
func (l *Linear) In() int { return l.Weight.Dim(1) }

// Out returns the number of output features.
func (l *Linear) Out() int { return l.Weight.Dim(0) }

// Forward implements Module.
func (l *Linear) Forward(t *autograd.Tape, x *autograd.Tensor) *autograd.Tensor {
	if x.Dim(-1) != l.In() {
		panic(fmt.Sprintf("layers.Linear %s: input %v has %d features in its last dimension, layer expects %d", l.Name, x.Shape(), x.Dim(-1), l.In()))
	}
	if len(x.Shape()) == 2 {
		return t.Linear(x, l.Weight, l.Bias, l.Name)
	}
	// Fold the leading dimensions into rows, as PyTorch does.
	lead := append([]int(nil), x.Shape()[:len(x.Shape())-1]...)
	y := t.Linear(t.Reshape(x, -1, l.In()), l.Weight, l.Bias, l.Name)
	return t.Reshape(y, append(lead, l.Out())...)
}

// Params implements Module.
func (l *Linear) Params() []*autograd.Tensor { return nonNil(l.Weight, l.Bias) }

// Buffers implements Module.
func (l *Linear) Buffers() []*autograd.Tensor { return nil }

// SetTraining implements Module; Linear behaves the same in both modes.
func (l *Linear) SetTraining(bool) {}

// nonNil returns its non-nil arguments in order.
func nonNil(ts ...*autograd.Tensor) []*autograd.Tensor {
	out := make([]*autograd.Tensor, 0, len(ts))
	for _, t := range ts {
		if t != nil {
			out = append(out, t)
		}
	}
	return out
}
