package models_test

import (
	"fmt"

	"gorgonia.org/tensor"

	"github.com/mirage-go/mirage/backend/fp32"
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
