package rns_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/analog"
	"github.com/mirage-go/mirage/backend/bfp"
	"github.com/mirage-go/mirage/backend/bfpengine"
	"github.com/mirage-go/mirage/backend/rns"
)

// This file checks the Convolver of the BFP-based backends (bfp, rns and
// analog, which quantise the im2col operand while filling it) against the im2col
// path through MatMul that it replaces: the same outputs, input and weight
// gradients bit for bit, the same statistics (per layer and role, per
// shape), and the same backend state (random generators included).

// matMulOnly hides every optional capability of a backend: Im2col then
// builds cols and sends every product to MatMul.
type matMulOnly struct{ backend.Backend }

// convCase is a convolution and the kind of data it runs on.
type convCase struct {
	name string
	g    backend.ConvGeometry
	data string // "normal", "relu" (about half zeros), "zeros" (zero channels and images), "nonfinite", "nonfinite weights"
}

var convCases = []convCase{
	{"1x1 stride 1", backend.ConvGeometry{N: 3, C: 5, H: 4, W: 4, O: 3, KH: 1, KW: 1, Stride: 1, Pad: 0}, "normal"},
	{"1x1 stride 2 projection", backend.ConvGeometry{N: 2, C: 16, H: 8, W: 8, O: 32, KH: 1, KW: 1, Stride: 2, Pad: 0}, "relu"},
	{"3x3 pad 1", backend.ConvGeometry{N: 2, C: 3, H: 7, W: 6, O: 4, KH: 3, KW: 3, Stride: 1, Pad: 1}, "normal"},
	{"3x3 stride 2 pad 1", backend.ConvGeometry{N: 3, C: 7, H: 9, W: 10, O: 5, KH: 3, KW: 3, Stride: 2, Pad: 1}, "relu"},
	{"3x3 pad 2", backend.ConvGeometry{N: 2, C: 2, H: 5, W: 5, O: 3, KH: 3, KW: 3, Stride: 1, Pad: 2}, "zeros"},
	{"5x5 pad 0 LeNet", backend.ConvGeometry{N: 4, C: 1, H: 28, W: 28, O: 6, KH: 5, KW: 5, Stride: 1, Pad: 0}, "zeros"},
	{"5x5 pad 2 stride 2", backend.ConvGeometry{N: 2, C: 3, H: 11, W: 9, O: 4, KH: 5, KW: 5, Stride: 2, Pad: 2}, "normal"},
	{"tiny image", backend.ConvGeometry{N: 2, C: 3, H: 1, W: 2, O: 2, KH: 3, KW: 3, Stride: 1, Pad: 1}, "normal"},
	// O·Field above the engine's chunk and few positions: the forward
	// product is split along K, which builds cols (see MatMulCols).
	{"wide layer", backend.ConvGeometry{N: 2, C: 32, H: 4, W: 4, O: 1024, KH: 3, KW: 3, Stride: 1, Pad: 1}, "relu"},
	{"non-finite", backend.ConvGeometry{N: 2, C: 4, H: 6, W: 6, O: 3, KH: 3, KW: 3, Stride: 1, Pad: 1}, "nonfinite"},
	{"non-finite weights", backend.ConvGeometry{N: 2, C: 4, H: 6, W: 6, O: 3, KH: 3, KW: 3, Stride: 1, Pad: 1}, "nonfinite weights"},
	// Large enough for several image blocks, row chunks of the engine
	// that start inside an image, a K-split weight gradient and parallel
	// quantisation.
	{"ResNet stage 1", backend.ConvGeometry{N: 6, C: 16, H: 32, W: 32, O: 16, KH: 3, KW: 3, Stride: 1, Pad: 1}, "relu"},
	{"ResNet stage 3", backend.ConvGeometry{N: 20, C: 64, H: 8, W: 8, O: 64, KH: 3, KW: 3, Stride: 1, Pad: 1}, "relu"},
}

