package optim_test

import (
	"fmt"

	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/optim"
)

// Minimise f(w) = w²/2, whose gradient is w, with SGD and momentum:
// b=1, w=0.9; b=0.9·1+0.9=1.8, w=0.72; b=0.9·1.8+0.72=2.34, w=0.486.
func ExampleSGD() {
	w := autograd.Param("w", 1)
	w.Data()[0] = 1
	opt, err := optim.NewSGD([]*autograd.Tensor{w}, optim.SGDConfig{LR: 0.1, Momentum: 0.9})
	if err != nil {
		fmt.Println(err)
		return
	}
	w.SetGrad([]float32{0})
	for range 3 {
		opt.ZeroGrad()
		w.Grad()[0] = w.Data()[0] // the gradient of w²/2
		opt.Step()
		fmt.Printf("%.4f\n", w.Data()[0])
	}
	// Output:
	// 0.9000
	// 0.7200
	// 0.4860
}

func ExampleWarmup() {
	sched := optim.Warmup(optim.Cosine(0.1, 0, 100), 5)
	for _, t := range []int{0, 4, 5, 55, 105} {
		fmt.Printf("step %3d: lr %.4f\n", t, sched.LR(t))
	}
	// Output:
	// step   0: lr 0.0200
	// step   4: lr 0.0840
	// step   5: lr 0.1000
	// step  55: lr 0.0500
	// step 105: lr 0.0000
}
