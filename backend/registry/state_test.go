package registry

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
)

// gemms returns n random 37×29·29×41 products (K = 29 spans several tiles
// of 8), each with its own output buffer.
func gemms(seed uint64, n int) []backend.GEMM {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]backend.GEMM, n)
	for i := range out {
		m, k, nn := 37, 29, 41
		a, b := make([]float32, m*k), make([]float32, k*nn)
		for j := range a {
			a[j] = float32(rng.NormFloat64())
		}
		for j := range b {
			b[j] = float32(rng.NormFloat64())
		}
		out[i] = backend.GEMM{M: m, N: nn, K: k, A: a, LDA: k, B: b, LDB: nn, C: make([]float32, m*nn), LDC: nn}
	}
	return out
}

// Every backend with state (all but fp32) continues after UnmarshalState
// exactly as the backend whose state was saved: the same noise, the same
// stochastic rounding, the same statistics. The options make every
// generator draw: noise high enough for wrong readouts, stochastic
// rounding, statistics on every call.
func TestBackendStateRoundTrip(t *testing.T) {
	reg := New()
	noisy := backend.Options{"tile": "8", "noise-sigma": "0.3", "rounding": "stochastic", "stats-every": "1"}
	for _, name := range reg.Names() {
		t.Run(name, func(t *testing.T) {
			opts := backend.Options{}
			for _, o := range reg.Options(name) {
				if v, ok := noisy[o.Name]; ok {
					opts[o.Name] = v
				}
			}
			if name == "analog" {
				opts["adc-bits"] = "6"
			}
			orig, err := reg.New(name, opts)
			require.NoError(t, err)
			sb, ok := orig.(backend.Stateful)
			if name == "fp32" {
				require.False(t, ok, "fp32 keeps no state")
				return
			}
			require.True(t, ok, "%s must implement backend.Stateful", name)
			call := backend.Call{Layer: "fc", Role: backend.Forward}
			for _, g := range gemms(1, 3) {
				require.NoError(t, orig.MatMul(call, g))
			}
			state, err := sb.MarshalState()
			require.NoError(t, err)
			resumed, err := reg.New(name, opts)
			require.NoError(t, err)
			require.NoError(t, resumed.(backend.Stateful).UnmarshalState(state))

			next, again := gemms(2, 3), gemms(2, 3)
			for i := range next {
				require.NoError(t, orig.MatMul(call, next[i]))
				require.NoError(t, resumed.MatMul(call, again[i]))
				require.Equal(t, next[i].C, again[i].C, "product %d after resuming", i)
			}
			want, _ := json.Marshal(orig.(backend.StatsReporter).Stats())
			got, _ := json.Marshal(resumed.(backend.StatsReporter).Stats())
			require.JSONEq(t, string(want), string(got), "statistics after resuming")

			// A fresh backend (noise from the start) computes something
			// else, or the test would not test the generators.
			fresh, err := reg.New(name, opts)
			require.NoError(t, err)
			third := gemms(2, 1)
			require.NoError(t, fresh.MatMul(call, third[0]))
			require.NotEqual(t, next[0].C, third[0].C, "the generators' position matters")
		})
	}
}

func TestBackendStateRefusesBadData(t *testing.T) {
	reg := New()
	for _, name := range []string{"bfp", "rns", "analog"} {
		b, err := reg.New(name, nil)
		require.NoError(t, err)
		sb := b.(backend.Stateful)
		good, err := sb.MarshalState()
		require.NoError(t, err)
		for _, bad := range []string{
			"", "{", "[]", `{"noise_rng":"AAAA","engine":{}}`, `{"rounding_rng":"AAAA","stats":[]}`,
			string(good[:len(good)/2]),
		} {
			require.Error(t, sb.UnmarshalState([]byte(bad)), "%s: %q", name, bad)
		}
		after, err := sb.MarshalState()
		require.NoError(t, err)
		require.Equal(t, good, after, "%s is unchanged by refused states", name)
	}
}

func TestEngineStateRefusesBadStats(t *testing.T) {
	b, err := New().New("bfp", nil)
	require.NoError(t, err)
	call := backend.Call{Layer: "fc", Role: backend.GradWeight}
	require.NoError(t, b.MatMul(call, gemms(3, 1)[0]))
	good, err := b.(backend.Stateful).MarshalState()
	require.NoError(t, err)
	var st map[string]any
	require.NoError(t, json.Unmarshal(good, &st))
	for _, tc := range []struct {
		field string
		value any
		want  string
	}{
		{"role", "sideways", "unknown GEMM role"},
		{"calls", -1, "negative count"},
		{"rel_err_sum_bits", 0x7ff8000000000001, "invalid relative-error"},
	} {
		stats := st["stats"].([]any)[0].(map[string]any)
		old := stats[tc.field]
		stats[tc.field] = tc.value
		bad, _ := json.Marshal(st)
		stats[tc.field] = old
		require.ErrorContains(t, b.(backend.Stateful).UnmarshalState(bad), tc.want)
	}
}