// convData returns n values of the given kind; images of imageLen values
// and planes of planeLen values are zeroed for "zeros".
func convData(rng *rand.Rand, kind string, n, imageLen, planeLen int) []float32 {
	x := make([]float32, n)
	for i := range x {
		v := rng.NormFloat64() * math.Ldexp(1, rng.IntN(6)-3)
		if kind == "relu" {
			v = max(v, 0)
		}
		x[i] = float32(v)
	}
	switch kind {
	case "zeros":
		clear(x[:imageLen]) // a whole image
		for p := planeLen; p+planeLen <= n; p += 3 * planeLen {
			clear(x[p : p+planeLen]) // every third channel
		}
	case "nonfinite":
		x[rng.IntN(n)] = float32(math.Inf(1))
		x[rng.IntN(n)] = float32(math.NaN())
	}
	return x
}

// sameBits requires bit-identical slices, NaNs and the sign of zeros
// included.
func sameBits(t *testing.T, want, got []float32, msg string) {
	t.Helper()
	require.Len(t, got, len(want), msg)
	for i := range want {
		if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
			require.Failf(t, "differ", "%s: element %d: want %v, got %v", msg, i, want[i], got[i])
		}
	}
}

type stateful interface {
	backend.Convolver
	backend.StatsReporter
	GEMMShapes() []backend.LiveShapeCount
	MarshalState() ([]byte, error)
}

// runConv runs two training steps of one convolution layer (forward, then
// dX added into and written over a buffer, and dW accumulated) on b,
// through b's Convolver if fused, else through Im2col and MatMul alone.
func runConv(t *testing.T, b stateful, fused bool, c convCase, seed uint64) (outs [][]float32) {
	g := c.g
	rng := rand.New(rand.NewPCG(seed, 1))
	in, out := g.N*g.C*g.H*g.W, g.N*g.O*g.OutH()*g.OutW()
	var im2col backend.Im2col
	forward := func(x, w, bias, y []float32) error {
		if fused {
			return b.ConvForward("conv", g, x, w, bias, y)
		}
		return im2col.Forward(matMulOnly{b}, "conv", g, x, w, bias, y)
	}
	backward := func(x, w, dy []float32, grads backend.ConvGrads) error {
		if fused {
			return b.ConvBackward("conv", g, x, w, dy, grads)
		}
		return im2col.Backward(matMulOnly{b}, "conv", g, x, w, dy, grads)
	}
	for step := range 2 {
		x := convData(rng, c.data, in, g.C*g.H*g.W, g.H*g.W)
		w := convData(rng, "normal", g.O*g.Field(), g.Field(), g.KH*g.KW)
		if c.data == "nonfinite weights" {
			// A non-finite weight: bfp's input gradient must not add its
			// product straight onto dx (see bfp.Backend.MatMulCol2im).
			w = convData(rng, "nonfinite", g.O*g.Field(), g.Field(), g.KH*g.KW)
		}
		bias := convData(rng, "normal", g.O, 1, 1)
		dy := convData(rng, map[string]string{"nonfinite": "normal"}[c.data]+"relu", out, g.O*g.OutH()*g.OutW(), g.OutH()*g.OutW())
		y := make([]float32, out)
		require.NoError(t, forward(x, w, bias, y))
		dx := convData(rng, "normal", in, 1, 1)
		dw := convData(rng, "normal", len(w), 1, 1)
		require.NoError(t, backward(x, w, dy, backend.ConvGrads{DX: dx, DW: dw}))
		dxAssigned := make([]float32, in)
		require.NoError(t, backward(x, w, dy, backend.ConvGrads{DX: dxAssigned, AssignDX: true}))
		dwOnly := make([]float32, len(w))
		require.NoError(t, backward(x, w, dy, backend.ConvGrads{DW: dwOnly}))
		outs = append(outs, y, dx, dw, dxAssigned, dwOnly)
		_ = step
	}
	return outs
}

