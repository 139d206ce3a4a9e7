package experiment

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/analog"
	"github.com/mirage-go/mirage/backend/bfp"
	"github.com/mirage-go/mirage/backend/bfpengine"
	"github.com/mirage-go/mirage/backend/fp32"
	"github.com/mirage-go/mirage/backend/registry"
	"github.com/mirage-go/mirage/backend/rns"
	"github.com/mirage-go/mirage/train"
)

// ownStats is a backend's own statistics report with the ErrorStats
// capability, as a backend outside this module could return.
type ownStats struct{ total bfpengine.Counters }

func (s ownStats) ErrorStats() *bfpengine.Counters { return &s.total }

// The statistics column reads a backend's report through its ErrorStats
// capability, live or read back from summary.json, whatever the backend's
// name.
func TestBackendStatsByCapability(t *testing.T) {
	b, err := registry.New().New("rns", backend.Options{"stats-every": "1"})
	require.NoError(t, err)
	g := backend.GEMM{M: 2, N: 2, K: 3, A: []float32{1, 2, 3, 4, 5, 6}, LDA: 3, B: []float32{1, 0, 0, 1, 1, 1}, LDB: 2, C: make([]float32, 4), LDC: 2}
	require.NoError(t, b.MatMul(backend.Call{Layer: "fc", Role: backend.Forward}, g))
	live := b.(backend.StatsReporter).Stats()
	total := backendTotals(live)
	require.NotNil(t, total)
	require.Equal(t, int64(1), total.Calls)
	require.Equal(t, int64(1), total.Samples)

	dir := t.TempDir()
	data, err := json.Marshal(train.Summary{Backend: "rns", BackendStats: live})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "summary.json"), data, 0o644))
	s, err := readSummary(dir)
	require.NoError(t, err)
	require.IsType(t, &bfpengine.Report{}, s.BackendStats)
	require.Equal(t, total.Calls, backendTotals(s.BackendStats).Calls)
	require.Equal(t, total.RelErrMean, backendTotals(s.BackendStats).RelErrMean)
	require.Equal(t, statsText(total), statsText(backendTotals(s.BackendStats)))

	require.Nil(t, backendTotals(nil), "fp32 keeps no statistics")
	require.Nil(t, backendTotals(map[string]any{"backend": "rns", "total": map[string]any{}}), "an untyped map is not read by name")
	require.Equal(t, "—", statsText(backendTotals(map[string]any{"x": 1})))
	own := ownStats{total: bfpengine.Counters{Calls: 3, ADCClipped: 2}}
	require.Equal(t, "2 ADC clips", statsText(backendTotals(own)))
}

// The analyses know a backend's hardware model from its configuration's
// capabilities: the shipped backends registered under other names are
// recognised all the same.
func TestModelsByCapability(t *testing.T) {
	reg := backend.NewRegistry()
	for name, d := range map[string]backend.Descriptor{"photonic": rns.Descriptor(), "adc": analog.Descriptor(), "quant": bfp.Descriptor(), "exact": fp32.Descriptor()} {
		d.Name = name
		require.NoError(t, reg.Add(d))
	}
	model := registryModels(reg)
	require.Equal(t, rnsModel, model("photonic"))
	require.Equal(t, adcModel, model("adc"))
	require.Equal(t, exactBFPModel, model("quant"))
	require.Equal(t, otherModel, model("exact"))
	require.Equal(t, otherModel, model("rns"), "not registered here")
}
