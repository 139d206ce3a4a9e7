package optim_test

import (
	"fmt"

	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/optim"
)

// An optimizer rebuilt from a saved State continues where the first one
// stopped: the momentum buffer comes across, so the third step is the one
// ExampleSGD takes (w = 0.486), not a first step from scratch.
func ExampleStateful() {
	w := autograd.Param("w", 1)
	w.Data()[0] = 1
	cfg := optim.SGDConfig{LR: 0.1, Momentum: 0.9}
	opt, _ := optim.NewSGD([]*autograd.Tensor{w}, cfg)
	for range 2 {
		w.SetGrad([]float32{w.Data()[0]})
		opt.Step()
	}
	saved := opt.State() // what a checkpoint stores, with w itself

	resumed, _ := optim.NewSGD([]*autograd.Tensor{w}, cfg)
	if err := resumed.SetState(saved); err != nil {
		fmt.Println(err)
		return
	}
	w.SetGrad([]float32{w.Data()[0]})
	resumed.Step()
	fmt.Printf("w = %.3f, momentum = %.2f\n", w.Data()[0], resumed.State().Buffers["w"]["momentum_buffer"][0])
	// Output: w = 0.486, momentum = 2.34
}
