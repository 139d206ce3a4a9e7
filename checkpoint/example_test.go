package checkpoint_test

import (
	"fmt"
	"os"
	"path/filepath"

	"gorgonia.org/tensor"

	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/checkpoint"
)

func Example() {
	dir, _ := os.MkdirTemp("", "checkpoint-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.safetensors")

	w := autograd.New([]float32{1, 2, 3, 4}, 2, 2)
	w.Name = "fc.weight"
	if err := checkpoint.Save(path, []*autograd.Tensor{w}, map[string]string{"format": "pt"}); err != nil {
		fmt.Println(err)
		return
	}

	// Load into a fresh model's parameters, matched by name and shape.
	fresh := autograd.Param("fc.weight", 2, 2)
	if err := checkpoint.LoadInto(path, []*autograd.Tensor{fresh}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(fresh.Data())

	// A model with other parameters is refused, with the reasons.
	other := autograd.Param("fc.bias", 2)
	err := checkpoint.LoadInto(path, []*autograd.Tensor{other})
	fmt.Println(err != nil)
	// Output:
	// [1 2 3 4]
	// true
}

// Programs that keep their weights as gorgonia.org/tensor Dense tensors
// save and load them by name.
func ExampleSaveDense() {
	dir, _ := os.MkdirTemp("", "checkpoint-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "weights.safetensors")

	weights := map[string]*tensor.Dense{
		"fc.weight": tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float32{1, 2, 3, 4})),
		"fc.bias":   tensor.New(tensor.WithShape(2), tensor.WithBacking([]float32{0, 1})),
	}
	if err := checkpoint.SaveDense(path, weights, nil); err != nil {
		fmt.Println(err)
		return
	}
	loaded, _, err := checkpoint.LoadDense(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	w := loaded["fc.weight"]
	fmt.Println(w.Shape(), w.Data())
	// Output: (2, 2) [1 2 3 4]
}
