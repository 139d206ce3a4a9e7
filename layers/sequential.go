package layers

import "github.com/mirage-go/mirage/autograd"

// Sequential applies its layers one after another, like nn.Sequential.
// Layers carry their own names (given at construction), so the parameter
// names of a Sequential are those of its children, in order.
type Sequential struct {
	Layers []Module
}

// NewSequential returns a Sequential of the given layers.
func NewSequential(layers ...Module) *Sequential {
	return &Sequential{Layers: layers}
}

// Forward implements Module.
func (s *Sequential) Forward(t *autograd.Tape, x *autograd.Tensor) *autograd.Tensor {
	for _, l := range s.Layers {
		x = l.Forward(t, x)
	}
	return x
}

// Params implements Module: the children's parameters, in order.
func (s *Sequential) Params() []*autograd.Tensor {
	var ps []*autograd.Tensor
	for _, l := range s.Layers {
		ps = append(ps, l.Params()...)
	}
	return ps
}

// Buffers implements Module: the children's buffers, in order.
func (s *Sequential) Buffers() []*autograd.Tensor {
	var bs []*autograd.Tensor
	for _, l := range s.Layers {
		bs = append(bs, l.Buffers()...)
	}
	return bs
}

// SetTraining implements Module and propagates the mode to every child.
func (s *Sequential) SetTraining(training bool) {
	for _, l := range s.Layers {
		l.SetTraining(training)
	}
}

// StateDict returns everything a checkpoint of m holds: its parameters,
// then its buffers, each named as in PyTorch's state_dict.
func StateDict(m Module) []*autograd.Tensor {
	return append(append([]*autograd.Tensor(nil), m.Params()...), m.Buffers()...)
}

// CountParams returns the number of trainable scalars in m (buffers are
// not counted, matching sum(p.numel() for p in model.parameters())).
func CountParams(m Module) int {
	n := 0
	for _, p := range m.Params() {
		n += p.Numel()
	}
	return n
}

// Collect concatenates the parameters or buffers of several modules, in
// order. Models use it to implement Params and Buffers from their parts.
func Collect(get func(Module) []*autograd.Tensor, mods ...Module) []*autograd.Tensor {
	var out []*autograd.Tensor
	for _, m := range mods {
		out = append(out, get(m)...)
	}
	return out
}

// SetTrainingAll sets the mode of every module given.
func SetTrainingAll(training bool, mods ...Module) {
	for _, m := range mods {
		m.SetTraining(training)
	}
}
