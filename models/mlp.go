package models

import (
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/datasets"
	"github.com/mirage-go/mirage/layers"
)

// MLP is a multi-layer perceptron: Linear layers named fc1, fc2, … with
// ReLU between them and none after the last. Inputs of any rank are
// flattened to (N, features) first.
type MLP struct {
	Layers []*layers.Linear
}

// NewMLP returns an MLP from in features through the hidden sizes to
// classes outputs, with PyTorch's default Linear initialisation.
func NewMLP(in int, hidden []int, classes int, rng *rand.Rand) (*MLP, error) {
	sizes := append(append([]int{in}, hidden...), classes)
	for _, s := range sizes {
		if s < 1 {
			return nil, fmt.Errorf("model mlp: layer sizes %v must all be positive", sizes)
		}
	}
	m := &MLP{}
	for i := 0; i+1 < len(sizes); i++ {
		m.Layers = append(m.Layers, layers.NewLinear("fc"+strconv.Itoa(i+1), sizes[i], sizes[i+1], true, rng))
	}
	return m, nil
}

// Forward implements layers.Module.
func (m *MLP) Forward(t *autograd.Tape, x *autograd.Tensor) *autograd.Tensor {
	x = layers.Flatten{}.Forward(t, x)
	for i, l := range m.Layers {
		x = l.Forward(t, x)
		if i+1 < len(m.Layers) {
			x = t.ReLU(x)
		}
	}
	return x
}

func (m *MLP) parts() []layers.Module {
	ms := make([]layers.Module, len(m.Layers))
	for i, l := range m.Layers {
		ms[i] = l
	}
	return ms
}

// Params implements layers.Module.
func (m *MLP) Params() []*autograd.Tensor { return layers.Collect(layers.Module.Params, m.parts()...) }

// Buffers implements layers.Module.
func (m *MLP) Buffers() []*autograd.Tensor { return nil }

// SetTraining implements layers.Module; an MLP behaves the same in both.
func (m *MLP) SetTraining(bool) {}

// MLPModel describes the MLP for a [Registry]: it reads images (any
// example shape, flattened) and trains on MNIST by default.
func MLPModel() Descriptor {
	return Descriptor{
		Name: "mlp", About: "multi-layer perceptron with ReLU (default hidden sizes 256, 128)",
		Build: buildMLP, Input: datasets.Images, DefaultDataset: "mnist",
		Recipe: DefaultRecipe(),
		Bench:  Spec{InputShape: []int{1, 28, 28}, NumClasses: 10, Seed: 1},
	}
}

func buildMLP(spec Spec, rng *rand.Rand) (layers.Module, error) {
	if len(spec.InputShape) == 0 {
		return nil, fmt.Errorf("model mlp: input shape is empty")
	}
	in := 1
	for _, d := range spec.InputShape {
		if d < 1 {
			return nil, fmt.Errorf("model mlp: bad input shape %v", spec.InputShape)
		}
		in *= d
	}
	hidden := spec.MLPHidden
	if hidden == nil {
		hidden = []int{256, 128}
	}
	return NewMLP(in, hidden, spec.NumClasses, rng)
}
