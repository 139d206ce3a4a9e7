package fp32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
)

// matmulOnly hides the Convolver capability.
type matmulOnly struct{ backend.Backend }

// fp32's Convolver gives what the im2col path gives on fp32's MatMul, up
// to FP32 summation order (1e-5 of the largest magnitude), for geometries
// the implicit kernels handle (square kernels, strides 1 and 2, small
// images sharing a canvas) and those they do not (a non-square kernel,
// padding as large as the kernel), with the input gradient both written
// over garbage (NaN) and added to what is there.
func TestConvolverMatchesIm2col(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	fill := func(n int, v func() float32) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = v()
		}
		return s
	}
	normal := func() float32 { return float32(rng.NormFloat64()) }
	for _, g := range []backend.ConvGeometry{
		{N: 3, C: 4, H: 8, W: 8, O: 5, KH: 3, KW: 3, Stride: 1, Pad: 1},
		{N: 2, C: 3, H: 9, W: 7, O: 4, KH: 3, KW: 3, Stride: 2, Pad: 1},
		{N: 9, C: 2, H: 4, W: 4, O: 3, KH: 3, KW: 3, Stride: 1, Pad: 1}, // canvases
		{N: 2, C: 3, H: 6, W: 5, O: 2, KH: 3, KW: 2, Stride: 1, Pad: 0}, // not square
		{N: 2, C: 2, H: 5, W: 5, O: 3, KH: 1, KW: 1, Stride: 2, Pad: 1}, // padding = kernel
		{N: 2, C: 1, H: 12, W: 12, O: 6, KH: 5, KW: 5, Stride: 1, Pad: 0},
		{N: 5, C: 16, H: 32, W: 32, O: 8, KH: 3, KW: 3, Stride: 1, Pad: 1}, // several blocks of images, the last short
	} {
		for _, assign := range []bool{true, false} {
			t.Run(fmt.Sprintf("%+v/assign=%v", g, assign), func(t *testing.T) {
				in, out := g.N*g.C*g.H*g.W, g.N*g.O*g.OutH()*g.OutW()
				x, w, bias, dy := fill(in, normal), fill(g.O*g.Field(), normal), fill(g.O, normal), fill(out, normal)
				start := fill(in, normal)
				if assign {
					start = fill(in, func() float32 { return float32(math.NaN()) })
				}
				run := func(forward func(y []float32) error, backward func(grads backend.ConvGrads) error) (y, dx, dw []float32) {
					y = fill(out, func() float32 { return float32(math.NaN()) })
					require.NoError(t, forward(y))
					dx, dw = append([]float32(nil), start...), fill(g.O*g.Field(), func() float32 { return 1 })
					require.NoError(t, backward(backend.ConvGrads{DX: dx, AssignDX: assign, DW: dw}))
					return y, dx, dw
				}
				b := New()
				gotY, gotDX, gotDW := run(
					func(y []float32) error { return b.ConvForward("conv", g, x, w, bias, y) },
					func(gr backend.ConvGrads) error { return b.ConvBackward("conv", g, x, w, dy, gr) })
				var ref backend.Im2col
				inner := matmulOnly{New()}
				wantY, wantDX, wantDW := run(
					func(y []float32) error { return ref.Forward(inner, "conv", g, x, w, bias, y) },
					func(gr backend.ConvGrads) error { return ref.Backward(inner, "conv", g, x, w, dy, gr) })
				for name, pair := range map[string][2][]float32{"y": {wantY, gotY}, "dx": {wantDX, gotDX}, "dw": {wantDW, gotDW}} {
					var scale float64
					for _, v := range pair[0] {
						scale = max(scale, math.Abs(float64(v)))
					}
					for i := range pair[0] {
						require.InDelta(t, pair[0][i], pair[1][i], 1e-5*scale, "%s[%d]", name, i)
					}
				}
			})
		}
	}
}

// Operands too short for the geometry are errors naming the layer, the
// role (or "backward") and the operand, not panics.
func TestConvolverChecksOperands(t *testing.T) {
	g := backend.ConvGeometry{N: 1, C: 1, H: 4, W: 4, O: 1, KH: 3, KW: 3, Stride: 1, Pad: 1}
	b := New()
	err := b.ConvForward("c1", g, make([]float32, 15), make([]float32, 9), nil, make([]float32, 16))
	require.EqualError(t, err, "c1 forward: conv: x has 15 elements, needs 16")
	err = b.ConvBackward("c1", g, make([]float32, 16), make([]float32, 9), make([]float32, 16), backend.ConvGrads{DW: make([]float32, 8)})
	require.EqualError(t, err, "c1 backward: conv: dw has 8 elements, needs 9")
	bad := g
	bad.KH = 7
	require.ErrorContains(t, b.ConvForward("c1", bad, nil, nil, nil, nil), "c1 forward: conv: kernel 7x3 is larger than the padded input")
}
