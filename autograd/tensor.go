package autograd

import (
	"fmt"

	"gorgonia.org/tensor"
)

// Tensor is a float32 array that may take part in automatic differentiation.
//
// Its value is a row-major []float32 ([Tensor.Data]) that the kernels work
// on directly; an op's output lives in its tape's arena and is recycled by
// [Tape.Reset]. At the boundary with other Go code a tensor converts to and
// from a gorgonia.org/tensor Dense without copying: [FromDense] wraps a
// float32 Dense, [Tensor.Dense] and [Tensor.GradDense] view the value and
// the gradient as one. A tensor with RequiresGrad set
// receives a gradient of the same shape when [Tape.Backward] runs; gradients
// accumulate across backward passes until [Tensor.ZeroGrad], as in PyTorch.
type Tensor struct {
	// Name is used in error messages and as the parameter name of layers.
	Name string

	shape        []int
	data         []float32
	grad         []float32
	requiresGrad bool

	// mem is the arena of the tape that produced the tensor, nil for
	// leaves; the gradient of an op output comes from it (valid until the
	// tape's next Reset), a leaf's gradient is ordinary persistent memory.
	mem *arena
	// dims stores the shape of arena tensors without an allocation.
	dims [6]int
}

// New returns a tensor of the given shape backed by data (not copied).
// It panics if len(data) does not match the shape: that is a programming
// error, not a user input error.
func New(data []float32, shape ...int) *Tensor {
	if n := numel(shape); n != len(data) {
		panic(fmt.Sprintf("autograd.New: shape %v holds %d elements, data has %d", shape, n, len(data)))
	}
	return &Tensor{shape: append([]int(nil), shape...), data: data}
}

// Zeros returns a zero tensor of the given shape.
func Zeros(shape ...int) *Tensor {
	return New(make([]float32, numel(shape)), shape...)
}

// Full returns a tensor of the given shape with every element set to v.
func Full(v float32, shape ...int) *Tensor {
	t := Zeros(shape...)
	for i := range t.data {
		t.data[i] = v
	}
	return t
}

// Param returns a zero tensor of the given shape that requires a gradient.
func Param(name string, shape ...int) *Tensor {
	t := Zeros(shape...)
	t.Name = name
	t.requiresGrad = true
	return t
}

// FromDense wraps a float32 Dense as a tensor. A contiguous Dense shares
// its storage with the result (writes to one show in the other); a view
// (a slice or transpose) is materialised into a new array first. A scalar
// Dense becomes a tensor of shape (). Any other dtype is an error.
func FromDense(d *tensor.Dense) (*Tensor, error) {
	if d.Dtype() != tensor.Float32 {
		return nil, fmt.Errorf("autograd: tensor has dtype %v, need float32", d.Dtype())
	}
	if !d.IsNativelyAccessible() || d.RequiresIterator() {
		d = d.Materialize().(*tensor.Dense)
	}
	data := d.Float32s()
	if shape := d.Shape(); numel(shape) != len(data) {
		return nil, fmt.Errorf("autograd: a Dense of shape %v holds %d values", shape, len(data))
	}
	return New(data, d.Shape()...), nil
}

// Dense returns the value as a gorgonia.org/tensor Dense sharing t's
// storage: no copy is made. The value of an op's output is recycled by its
// tape's next Reset, so clone the Dense (its Clone method) to keep it
// longer.
func (t *Tensor) Dense() *tensor.Dense {
	return tensor.New(tensor.WithShape(t.shape...), tensor.WithBacking(t.data))
}

// GradDense returns the gradient as a Dense sharing t's gradient buffer,
// or nil if there is none (see [Tensor.Grad]).
func (t *Tensor) GradDense() *tensor.Dense {
	if t.grad == nil {
		return nil
	}
	return tensor.New(tensor.WithShape(t.shape...), tensor.WithBacking(t.grad))
}

// Data returns the backing slice of the value (row-major).
func (t *Tensor) Data() []float32 { return t.data }

// Grad returns the backing slice of the gradient, or nil if no gradient has
// been computed since the last ZeroGrad.
func (t *Tensor) Grad() []float32 { return t.grad }

// Shape returns the tensor's shape. The caller must not modify it.
func (t *Tensor) Shape() []int { return t.shape }

// Dim returns the size of dimension i; negative i counts from the end.
func (t *Tensor) Dim(i int) int {
	if i < 0 {
		i += len(t.shape)
	}
	return t.shape[i]
}

// Numel returns the number of elements.
func (t *Tensor) Numel() int { return len(t.data) }

// Item returns the value of a one-element tensor.
func (t *Tensor) Item() float32 {
	if len(t.data) != 1 {
		panic(fmt.Sprintf("autograd: Item on a tensor of shape %v", t.shape))
	}
	return t.data[0]
}

// RequiresGrad reports whether backward passes compute a gradient for t.
func (t *Tensor) RequiresGrad() bool { return t.requiresGrad }

// SetRequiresGrad marks t as a leaf whose gradient should be computed.
func (t *Tensor) SetRequiresGrad(b bool) *Tensor { t.requiresGrad = b; return t }

// ZeroGrad discards the accumulated gradient (the next backward pass starts
// from zero). The buffer is kept and reused.
func (t *Tensor) ZeroGrad() {
	clear(t.grad)
}

// gradBuf returns the gradient buffer, allocating a zero one on first use.
func (t *Tensor) gradBuf() []float32 {
	if t.grad == nil {
		if t.mem != nil {
			t.grad = t.mem.floats.getZeroed(len(t.data))
		} else {
			t.grad = make([]float32, len(t.data))
		}
	}
	return t.grad
}

// SetGrad replaces the gradient buffer (len must equal Numel). Useful for
// tests and custom ops.
func (t *Tensor) SetGrad(g []float32) {
	if g != nil && len(g) != len(t.data) {
		panic(fmt.Sprintf("autograd: SetGrad with %d values on a tensor of %d", len(g), len(t.data)))
	}
	t.grad = g
}

func (t *Tensor) String() string {
	name := t.Name
	if name == "" {
		name = "tensor"
	}
	return fmt.Sprintf("%s%v", name, t.shape)
}

func numel(shape []int) int {
	n := 1
	for _, s := range shape {
		if s < 0 {
			panic(fmt.Sprintf("autograd: negative dimension in shape %v", shape))
		}
		n *= s
	}
	return n
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