// TestConvolverMatchesIm2col compares, per backend configuration and
// geometry, the fused Convolver with the im2col path bit for bit:
// outputs, gradients, statistics counters (per layer and role, and per
// GEMM shape), and the backend's state (noise generators, quantiser).
func TestConvolverMatchesIm2col(t *testing.T) {
	configs := []struct {
		name    string
		factory backend.Factory
		opts    backend.Options
		big     bool // also run the large geometries
	}{
		{"bfp", bfp.Factory, backend.Options{"tile": "16"}, true},
		{"bfp default tile", bfp.Factory, backend.Options{}, true},
		{"bfp stochastic", bfp.Factory, backend.Options{"tile": "8", "rounding": "stochastic"}, true},
		{"bfp ordered", bfp.Factory, backend.Options{"tile": "16", "tile-accumulation": "ordered", "stats-every": "3"}, false},
		{"bfp unsampled ordered", bfp.Factory, backend.Options{"tile": "16", "tile-accumulation": "ordered", "stats-every": "0"}, true},
		{"bfp fp32 layer", bfp.Factory, backend.Options{"tile": "16", "fp32-layers": "conv"}, false},
		{"rns noise off", rns.Factory, backend.Options{"tile": "16", "noise-sigma": "0"}, true},
		{"rns noise", rns.Factory, backend.Options{"tile": "16", "noise-sigma": "0.25", "noise-seed": "7", "stats-every": "1"}, true},
		{"rns noise default tile", rns.Factory, backend.Options{"noise-sigma": "0.3", "noise-seed": "9"}, true},
		// Unsampled (--stats-every 0): every forward product takes the grid
		// path (see bfpengine's grid.go), with wrong readouts to correct.
		{"rns noise unsampled", rns.Factory, backend.Options{"tile": "16", "noise-sigma": "0.25", "noise-seed": "3", "stats-every": "0"}, true},
		{"rns noise unsampled ordered", rns.Factory, backend.Options{"noise-sigma": "0.3", "stats-every": "0", "tile-accumulation": "ordered"}, true},
		{"rns noise rrns", rns.Factory, backend.Options{"tile": "16", "noise-sigma": "0.3", "rrns-redundant": "2"}, false},
		{"rns noise stochastic ordered", rns.Factory, backend.Options{"tile": "8", "noise-sigma": "0.3", "rounding": "stochastic", "tile-accumulation": "ordered"}, false},
		{"rns reference", rns.Factory, backend.Options{"tile": "16", "noise-sigma": "0.3", "rns-mode": "reference"}, false},
		{"analog noise off", analog.Factory, backend.Options{"tile": "16", "noise-sigma": "0", "adc-bits": "10"}, true},
		{"analog noise", analog.Factory, backend.Options{"tile": "16", "noise-sigma": "0.3", "noise-seed": "5", "adc-bits": "8", "stats-every": "1"}, true},
		{"analog default", analog.Factory, backend.Options{}, true},
	}
	var errorsSeen int64
	for _, cfg := range configs {
		for ci, c := range convCases {
			if c.g.N*c.g.C*c.g.H*c.g.W > 4096 && !cfg.big {
				continue
			}
			t.Run(fmt.Sprintf("%s/%s", cfg.name, c.name), func(t *testing.T) {
				newBackend := func() stateful {
					b, err := cfg.factory(cfg.opts)
					require.NoError(t, err)
					return b.(stateful)
				}
				errorsSeen += sameConv(t, newBackend(), newBackend(), c, uint64(ci))
			})
		}
	}
	require.NotZero(t, errorsSeen, "no configuration drew a wrong readout: the noise cases test nothing")
}

// sameConv runs c on b through its Convolver and on plain (a backend
// made the same way) through the im2col path and MatMul, and requires
// the same outputs and gradients bit for bit, the same statistics (per
// layer and role, and per GEMM shape) and the same backend state (random
// generators). It returns the wrong residues that b drew.
func sameConv(t *testing.T, b, plain stateful, c convCase, seed uint64) int64 {
	t.Helper()
	got := runConv(t, b, true, c, seed)
	want := runConv(t, plain, false, c, seed)
	for i := range want {
		sameBits(t, want[i], got[i], fmt.Sprintf("output %d", i))
	}
	sameState(t, plain, b)
	require.Equal(t, plain.GEMMShapes(), b.GEMMShapes())
	if r, ok := b.Stats().(*bfpengine.Report); ok {
		return r.Total.ResidueErrors
	}
	return 0
}

