package experiment

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/cost"
	"github.com/mirage-go/mirage/train"
)

// TestCostReport: arms with a cost.json get a row in the cost table and a
// line in the accuracy-vs-energy chart (cumulative energy per epoch); arms
// without one are left out; a sweep row reads the same file.
func TestCostReport(t *testing.T) {
	dir := t.TempDir()
	rnsDir, fp32Dir := filepath.Join(dir, "rns"), filepath.Join(dir, "fp32")
	require.NoError(t, os.MkdirAll(rnsDir, 0o755))
	require.NoError(t, os.MkdirAll(fp32Dir, 0o755))
	cf := train.CostFile{Accelerator: "acc", Baseline: "base", Format: &cost.Format{Moduli: []int64{63, 64, 65}, Bits: 6, Tile: 128},
		Epochs: []train.CostEpoch{
			{Epoch: 1, Steps: 2, Accelerator: cost.Cost{Seconds: 1, Joules: 2}, Baseline: cost.Cost{Seconds: 3, Joules: 5}},
			{Epoch: 2, Steps: 2, Accelerator: cost.Cost{Seconds: 1, Joules: 3}, Baseline: cost.Cost{Seconds: 3, Joules: 7}},
		}}
	cf.Total.Accelerator.Total = cost.Cost{Seconds: 2, Joules: 5}
	cf.Total.Baseline.Total = cost.Cost{Seconds: 6, Joules: 12}
	cf.Total.Total = cost.Ratios{Speedup: 3, Energy: 2.4, EDP: 7.2}
	data, err := json.Marshal(cf)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(rnsDir, "cost.json"), data, 0o644))
	metrics := []train.EpochMetrics{{Epoch: 1, TestAcc: 0.5}, {Epoch: 2, TestAcc: 0.75}}
	c := &Comparison{Arms: []ArmResult{
		{Arm: Arm{Label: "fp32", Backend: "fp32"}, Outcome: &Outcome{Dir: fp32Dir, Metrics: metrics}},
		{Arm: Arm{Label: "rns", Backend: "rns"}, Outcome: &Outcome{Dir: rnsDir, Metrics: metrics}},
	}}
	rows := armCostRows(c, c.armCosts())
	require.Len(t, rows, 1)
	require.Equal(t, "rns", rows[0].Label)
	require.Equal(t, 2.5, rows[0].Watts) // 5 J in 2 s
	md, err := compareMarkdown(c, c.armCosts())
	require.NoError(t, err)
	require.Contains(t, md, "## Hardware cost")
	require.Contains(t, md, "| rns | moduli [63 64 65], 6 bits, tile 128 |")
	require.Contains(t, md, "| 3x | 2.4x | 7.2x |")
	ch, ok := c.energyChart()
	require.True(t, ok)
	require.Len(t, ch.Series, 2)
	require.Equal(t, []float64{2, 5}, ch.Series[0].X) // cumulative joules
	require.Equal(t, []float64{50, 75}, ch.Series[0].Y)
	require.Equal(t, []float64{5, 12}, ch.Series[1].X)
	require.True(t, ch.Series[1].Reference)
	require.NoError(t, writeEnergyChart(dir, c))
	require.FileExists(t, filepath.Join(dir, "accuracy-vs-energy.png"))

	col := costColumns(rnsDir)
	require.NotNil(t, col)
	require.Equal(t, 5.0, col.Joules)
	require.Equal(t, 3.0, col.Speedup)
	require.Nil(t, costColumns(fp32Dir))

	// No arm with costs: no section, no chart.
	c.Arms = c.Arms[:1]
	require.Empty(t, armCostRows(c, c.armCosts()))
	md, err = compareMarkdown(c, c.armCosts())
	require.NoError(t, err)
	require.NotContains(t, md, "## Hardware cost")
	_, ok = c.energyChart()
	require.False(t, ok)
}
