package layers

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/fp32"
	"github.com/mirage-go/mirage/backend/registry"
)

// TestBasicBlockCalls records one training step of a ResNet basic block
// with a strided projection shortcut and lists every product that reaches
// the backend, in order, with its im2col shape: nothing bypasses it, on
// fp32 or on an emulated accelerator. fp32 and rns are Convolvers, so each
// convolution product arrives whole ("conv"); a backend that is not gets
// the same products as im2col GEMMs (one block of images here).
func TestBasicBlockCalls(t *testing.T) {
	rns, err := registry.New().New("rns", backend.Options{})
	require.NoError(t, err)
	want := []string{
		// 2 images 8×8 → 4×4 at stride 2: 32 positions.
		"b.conv1/forward %s 32x8x36",     // 4 channels · 3·3
		"b.shortcut.0/forward %s 32x8x4", // 1×1, stride 2
		"b.conv2/forward %s 32x8x72",     // 8 channels · 3·3
		"b.conv2/dX %s 32x72x8", "b.conv2/dW %s 8x72x32",
		"b.shortcut.0/dX %s 32x4x8", "b.shortcut.0/dW %s 8x4x32",
		"b.conv1/dX %s 32x36x8", "b.conv1/dW %s 8x36x32",
	}
	for _, tc := range []struct {
		inner backend.Backend
		kind  string
	}{
		{fp32.New(), "conv"},
		{rns, "conv"},
		{matmulOnly{fp32.New()}, "gemm"},
		{matmulOnly{rns}, "gemm"},
	} {
		t.Run(tc.inner.Name(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 3))
			blk := NewBasicBlock("b", 4, 8, 2, ShortcutProjection, rng)
			x := autograd.Zeros(2, 4, 8, 8).SetRequiresGrad(true)
			InitNormal(x, 1, rng)
			rec := &backend.Recorder{Inner: tc.inner}
			tp := autograd.NewTape(rec)
			require.NoError(t, tp.Backward(tp.Sum(blk.Forward(tp, x))))
			var got []string
			for _, c := range rec.Calls() {
				got = append(got, c.String())
			}
			var expect []string
			for _, w := range want {
				expect = append(expect, fmt.Sprintf(w, tc.kind))
			}
			require.Equal(t, expect, got)
		})
	}
}

// matmulOnly hides a backend's optional capabilities (Convolver).
type matmulOnly struct{ backend.Backend }

func (m matmulOnly) Name() string { return "matmul-only(" + m.Backend.Name() + ")" }