// sameState requires the same statistics and the same backend state
// (random generators included) of b as of plain.
func sameState(t *testing.T, plain, b stateful) {
	t.Helper()
	require.Equal(t, plain.Stats(), b.Stats())
	ws, err := plain.MarshalState()
	require.NoError(t, err)
	gs, err := b.MarshalState()
	require.NoError(t, err)
	require.Equal(t, canonicalState(t, ws), canonicalState(t, gs), "backend state")
}

// canonicalState decodes a backend state and sorts its lists (the
// statistics are written in map order), so that equal states compare
// equal.
func canonicalState(t *testing.T, data []byte) any {
	var v any
	require.NoError(t, json.Unmarshal(data, &v))
	var sortLists func(v any) any
	sortLists = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				v[k] = sortLists(e)
			}
		case []any:
			keys := make([]string, len(v))
			for i, e := range v {
				e = sortLists(e)
				b, err := json.Marshal(e)
				require.NoError(t, err)
				keys[i] = string(b)
			}
			slices.Sort(keys)
			return keys
		}
		return v
	}
	return sortLists(v)
}

// TestLanesMatchOneAfterAnother runs the BFP-based Convolvers on three
// lanes (GOMAXPROCS 3, whatever the machine has), with geometries of
// several blocks of images, uneven across the lanes, and compares them
// with the im2col path through MatMul, which runs the blocks one after
// another: outputs, gradients, statistics and random generators bit for
// bit, with the calls sampled for the relative error (--stats-every 3)
// chosen by their place in block order, stochastic rounding's keys and
// the noise draws taken in block order.
func TestLanesMatchOneAfterAnother(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3))
	configs := []struct {
		name    string
		factory backend.Factory
		opts    backend.Options
	}{
		{"bfp", bfp.Factory, backend.Options{"tile": "16", "stats-every": "3"}},
		{"bfp stochastic", bfp.Factory, backend.Options{"tile": "8", "rounding": "stochastic", "stats-every": "3"}},
		{"rns noise", rns.Factory, backend.Options{"tile": "16", "noise-sigma": "0.13", "noise-seed": "7", "stats-every": "3"}},
		{"rns noise stochastic rrns", rns.Factory, backend.Options{"tile": "8", "noise-sigma": "0.13", "rounding": "stochastic", "rrns-redundant": "2"}},
		{"rns forward noise only", rns.Factory, backend.Options{"noise-sigma": "0.2", "noise-roles": "forward", "stats-every": "2"}},
		{"rns forward noise unsampled", rns.Factory, backend.Options{"noise-sigma": "0.2", "noise-roles": "forward", "stats-every": "0"}},
		// Noise on the weight gradient and not on the input gradient: a
		// block's first GEMM draws nothing, its second does.
		{"rns dW noise only", rns.Factory, backend.Options{"noise-sigma": "0.13", "noise-roles": "dW", "rounding": "stochastic"}},
		{"analog dW noise only", analog.Factory, backend.Options{"noise-sigma": "0.5", "noise-roles": "dW"}},
		{"rns dX noise only", rns.Factory, backend.Options{"noise-sigma": "0.13", "noise-roles": "dX", "stats-every": "3"}},
		{"analog noise", analog.Factory, backend.Options{"tile": "16", "noise-sigma": "0.3", "adc-bits": "8", "stats-every": "3"}},
		{"analog stochastic", analog.Factory, backend.Options{"rounding": "stochastic", "noise-sigma": "0.5"}},
	}
	cases := []convCase{
		{"ResNet stage 1, 13 images", backend.ConvGeometry{N: 13, C: 16, H: 32, W: 32, O: 16, KH: 3, KW: 3, Stride: 1, Pad: 1}, "relu"},
		{"ResNet stage 2 stride 2, 40 images", backend.ConvGeometry{N: 40, C: 16, H: 32, W: 32, O: 32, KH: 3, KW: 3, Stride: 2, Pad: 1}, "relu"},
		{"ResNet stage 3, 50 images", backend.ConvGeometry{N: 50, C: 64, H: 8, W: 8, O: 64, KH: 3, KW: 3, Stride: 1, Pad: 1}, "zeros"},
	}
	errorsSeen := map[string]int64{}
	for _, cfg := range configs {
		for ci, c := range cases {
			t.Run(fmt.Sprintf("%s/%s", cfg.name, c.name), func(t *testing.T) {
				newBackend := func() stateful {
					b, err := cfg.factory(cfg.opts)
					require.NoError(t, err)
					return b.(stateful)
				}
				laned, plain := newBackend(), newBackend()
				blocks := (c.g.N + c.g.ImagesPerBlock() - 1) / c.g.ImagesPerBlock()
				calls := []backend.Call{{Layer: "conv", Role: backend.GradInput}, {Layer: "conv", Role: backend.GradWeight}}
				require.Equal(t, min(3, blocks), laned.(backend.LaneRunner).Lanes(calls, blocks), "lanes")
				require.Greater(t, blocks, 3, "blocks")
				errorsSeen[cfg.name] += sameConv(t, laned, plain, c, uint64(ci))
			})
		}
	}
	for _, name := range []string{"rns noise", "rns noise stochastic rrns", "rns forward noise only", "rns forward noise unsampled", "rns dW noise only", "rns dX noise only"} {
		if n, ran := errorsSeen[name]; ran { // (unless -run left it out)
			require.NotZero(t, n, "%s drew no wrong readout: it tests nothing of the noise draws' order", name)
		}
	}
}

