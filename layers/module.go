// Package layers provides neural-network building blocks on top of autograd,
// with PyTorch's semantics, parameter names and default initialisations.
//
// A layer is created with a name ("conv1", "layer1.0.conv2", ...). Its
// parameters are named name+".weight" and so on, exactly as in a PyTorch
// state_dict, and the name tags every GEMM the layer sends to the backend,
// so a backend can be configured, and report statistics, per layer.
//
// Every layer is a [Module]. Layers with parameters (Linear, Conv2d,
// BatchNorm, LayerNorm, Embedding, MultiHeadAttention) are structs with
// exported parameter fields; stateless ones (ReLU, GELU, Tanh, Flatten,
// pooling) are small values. Composites are plain Go: [Sequential] chains
// modules, [BasicBlock] is ResNet's residual block, and a model is any
// struct that implements Module by delegating to its parts (see package
// models). [StateDict] lists what a checkpoint holds.
//
//	rng := rand.New(rand.NewPCG(seed, 0))
//	net := layers.NewSequential(
//		layers.NewConv2d("conv1", 1, 8, 3, 1, 1, false, rng),
//		layers.NewBatchNorm2d("bn1", 8),
//		layers.ReLU{},
//		layers.GlobalAvgPool{},
//		layers.NewLinear("fc", 8, 10, true, rng),
//	)
//	net.SetTraining(false) // batch norm uses running statistics, dropout is off
//
// Default initialisations match PyTorch (see init.go): Linear and Conv2d
// weights and biases from U(±1/√fan_in), Embedding from N(0, 1), norms with
// γ = 1 and β = 0. Layers start in training mode, as in PyTorch.
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
