package bfp

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/bfpengine/bfptest"
)

func newBackend(t *testing.T, opts backend.Options) *Backend {
	t.Helper()
	b, err := Factory(opts)
	require.NoError(t, err)
	return b.(*Backend)
}

var fwd = backend.Call{Layer: "fc1", Role: backend.Forward}

func TestMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, opts := range []backend.Options{
		{"tile-accumulation": "ordered"},
		{"tile-accumulation": "ordered", "bfp-bits": "8", "tile": "12"},
		{"bfp-bits": "4", "tile": "9"},
		{},
	} {
		b := newBackend(t, opts)
		f := b.engine.Settings.Format
		for trial := range 10 {
			g := bfptest.RandomGEMM(rng, 1+rng.IntN(20), 1+rng.IntN(20), 1+rng.IntN(200), trial%2 == 0, trial%3 == 0, trial%4 == 0, rng.IntN(2))
			want := bfptest.Product(g, f.Bits, f.Tile)
			got := bfptest.Run(t, b, fwd, g)
			tol := make([]float64, len(want))
			if !b.engine.Settings.Ordered {
				tol = bfptest.Tolerance(g, f.Bits, f.Tile)
			}
			for i := range want {
				require.InDeltaf(t, want[i], got[i], tol[i], "%v element %d", opts, i)
			}
		}
	}
}

func TestFactoryRefusesInvalid(t *testing.T) {
	cases := []struct {
		opts backend.Options
		want string
	}{
		{backend.Options{"rns-moduli": "63,64,65"}, "option --rns-moduli does not apply to backend bfp"},
		{backend.Options{"tile-accumulation": "random"}, `--tile-accumulation "random": use gemm or ordered`},
		{backend.Options{"bfp-bits": "11", "tile": "32"}, "lower --tile to 16 or --bfp-bits"},
		{backend.Options{"tile": "-4"}, "--tile -4 must be at least 1"},
		{backend.Options{"stats-every": "often"}, `--stats-every "often" is not an integer`},
	}
	for _, tc := range cases {
		_, err := Factory(tc.opts)
		require.ErrorContains(t, err, tc.want)
	}
}

func TestErrorsNameTheCall(t *testing.T) {
	b := newBackend(t, nil)
	g := backend.GEMM{M: 2, N: 2, K: 2, A: []float32{1, 2, 3}, LDA: 2, B: []float32{1, 2, 3, 4}, LDB: 2, C: make([]float32, 4), LDC: 2}
	require.ErrorContains(t, b.MatMul(fwd, g), "fc1/forward: gemm: A is 2x2")
	// Inf and NaN are not errors: they poison the outputs they touch, as in
	// FP32, and are counted.
	g.A = []float32{1, float32(math.Inf(1)), 3, 4}
	out := bfptest.Run(t, b, fwd, g)
	require.True(t, math.IsNaN(float64(out[0])) && math.IsNaN(float64(out[1])), "row 0 is poisoned: %v", out)
	require.Equal(t, []float32{15, 22}, out[2:], "row 1 = (3,4)·B, exact in 6-bit BFP")
	require.Equal(t, int64(1), b.engine.Stats.Report("bfp").Total.NonFinite)
}

func TestStatsAndConfig(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	b := newBackend(t, backend.Options{"stats-every": "3", "fp32-layers": "head", "tile": "32"})
	g := bfptest.RandomGEMM(rng, 5, 6, 70, false, false, false, 0)
	calls := []backend.Call{fwd, {Layer: "fc1", Role: backend.GradInput}, {Layer: "head", Role: backend.Forward}}
	for range 7 {
		for _, c := range calls {
			bfptest.Run(t, b, c, g)
		}
	}
	rep := b.engine.Stats.Report("bfp")
	require.Len(t, rep.Entries, 3)
	require.Equal(t, []string{"fc1", "fc1", "head"}, []string{rep.Entries[0].Layer, rep.Entries[1].Layer, rep.Entries[2].Layer})
	require.Equal(t, []string{"forward", "dX", "forward"}, []string{rep.Entries[0].Role, rep.Entries[1].Role, rep.Entries[2].Role})
	for _, e := range rep.Entries {
		require.Equal(t, int64(7), e.Calls)
		require.Equal(t, int64(3), e.Samples, "calls 0, 3 and 6 are sampled")
	}
	fc := rep.Entries[0]
	require.Equal(t, int64(7*3*5*6), fc.TileOutputs, "7 calls of 3 tiles × 5×6 outputs")
	require.Greater(t, fc.RelErrMean, 0.0)
	require.Less(t, fc.RelErrMax, 0.1)
	head := rep.Entries[2]
	require.True(t, head.FP32)
	require.Zero(t, head.TileOutputs)
	require.Zero(t, head.RelErrMax)
	require.Equal(t, int64(21), rep.Total.Calls)
	js, err := json.Marshal(b.Stats())
	require.NoError(t, err)
	require.Contains(t, string(js), `"per_layer":[{"layer":"fc1","role":"forward","gemm_calls":7`)
	require.Contains(t, b.Summary(), "bfp backend: 21 GEMMs")
	cfg, err := json.Marshal(b.Config())
	require.NoError(t, err)
	require.JSONEq(t, `{"backend":"bfp","bfp_bits":7,"tile":32,"rounding":"nearest","tile_accumulation":"gemm","max_tile_dot":127008,"fp32_layers":["head"],"noise_seed":1,"stats_every":3}`, string(cfg))
}

func TestOptionsShared(t *testing.T) {
	names := map[string]bool{}
	for _, o := range Options() {
		names[o.Name] = true
		require.NotEmpty(t, o.Help, o.Name)
	}
	for _, n := range []string{"bfp-bits", "tile", "rounding", "tile-accumulation", "fp32-layers", "noise-seed", "stats-every"} {
		require.True(t, names[n], n)
	}
}
