package models

import (
	"fmt"

	"gorgonia.org/tensor"

	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/layers"
)

// maxTokenID bounds the token ids Predict accepts: the tape stores ids as
// float32, exact below 2^24.
const maxTokenID = 1 << 24

// Predict runs m in evaluation mode on the batch x, with its matrix
// products on b, and returns m's output as a new Dense that the caller
// owns: for every model of this package, (N, classes) float32 logits.
//
// x is a float32 Dense of shape (N, C, H, W) for the image models, or an
// integer Dense (int, int32 or int64) of token ids of shape (N, L) for BERT,
// as [github.com/mirage-go/mirage/datasets.Batch.Inputs] produces them. Predict switches m to
// evaluation mode (m.SetTraining(false)), like PyTorch's model.eval():
// call SetTraining(true) before training m again.
//
// Input the model cannot take — another dtype, a shape the model was not
// built for, a token id outside its vocabulary — is an error, not a panic.
func Predict(m layers.Module, b backend.Backend, x *tensor.Dense) (out *tensor.Dense, err error) {
	in, err := modelInput(x)
	if err != nil {
		return nil, err
	}
	m.SetTraining(false)
	tape := autograd.NewTape(b)
	tape.SetNoGrad(true)
	// The layers treat a shape they were not built for as a programming
	// error and panic; at this boundary the tensor comes from the caller.
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("predict: input of shape %v: %v", x.Shape(), r)
		}
	}()
	y := m.Forward(tape, in)
	if err := tape.Err(); err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	// The output lives in the tape's arena: copy it out.
	return tensor.New(tensor.WithShape(y.Shape()...), tensor.WithBacking(append([]float32(nil), y.Data()...))), nil
}

// modelInput converts x to the tape's representation: float32 values, or
// token ids stored as float32.
func modelInput(x *tensor.Dense) (*autograd.Tensor, error) {
	if x == nil {
		return nil, fmt.Errorf("predict: no input tensor")
	}
	if x.Dims() == 0 {
		return nil, fmt.Errorf("predict: the input is a scalar; give a batch of shape (N, example shape...)")
	}
	switch x.Dtype() {
	case tensor.Float32:
		return autograd.FromDense(x)
	case tensor.Int:
		return tokenIDs(x, x.Ints())
	case tensor.Int32:
		return tokenIDs(x, x.Int32s())
	case tensor.Int64:
		return tokenIDs(x, x.Int64s())
	}
	return nil, fmt.Errorf("predict: input of dtype %v; give float32 values (images) or integer token ids", x.Dtype())
}

// tokenIDs converts integer token ids to the float32 ids the tape takes.
func tokenIDs[T int | int32 | int64](x *tensor.Dense, ids []T) (*autograd.Tensor, error) {
	if !x.IsNativelyAccessible() || x.RequiresIterator() {
		x = x.Materialize().(*tensor.Dense)
		ids = x.Data().([]T)
	}
	data := make([]float32, len(ids))
	for i, id := range ids {
		if id < 0 || int64(id) >= maxTokenID {
			return nil, fmt.Errorf("predict: token id %d at position %d is outside [0, 2^24)", id, i)
		}
		data[i] = float32(id)
	}
	return autograd.New(data, x.Shape()...), nil
}
