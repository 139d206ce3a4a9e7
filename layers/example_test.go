package layers_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/backend/fp32"
	"github.com/mirage-go/mirage/layers"
)

func Example() {
	rng := rand.New(rand.NewPCG(1, 0))
	net := layers.NewSequential(
		layers.NewConv2d("conv1", 1, 8, 3, 1, 1, false, rng),
		layers.NewBatchNorm2d("bn1", 8),
		layers.ReLU{},
		layers.GlobalAvgPool{},
		layers.NewLinear("fc", 8, 10, true, rng),
	)
	tape := autograd.NewTape(fp32.New())
	x := autograd.Zeros(4, 1, 28, 28) // a batch of four 28×28 images
	logits := net.Forward(tape, x)
	fmt.Println(logits.Shape(), layers.CountParams(net))
	for _, p := range layers.StateDict(net) {
		fmt.Println(p.Name, p.Shape())
	}
	// Output:
	// [4 10] 178
	// conv1.weight [8 1 3 3]
	// bn1.weight [8]
	// bn1.bias [8]
	// fc.weight [10 8]
	// fc.bias [10]
	// bn1.running_mean [8]
	// bn1.running_var [8]
}
