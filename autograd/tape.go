// Package autograd is mirage's define-by-run reverse-mode differentiation
// engine.
//
// A [Tape] records operations as they run; [Tape.Backward] walks the record
// backwards and accumulates gradients into every tensor that requires one.
// Each operation is one method on Tape with its backward pass written beside
// its forward pass, micrograd style:
//
//	tape := autograd.NewTape(fp32.New())
//	h := tape.ReLU(tape.Linear(x, w, b, "fc1"))
//	loss := tape.CrossEntropy(h, labels, 0)
//	err := tape.Backward(loss)
//
// Every matrix product, including those inside convolutions and attention,
// goes through the tape's [backend.Backend], tagged with the layer name and
// its role (forward, dX, dW). The tape holds the backend, so there is no
// package-level state: two models with different backends can train side by
// side.
//
// Gradients follow PyTorch's contract: they accumulate in the leaves until
// ZeroGrad; a tape in no-grad mode records nothing (evaluation).
//
// Broadcasting in the elementwise ops (Add, Sub, Mul, Div) follows NumPy:
// shapes are aligned at their last dimension; each pair of dimensions must be
// equal or one of them 1, and a missing leading dimension counts as 1. The
// gradient of a broadcast operand is summed over the broadcast dimensions.
//
// # Operations
//
// One file per family, each op's backward beside its forward:
//
//   - matmul.go: MatMul, Linear, BatchedMatMul (attention's Q·Kᵀ and A·V)
//   - conv.go: Conv2d, as im2col plus GEMMs (blocks of images for the
//     forward and dX products, one GEMM over the batch for dW)
//   - elementwise.go, reduce.go: Add, Sub, Mul, Div, Scale, ReLU, AddReLU
//     (a residual block's fused end), Sum, Mean
//   - activation.go, erf.go: GELU (with a fast erf), Tanh, Sigmoid,
//     Softmax, LogSoftmax
//   - loss.go: CrossEntropy (with label smoothing)
//   - pool.go: MaxPool2d, AvgPool2d, GlobalAvgPool
//   - norm.go: BatchNorm (train/eval, running statistics), BatchNormReLU and
//     BatchNormAddReLU (fused), LayerNorm
//   - shape.go: Reshape, Transpose, Concat, Slice, PadChannels
//   - dropout.go, embedding.go: Dropout, Embedding
//   - custom.go: Custom, the hook for user-defined ops, and GradBuffer
//   - kernels.go, arena.go: parallel elementwise kernels, recycled memory
//
// Matrix products run on the backend with these roles: the forward product
// is [backend.Forward]; the gradient flowing to the activation input
// (MatMul's a, Conv2d's x) is [backend.GradInput]; the gradient of the
// weight-like operand (MatMul's b, Conv2d's w) is [backend.GradWeight].
//
// # Memory
//
// A training step allocates (almost) nothing once the tape is warm: while
// the tape records, op outputs, their gradients and the buffers their
// backward passes keep come from a per-tape arena, and [Tape.Reset] hands
// them all back for the next step. So a tensor produced by an op is valid
// until the tape's next Reset; copy what must outlive the step. Leaves
// (parameters, inputs) are ordinary memory and their gradients persist.
// In no-grad mode (evaluation) op outputs are ordinary garbage-collected
// memory. See arena.go.
//
// Shape mismatches between operands are programming errors and panic with a
// message naming the op and shapes. Bad data that can come from a file (a
// class label or token id out of range) and backend failures are kept as
// the tape's first error, returned by Backward and Err.
package autograd

import (
	"fmt"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/internal/parallel"
)

// Tape records operations for reverse-mode differentiation.
type Tape struct {
	backend backend.Backend
	noGrad  bool
	nodes   []node
	err     error

	// mem recycles op outputs, gradients and op-internal buffers from one
	// step to the next (see arena.go for the lifetime contract).
	mem arena
	// team runs the parallel loops of the ops (kernels.go) on all cores;
	// its helper goroutines spin between loops.
	team parallel.Team
	// im2col computes the convolutions of backends that are not Convolvers.
	im2col backend.Im2col
}

type node struct {
	out      *Tensor
	backward func(gout []float32)
}

// NewTape returns a tape whose matrix products run on b.
func NewTape(b backend.Backend) *Tape {
	t := &Tape{backend: b}
	return t
}

// Backend returns the backend used for matrix products.
func (t *Tape) Backend() backend.Backend { return t.backend }

// SetNoGrad switches recording off (evaluation) or back on. With recording
// off, results never require gradients and Backward has nothing to do.
func (t *Tape) SetNoGrad(off bool) { t.noGrad = off }

// NoGrad reports whether recording is off.
func (t *Tape) NoGrad() bool { return t.noGrad }

// Err returns the first error met by an operation (for example a backend
// that refused a GEMM), or nil.
func (t *Tape) Err() error { return t.err }

// Reset forgets the recorded operations so the tape can be reused for the
// next step. It keeps the backend and the no-grad setting and clears Err.
//
// Reset also recycles memory: every tensor produced by an op while the
// tape was recording (its value and its gradient) becomes invalid, because
// the next step reuses its storage. Copy what you need beyond the step
// before calling Reset. Leaves (parameters, inputs) are not affected.
func (t *Tape) Reset() {
	clear(t.nodes)
	t.nodes = t.nodes[:0]
	t.err = nil
	t.mem.reset()
}

