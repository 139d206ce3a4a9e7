package layers

import (
	"fmt"

	"github.com/mirage-go/mirage/autograd"
)

// BatchNorm is PyTorch's nn.BatchNorm1d (input (N, C)) or nn.BatchNorm2d
// (input (N, C, H, W)), with affine parameters and running statistics.
//
// In training mode it normalises with the batch statistics and updates the
// running mean and (unbiased) variance with the given momentum:
// running = (1−momentum)·running + momentum·batch. In evaluation mode it
// normalises with the running statistics. Like PyTorch it starts in
// training mode. PyTorch's integer num_batches_tracked counter is not kept:
// it only matters when momentum is None (cumulative averaging).
type BatchNorm struct {
	Name        string
	Weight      *autograd.Tensor // γ (C), ones, named Name+".weight"
	Bias        *autograd.Tensor // β (C), zeros, named Name+".bias"
	RunningMean *autograd.Tensor // (C), zeros, named Name+".running_mean"
	RunningVar  *autograd.Tensor // (C), ones, named Name+".running_var"
	Momentum    float32
	Eps         float32

	rank     int // 2 for BatchNorm1d, 4 for BatchNorm2d
	training bool
}

// NewBatchNorm1d returns batch normalisation over (N, C) inputs with
// PyTorch's defaults (momentum 0.1, eps 1e-5).
func NewBatchNorm1d(name string, features int) *BatchNorm {
	return newBatchNorm(name, features, 2)
}

// NewBatchNorm2d returns batch normalisation over (N, C, H, W) inputs with
// PyTorch's defaults (momentum 0.1, eps 1e-5).
func NewBatchNorm2d(name string, channels int) *BatchNorm {
	return newBatchNorm(name, channels, 4)
}

func newBatchNorm(name string, c, rank int) *BatchNorm {
	bn := &BatchNorm{
		Name:        name,
		Weight:      autograd.Param(name+".weight", c),
		Bias:        autograd.Param(name+".bias", c),
		RunningMean: buffer(name+".running_mean", c),
		RunningVar:  buffer(name+".running_var", c),
		Momentum:    0.1,
		Eps:         1e-5,
		rank:        rank,
		training:    true,
	}
	InitConstant(bn.Weight, 1)
	InitConstant(bn.RunningVar, 1)
	return bn
}

// Forward implements Module.
func (bn *BatchNorm) Forward(t *autograd.Tape, x *autograd.Tensor) *autograd.Tensor {
	bn.check(x)
	return t.BatchNorm(x, bn.Weight, bn.Bias, bn.RunningMean, bn.RunningVar, bn.training, bn.Momentum, bn.Eps)
}

// check panics with the layer's name when x does not fit it.
func (bn *BatchNorm) check(x *autograd.Tensor) {
	if len(x.Shape()) != bn.rank || x.Dim(1) != bn.Weight.Numel() {
		want := "(N, %d)"
		if bn.rank == 4 {
			want = "(N, %d, H, W)"
		}
		panic(fmt.Sprintf("layers.BatchNorm %s: input %v, want "+want, bn.Name, x.Shape(), bn.Weight.Numel()))
	}
}

// ForwardReLU returns ReLU(bn.Forward(t, x)), computed as one fused op
// (autograd's BatchNormReLU): the same values and gradients, less memory
// traffic. Networks that follow a batch norm with a ReLU use it.
func (bn *BatchNorm) ForwardReLU(t *autograd.Tape, x *autograd.Tensor) *autograd.Tensor {
	bn.check(x)
	return t.BatchNormReLU(x, bn.Weight, bn.Bias, bn.RunningMean, bn.RunningVar, bn.training, bn.Momentum, bn.Eps)
}

// ForwardAddReLU returns ReLU(bn.Forward(t, x) + skip), computed as one
// fused op (autograd's BatchNormAddReLU): the end of a residual block.
func (bn *BatchNorm) ForwardAddReLU(t *autograd.Tape, x, skip *autograd.Tensor) *autograd.Tensor {
	bn.check(x)
	return t.BatchNormAddReLU(x, skip, bn.Weight, bn.Bias, bn.RunningMean, bn.RunningVar, bn.training, bn.Momentum, bn.Eps)
}

// Params implements Module.
func (bn *BatchNorm) Params() []*autograd.Tensor { return []*autograd.Tensor{bn.Weight, bn.Bias} }

// Buffers implements Module.
func (bn *BatchNorm) Buffers() []*autograd.Tensor {
	return []*autograd.Tensor{bn.RunningMean, bn.RunningVar}
}

// SetTraining implements Module.
func (bn *BatchNorm) SetTraining(training bool) { bn.training = training }

// Training reports whether the layer is in training mode.
func (bn *BatchNorm) Training() bool { return bn.training }

// LayerNorm is PyTorch's nn.LayerNorm over the last dimension, with affine
// parameters. It behaves the same in training and evaluation.
type LayerNorm struct {
	Name   string
	Weight *autograd.Tensor // γ (D), ones, named Name+".weight"
	Bias   *autograd.Tensor // β (D), zeros, named Name+".bias"
	Eps    float32
}

// NewLayerNorm returns layer normalisation over a last dimension of size
// dim. PyTorch's default eps is 1e-5; BERT uses 1e-12.
func NewLayerNorm(name string, dim int, eps float32) *LayerNorm {
	ln := &LayerNorm{
		Name:   name,
		Weight: autograd.Param(name+".weight", dim),
		Bias:   autograd.Param(name+".bias", dim),
		Eps:    eps,
	}
	InitConstant(ln.Weight, 1)
	return ln
}

// Forward implements Module.
func (ln *LayerNorm) Forward(t *autograd.Tape, x *autograd.Tensor) *autograd.Tensor {
	if x.Dim(-1) != ln.Weight.Numel() {
		panic(fmt.Sprintf("layers.LayerNorm %s: input %v, want last dimension %d", ln.Name, x.Shape(), ln.Weight.Numel()))
	}
	return t.LayerNorm(x, ln.Weight, ln.Bias, ln.Eps)
}

// Params implements Module.
func (ln *LayerNorm) Params() []*autograd.Tensor { return []*autograd.Tensor{ln.Weight, ln.Bias} }

// Buffers implements Module.
func (ln *LayerNorm) Buffers() []*autograd.Tensor { return nil }

// SetTraining implements Module; LayerNorm behaves the same in both modes.
func (ln *LayerNorm) SetTraining(bool) {}
