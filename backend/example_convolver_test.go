package backend_test

import (
	"fmt"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/fp32"
)

// matmulOnly hides every optional capability of a backend.
type matmulOnly struct{ backend.Backend }

// A convolution reaches a Convolver (fp32) as one call per product, and
// any other backend as im2col GEMMs, which backend.Im2col computes through
// its MatMul. The Recorder shows both.
func ExampleConvolver() {
	g := backend.ConvGeometry{N: 2, C: 3, H: 8, W: 8, O: 4, KH: 3, KW: 3, Stride: 2, Pad: 1}
	x := make([]float32, g.N*g.C*g.H*g.W)
	w := make([]float32, g.O*g.Field())
	y := make([]float32, g.N*g.O*g.OutH()*g.OutW())
	for _, inner := range []backend.Backend{fp32.New(), matmulOnly{fp32.New()}} {
		rec := &backend.Recorder{Inner: inner}
		if err := rec.ConvForward("conv1", g, x, w, nil, y); err != nil {
			fmt.Println(err)
		}
		fmt.Println(rec.Calls())
	}
	// Output:
	// [conv1/forward conv 32x4x27]
	// [conv1/forward gemm 32x4x27]
}
