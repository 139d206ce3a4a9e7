// Package layers provides neural-network building blocks on top of autograd,
// with PyTorch's semantics, parameter names and default initialisations.
//
// A layer is created with a name ("conv1", "layer1.0.conv2", ...). Its
// parameters are named name+".weight" and so on, exactly as in a PyTorch
// state_dict, and the name tags every GEMM the layer sends to the backend.
package layers

import "github.com/mirage-go/mirage/autograd"

// Module is a layer or a model.
type Module interface {
	// Forward applies the module. Its matrix products run on t's backend.
	Forward(t *autograd.Tape, x *autograd.Tensor) *autograd.Tensor
	// Params returns the trainable parameters, named as in a PyTorch
	// state_dict, in a stable order.
	Params() []*autograd.Tensor
	// Buffers returns non-trainable state that belongs in a checkpoint
	// (e.g. batch-norm running statistics), named likewise.
	Buffers() []*autograd.Tensor
	// SetTraining switches between training mode (dropout active, batch
	// norm uses batch statistics) and evaluation mode.
	SetTraining(training bool)
}
