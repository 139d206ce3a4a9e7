package experiment

import (
	"io"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/fp32"
	"github.com/mirage-go/mirage/train"
)

// scaled is a backend whose every product is off by exactly a factor
// (1+eps): its relative error is eps on every GEMM, whatever the inputs.
type scaled struct{ eps float32 }

func (scaled) Name() string { return "scaled" }

func (s scaled) MatMul(call backend.Call, g backend.GEMM) error {
	if err := fp32.New().MatMul(call, g); err != nil {
		return err
	}
	for i := 0; i < g.M; i++ {
		row := g.C[i*g.LDC : i*g.LDC+g.N]
		for j := range row {
			row[j] *= 1 + s.eps
		}
	}
	return nil
}

func TestProbeMeasuresKnownErrors(t *testing.T) {
	env, err := train.Setup(tinyConfig(), testReg(), io.Discard)
	require.NoError(t, err)
	const eps = 1.0 / 64 // a power of two: the scaled products are exact
	rep, err := probe(env, []string{"exact", "scaled"}, []backend.Backend{fp32.New(), scaled{eps}}, 32, "initial")
	require.NoError(t, err)
	require.Equal(t, "the first 32 test examples, no augmentation, model in training mode", rep.Batch)
	require.NotEmpty(t, rep.Rows)
	for _, r := range append(rep.Rows, ProbeRow{Layer: "total", Errors: rep.Total}) {
		require.True(t, r.Errors[0].Exact, r.Layer)
		e := r.Errors[1]
		// float32 rounding of c·(1+eps) is at most 2^-24 relative.
		require.InDelta(t, eps, e.RelErr, 1e-6, "%s/%s", r.Layer, r.Role)
		require.InDelta(t, -20*math.Log10(eps), *e.SNRdB, 1e-3, "%s/%s", r.Layer, r.Role)
		require.InDelta(t, eps, e.MaxRelErr, 1e-6)
	}
}

// The quantising backends show errors that are neither zero nor
// meaningless: 6-bit BFP mantissas give a few percent (about 2^-5 relative
// per operand), so the bounds are 0.3% to 20%.
func TestProbeOnQuantisingBackends(t *testing.T) {
	env, err := train.Setup(tinyConfig(), testReg(), io.Discard)
	require.NoError(t, err)
	arms := []Arm{{Label: "bfp", Backend: "bfp"}, {Label: "rns", Backend: "rns", Options: backend.Options{"noise-sigma": "0"}}}
	rep, err := Probe(env, arms, 32, "initial")
	require.NoError(t, err)
	for _, r := range rep.Rows {
		for i, e := range r.Errors {
			require.Empty(t, e.Err)
			require.False(t, e.Exact, "%s %s/%s", arms[i].Label, r.Layer, r.Role)
			require.Greater(t, e.RelErr, 0.003, "%s %s/%s", arms[i].Label, r.Layer, r.Role)
			require.Less(t, e.RelErr, 0.2, "%s %s/%s", arms[i].Label, r.Layer, r.Role)
		}
		// Noise-free RNS computes the exact BFP tile products: the same
		// numbers as the bfp backend with the same settings.
		require.Equal(t, r.Errors[0].RelErr, r.Errors[1].RelErr, "%s/%s", r.Layer, r.Role)
	}
}
