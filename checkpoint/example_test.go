package checkpoint_test

import (
	"fmt"
	"os"
	"path/filepath"

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
