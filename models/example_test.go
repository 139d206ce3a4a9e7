package models_test

import (
	"fmt"
	"math/rand/v2"

	"gorgonia.org/tensor"

	"github.com/mirage-go/mirage/backend/fp32"
	"github.com/mirage-go/mirage/datasets"
	"github.com/mirage-go/mirage/layers"
	"github.com/mirage-go/mirage/models"
)

// A program that uses mirage as a library hands a model a
// gorgonia.org/tensor Dense and gets the logits back as one.
func ExamplePredict() {
	m, err := models.MLPModel().New(models.Spec{InputShape: []int{4}, NumClasses: 3, MLPHidden: []int{8}, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	x := tensor.New(tensor.WithShape(2, 4), tensor.WithBacking([]float32{
		1, 0, 0, 1,
		0, 1, 1, 0,
	}))
	logits, err := models.Predict(m, fp32.New(), x)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(logits.Shape(), logits.Dtype())
	// Output: (2, 3) float32
}

// A program adds a model of its own by describing it and registering the
// descriptor, usually into the registry of mirage.Default(); train then
// builds it by name, with its recipe and default data set.
func ExampleRegistry_Register() {
	reg := models.NewRegistry()
	err := reg.Register(models.Descriptor{
		Name:           "linear",
		About:          "logistic regression on the flattened example",
		Input:          datasets.Images,
		DefaultDataset: "mnist",
		Build: func(spec models.Spec, rng *rand.Rand) (layers.Module, error) {
			in := 1
			for _, d := range spec.InputShape {
				in *= d
			}
			return models.NewMLP(in, nil, spec.NumClasses, rng)
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := reg.New("linear", models.Spec{InputShape: []int{1, 28, 28}, NumClasses: 10, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	d, _ := reg.Lookup("linear")
	fmt.Println(reg.Names(), layers.CountParams(m), "parameters;", d.Recipe.Epochs, "epochs of", d.Recipe.Optimizer)
	// Output: [linear] 7850 parameters; 3 epochs of sgd
}
