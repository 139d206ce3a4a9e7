package train

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/fp32"
	"github.com/mirage-go/mirage/bench"
)

// TestCostJSON: a run on an emulated backend writes cost.json whose epochs
// add up to the total, whose records count every GEMM of every training
// step, and whose format is the backend's; an fp32 run writes none.
func TestCostJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("trains LeNet on 256 MNIST images; run without -short")
	}
	dir := t.TempDir()
	cfg := smallRun(t, dir)
	cfg.Epochs, cfg.TrainLimit, cfg.TestLimit, cfg.BatchSize = 2, 256, 100, 64
	cfg.Backend, cfg.BackendOptions = "rns", backend.Options{"tile": "64", "bfp-bits": "6"}
	_, err := Run(cfg, io.Discard)
	require.NoError(t, err)
	data, err := os.ReadFile(filepath.Join(dir, "cost.json"))
	require.NoError(t, err)
	var cf CostFile
	require.NoError(t, json.Unmarshal(data, &cf))
	require.Equal(t, []int64{63, 64, 65}, cf.Format.Moduli)
	require.Equal(t, 64, cf.Format.Tile)
	require.Len(t, cf.Epochs, 2)
	var steps int64
	var joules float64
	for _, e := range cf.Epochs {
		steps += e.Steps
		joules += e.Accelerator.Joules
		require.Positive(t, e.Ratios.Speedup)
	}
	require.EqualValues(t, 2*4, steps) // 256 images in batches of 64
	require.InEpsilon(t, cf.Total.Accelerator.Total.Joules, joules, 1e-9)
	var calls int64
	for _, r := range cf.Records {
		calls += r.Count
		require.LessOrEqual(t, r.LiveTileOutputs, r.TileOutputs)
	}
	// Every step makes the GEMMs a recorder sees in one LeNet step at
	// batch 64.
	rec := &backend.Recorder{Inner: fp32.New()}
	step, err := bench.NewTrainStep(bench.TrainCase{Model: "lenet", Batch: 64}, rec, 1)
	require.NoError(t, err)
	require.NoError(t, step.Run())
	require.EqualValues(t, 8*len(rec.Calls()), calls)

	fp32Dir := t.TempDir()
	cfg = smallRun(t, fp32Dir)
	cfg.Epochs, cfg.TrainLimit, cfg.TestLimit = 1, 128, 100
	_, err = Run(cfg, io.Discard)
	require.NoError(t, err)
	require.NoFileExists(t, filepath.Join(fp32Dir, "cost.json"))
}
