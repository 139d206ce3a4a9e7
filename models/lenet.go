package models

import (
	"fmt"
	"math/rand/v2"

	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/datasets"
	"github.com/mirage-go/mirage/layers"
)

// LeNet5 is the modern LeNet-5 (ReLU and max-pooling instead of LeCun's
// scaled tanh and trainable subsampling):
//
//	conv1 6@5×5 pad 2 → ReLU → maxpool 2 → conv2 16@5×5 → ReLU → maxpool 2
//	→ flatten → fc1 120 → ReLU → fc2 84 → ReLU → fc3 classes
//
// On 1×28×28 input the flattened features are 16·5·5 = 400 and the model
// has 61,706 parameters for 10 classes. Other image sizes work; fc1's
// input follows from them.
type LeNet5 struct {
	Conv1, Conv2  *layers.Conv2d
	FC1, FC2, FC3 *layers.Linear
}

// NewLeNet5 returns LeNet-5 for (channels, height, width) images, with
// PyTorch's default initialisation. Images too small for the two
// convolution and pooling stages are an error.
func NewLeNet5(channels, height, width, classes int, rng *rand.Rand) (*LeNet5, error) {
	// conv1 keeps the size (pad 2), pool halves it, conv2 (no pad) loses 4,
	// pool halves it again.
	side := func(n int) int { return (n/2 - 4) / 2 }
	oh, ow := side(height), side(width)
	if oh < 1 || ow < 1 {
		return nil, fmt.Errorf("model lenet: images of %dx%d are too small (need at least 12x12)", height, width)
	}
	return &LeNet5{
		Conv1: layers.NewConv2d("conv1", channels, 6, 5, 1, 2, true, rng),
		Conv2: layers.NewConv2d("conv2", 6, 16, 5, 1, 0, true, rng),
		FC1:   layers.NewLinear("fc1", 16*oh*ow, 120, true, rng),
		FC2:   layers.NewLinear("fc2", 120, 84, true, rng),
		FC3:   layers.NewLinear("fc3", 84, classes, true, rng),
	}, nil
}

// Forward implements layers.Module.
func (m *LeNet5) Forward(t *autograd.Tape, x *autograd.Tensor) *autograd.Tensor {
	x = t.MaxPool2d(t.ReLU(m.Conv1.Forward(t, x)), 2, 2, 0)
	x = t.MaxPool2d(t.ReLU(m.Conv2.Forward(t, x)), 2, 2, 0)
	x = layers.Flatten{}.Forward(t, x)
	x = t.ReLU(m.FC1.Forward(t, x))
	x = t.ReLU(m.FC2.Forward(t, x))
	return m.FC3.Forward(t, x)
}

func (m *LeNet5) parts() []layers.Module {
	return []layers.Module{m.Conv1, m.Conv2, m.FC1, m.FC2, m.FC3}
}

// Params implements layers.Module.
func (m *LeNet5) Params() []*autograd.Tensor {
	return layers.Collect(layers.Module.Params, m.parts()...)
}

// Buffers implements layers.Module.
func (m *LeNet5) Buffers() []*autograd.Tensor { return nil }

// SetTraining implements layers.Module; LeNet-5 behaves the same in both.
func (m *LeNet5) SetTraining(bool) {}

// LeNetModel describes LeNet-5 for a [Registry]: it reads (C, H, W)
// images and trains on MNIST by default.
func LeNetModel() Descriptor {
	return Descriptor{
		Name: "lenet", About: "LeNet-5 with ReLU and max-pooling (61,706 parameters on 1x28x28, 10 classes)",
		Build: buildLeNet, Input: datasets.Images, DefaultDataset: "mnist",
		Recipe: DefaultRecipe(),
		Bench:  Spec{InputShape: []int{1, 28, 28}, NumClasses: 10, Seed: 1},
	}
}

func buildLeNet(spec Spec, rng *rand.Rand) (layers.Module, error) {
	c, h, w, err := imageShape("lenet", spec)
	if err != nil {
		return nil, err
	}
	return NewLeNet5(c, h, w, spec.NumClasses, rng)
}
