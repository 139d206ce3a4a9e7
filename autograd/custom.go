package autograd

// Custom adds an operation defined by the caller, PyTorch
// autograd.Function style. It allocates an output of the given shape and
// calls forward(out) once, right away, to fill it; forward reads the
// inputs' values through [Tensor.Data].
//
// When gradients are being recorded and any input requires one, backward is
// registered and called at most once per Backward pass with gout, the
// gradient of the loss with respect to the output (read-only, same length
// as out). It must ADD (never assign) each input's gradient contribution
// into that input's buffer from [GradBuffer], skipping inputs whose buffer
// is nil; gradients accumulate across ops exactly as in the built-in ops.
// Matrix products inside either function should go through [Tape.MatMul]
// or the backend from [Tape.Backend] so they are counted and emulated.
//
// backward may be nil for an op that is not differentiable; its output then
// never requires a gradient.
func (t *Tape) Custom(shape []int, inputs []*Tensor, forward func(out []float32), backward func(gout []float32)) *Tensor {
	out := t.result(shape, inputs...)
	if backward == nil {
		out.requiresGrad = false
	}
	forward(out.data)
	if backward != nil {
		t.record(out, backward)
	}
	return out
}

// GradBuffer returns the buffer a backward function accumulates x's
// gradient into (allocating it on first use), or nil when x needs no
// gradient. It is meant for the backward functions of [Tape.Custom].
func GradBuffer(x *Tensor) []float32 { return gradOf(x) }

// Detach returns a tensor sharing x's value that never requires a gradient:
// the gradient flow stops there.
func Detach(x *Tensor) *Tensor {
	return &Tensor{Name: x.Name, shape: x.shape, data: x.data}
}