// scratch returns a buffer of n float32s with UNSPECIFIED contents, owned
// by the tape until the next Reset (or release). Ops use it for internal
// matrices that they overwrite completely.
func (t *Tape) scratch(n int) []float32 { return t.mem.floats.get(n) }

// release hands a scratch buffer back before Reset, for buffers that only
// live during one forward or backward function.
func (t *Tape) release(buf []float32) { t.mem.floats.release(buf) }

// keep returns a buffer of n float32s with unspecified contents that an
// op's backward pass needs (saved statistics, masks). While recording it
// comes from the arena; in no-grad mode it is ordinary memory, since no
// backward pass will use it and no Reset may come.
func (t *Tape) keep(n int) []float32 {
	if t.noGrad {
		return make([]float32, n)
	}
	return t.mem.floats.get(n)
}

// keepInts is keep for int32 indices.
func (t *Tape) keepInts(n int) []int32 {
	if t.noGrad {
		return make([]int32, n)
	}
	return t.mem.ints.get(n)
}

// Len returns the number of operations recorded.
func (t *Tape) Len() int { return len(t.nodes) }

func (t *Tape) setErr(err error) {
	if err != nil && t.err == nil {
		t.err = err
	}
}

// result returns a zero tensor for an op's output. It requires a gradient
// when recording is on and any input requires one.
func (t *Tape) result(shape []int, inputs ...*Tensor) *Tensor {
	out := t.resultUninit(shape, inputs...)
	clear(out.data)
	return out
}

// resultUninit is result for ops that overwrite every output element: the
// value's contents are unspecified (recycled memory while recording).
func (t *Tape) resultUninit(shape []int, inputs ...*Tensor) *Tensor {
	if t.noGrad {
		return Zeros(shape...)
	}
	out := t.view(shape, t.mem.floats.get(numel(shape)))
	for _, in := range inputs {
		if in != nil && in.requiresGrad {
			out.requiresGrad = true
			break
		}
	}
	return out
}

// view returns a tensor header of the given shape over data (not copied),
// from the arena while recording, and with its gradient (if any) from the
// arena too. It never requires a gradient; the caller decides.
func (t *Tape) view(shape []int, data []float32) *Tensor {
	if t.noGrad {
		return New(data, shape...)
	}
	out := t.mem.tensor()
	out.mem = &t.mem
	out.data = data
	if len(shape) <= len(out.dims) {
		out.shape = out.dims[:len(shape)]
		copy(out.shape, shape)
	} else {
		out.shape = append([]int(nil), shape...)
	}
	return out
}

// record registers the backward function of an op whose output is out.
// It does nothing when out needs no gradient.
func (t *Tape) record(out *Tensor, backward func(gout []float32)) {
	if !out.requiresGrad {
		return
	}
	t.nodes = append(t.nodes, node{out: out, backward: backward})
}

// Backward computes the gradient of the scalar loss with respect to every
// tensor that requires one, accumulating into their gradients. The tape is
// left as it is; call Reset before recording the next step.
func (t *Tape) Backward(loss *Tensor) error {
	if t.err != nil {
		return t.err
	}
	if loss.Numel() != 1 {
		return fmt.Errorf("autograd: Backward needs a scalar loss, got shape %v", loss.shape)
	}
	if !loss.requiresGrad {
		return fmt.Errorf("autograd: loss does not require a gradient (no-grad mode, or no parameter reaches it)")
	}
	loss.gradBuf()[0] += 1
	for i := len(t.nodes) - 1; i >= 0; i-- {
		n := t.nodes[i]
		if n.out.grad == nil {
			continue
		}
		n.backward(n.out.grad)
		if t.err != nil {
			return t.err
		}
	}
	return nil
}

// gradOf returns the gradient buffer of in if it requires one, else nil.
// Backward functions accumulate into it.
func gradOf(in *Tensor) []float32 {
	if in == nil || !in.requiresGrad {
		return nil
	}
	return in.gradBuf()
}

// gradFor is gradOf for a backward function that writes every element of
// the gradient: when the buffer is new (the first consumer of an op output
// to run backward), fresh is true and its contents are unspecified, so the
// caller assigns instead of adding and the buffer never needs zeroing.
// Otherwise the caller adds, as with gradOf.
func gradFor(in *Tensor) (g []float32, fresh bool) {
	if in == nil || !in.requiresGrad {
		return nil, false
	}
	if in.grad == nil && in.mem != nil {
		in.grad = in.mem.floats.get(len(in.data))
		return in.grad, true
	}
	return in.gradBuf(), false
}

// matmul runs one GEMM through the backend and keeps the first error.
func (t *Tape) matmul(layer string, role backend.Role, g backend.GEMM) {
	if err := t.backend.MatMul(backend.Call{Layer: layer, Role: role}, g); err != nil {
		t.setErr(fmt.Errorf("%s %s: %w", layer, role, err))
	}
}