// TestLanesDeferredThenSampled: on lanes, a block's input gradient
// deferred (its draws wait for Flush) and its weight gradient sampled for
// the relative error (run whole, drawing at once) draw in block order —
// the deferred GEMM first — with the results, statistics and generators
// of the blocks one after another. An input-gradient-only backward first
// puts the two roles' call counts out of step (by the 4 blocks of 12
// images), so that with --stats-every 3 the first block's weight gradient
// is sampled and its input gradient is not.
func TestLanesDeferredThenSampled(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3))
	g := backend.ConvGeometry{N: 40, C: 16, H: 16, W: 16, O: 16, KH: 3, KW: 3, Stride: 1, Pad: 1}
	newBackend := func() stateful {
		b, err := rns.Factory(backend.Options{"noise-sigma": "0.2", "noise-seed": "4", "stats-every": "3"})
		require.NoError(t, err)
		return b.(stateful)
	}
	run := func(b stateful, fused bool) [][]float32 {
		rng := rand.New(rand.NewPCG(9, 9))
		in, out := g.N*g.C*g.H*g.W, g.N*g.O*g.OutH()*g.OutW()
		x := convData(rng, "relu", in, g.C*g.H*g.W, g.H*g.W)
		w := convData(rng, "normal", g.O*g.Field(), 1, 1)
		dy := convData(rng, "normal", out, 1, 1)
		var im backend.Im2col
		backward := func(grads backend.ConvGrads) {
			if fused {
				require.NoError(t, b.ConvBackward("conv", g, x, w, dy, grads))
				return
			}
			require.NoError(t, im.Backward(matMulOnly{b}, "conv", g, x, w, dy, grads))
		}
		dx0 := make([]float32, in)
		backward(backend.ConvGrads{DX: dx0, AssignDX: true})
		dx, dw := make([]float32, in), make([]float32, len(w))
		backward(backend.ConvGrads{DX: dx, AssignDX: true, DW: dw})
		return [][]float32{dx0, dx, dw}
	}
	require.Equal(t, 12, g.ImagesPerBlock(), "blocks")
	laned, plain := newBackend(), newBackend()
	got, want := run(laned, true), run(plain, false)
	for i := range want {
		sameBits(t, want[i], got[i], fmt.Sprintf("output %d", i))
	}
	sameState(t, plain, laned)
	r, ok := laned.Stats().(*bfpengine.Report)
	require.True(t, ok)
	require.NotZero(t, r.Total.ResidueErrors, "no wrong readout drawn: the test checks nothing of their order")
}
