package autograd_test

import (
	"fmt"

	"gorgonia.org/tensor"

	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/backend/fp32"
)

// A gorgonia.org/tensor Dense enters the tape without a copy, and the
// gradient comes back as a Dense.
func ExampleFromDense() {
	d := tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float32{1, 2, 3, 4}))
	w, err := autograd.FromDense(d)
	if err != nil {
		fmt.Println(err)
		return
	}
	w.SetRequiresGrad(true)
	tape := autograd.NewTape(fp32.New())
	loss := tape.Sum(tape.Mul(w, w)) // Σ w², whose gradient is 2w
	if err := tape.Backward(loss); err != nil {
		fmt.Println(err)
		return
	}
	g := w.GradDense()
	fmt.Println(loss.Item(), g.Shape(), g.Data())
	// Output: 30 (2, 2) [2 4 6 8]
}
