package limits_test

import (
	"fmt"
	"math"

	"github.com/mirage-go/mirage/internal/limits"
)

func ExampleFloat() {
	lr := limits.Float{Min: 0, OpenMin: true, Max: 1e6}
	fmt.Println(lr.Check("--lr", 0.1))
	fmt.Println(lr.Check("--lr", math.Inf(1)))
	_, err := lr.Parse("--lr", "NaN")
	fmt.Println(err)
	// Output:
	// <nil>
	// invalid --lr +Inf: must be a finite number in (0, 1e+06]
	// invalid --lr NaN: must be a finite number in (0, 1e+06]
}

func ExampleMemory_Check() {
	mem := limits.Memory{Bytes: 16 << 30, Source: "$MIRAGE_MEMORY_LIMIT"}
	// A loader batch of 100,000,000 MNIST images, three buffers deep.
	need := limits.Size(3, 100_000_000, 28*28, 4)
	fmt.Println(mem.Check("--batch-size 100000000", need, "lower --batch-size"))
	// Output:
	// --batch-size 100000000 needs about 940.8 GB of memory but 17.2 GB are available ($MIRAGE_MEMORY_LIMIT); lower --batch-size
}
