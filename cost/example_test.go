package cost_test

import (
	"fmt"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/cost"
)

// Price one forward GEMM of a 3×3 convolution with 64 channels on a
// 32×32 image batch of 128 (an im2col GEMM of M = 128·32·32, N = 64,
// K = 576) on Mirage and on a bf16 systolic array. By hand: Mirage has
// 9 tiles of 64 along K and one weight chunk (N = 64 rows), so 9 weight
// tiles of 10 + 131072 cycles at 10 GHz; the array has 1024 folds of
// 576 + 254 cycles at 1.05 GHz (N = 64 fills half its columns).
func ExampleCompare() {
	accP, _ := cost.Preset("mirage-isca24")
	baseP, _ := cost.Preset("systolic-bf16-128x128")
	acc, _ := cost.New(accP)
	base, _ := cost.New(baseP)
	w := cost.Workload{Records: []cost.Record{
		{Layer: "conv", Role: backend.Forward, M: 128 * 32 * 32, N: 64, K: 576, Count: 1},
	}}
	c, err := cost.Compare(acc, base, w, cost.IsoNone)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("Mirage %.0f µs, systolic %.0f µs: %.1fx faster\n",
		1e6*c.Accelerator.GEMM.Seconds, 1e6*c.Baseline.GEMM.Seconds, c.GEMM.Speedup)
	fmt.Printf("optical passes per modulus: %.0f\n", c.Accelerator.GEMM.Counts["optical_passes"]/3)
	// Output:
	// Mirage 118 µs, systolic 809 µs: 6.9x faster
	// optical passes per modulus: 1179648
}
