package datasets_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/mirage-go/mirage/datasets"
)

// squares is a toy data set: example i is the single value i², labelled i%2.
type squares struct{}

func (squares) Len() int          { return 5 }
func (squares) Shape() []int      { return []int{1} }
func (squares) Classes() []string { return []string{"even", "odd"} }
func (squares) Example(i int, dst []float32, _ *rand.Rand) int {
	dst[0] = float32(i * i)
	return i % 2
}

func ExampleLoader() {
	loader := datasets.NewLoader(squares{}, 2, false, false, 1)
	epoch := loader.Epoch(0)
	defer epoch.Close() // stops the background goroutine if we stop early
	for {
		batch, ok := epoch.Next()
		if !ok {
			break
		}
		// batch.X is only valid until the next call to Next.
		fmt.Println(batch.Index, batch.N, batch.X, batch.Labels)
	}
	// Output:
	// 0 2 [0 1] [0 1]
	// 1 2 [4 9] [0 1]
	// 2 1 [16] [0]
}

// A batch converts to gorgonia.org/tensor Dense tensors for code outside
// mirage: (N, example shape...) inputs and (N) integer labels.
func ExampleBatch_Inputs() {
	loader := datasets.NewLoader(squares{}, 2, false, false, 1)
	epoch := loader.Epoch(0)
	defer epoch.Close()
	batch, _ := epoch.Next()
	x, y := batch.Inputs(), batch.Targets()
	fmt.Println(x.Shape(), x.Dtype(), x.Data())
	fmt.Println(y.Shape(), y.Dtype(), y.Data())
	// Output:
	// (2, 1) float32 [0 1]
	// (2) int [0 1]
}
