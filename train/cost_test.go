package train

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/bench"
	"github.com/mirage-go/mirage/cost"
	"github.com/mirage-go/mirage/models"
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
	_, err := Run(cfg, testReg(), io.Discard)
	require.NoError(t, err)
	data, err := os.ReadFile(filepath.Join(dir, "cost.json"))
	require.NoError(t, err)
	var cf CostFile
	require.NoError(t, json.Unmarshal(data, &cf))
	require.Equal(t, []int64{127, 128, 129}, cf.Format.Moduli)
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
	// batch 64 on the same backend seen through MatMul alone: rns is a
	// Convolver that counts a convolution's im2col GEMMs one by one, as
	// the recorder counts them when the convolutions go through MatMul.
	inner, err := testReg().Backends.New("rns", backend.Options{"tile": "64"})
	require.NoError(t, err)
	rec := &backend.Recorder{Inner: struct{ backend.Backend }{inner}}
	step, err := bench.NewTrainStep(bench.TrainCase{Model: models.LeNetModel(), Batch: 64}, rec, 1)
	require.NoError(t, err)
	require.NoError(t, step.Run())
	require.EqualValues(t, 8*len(rec.Calls()), calls)

	fp32Dir := t.TempDir()
	cfg = smallRun(t, fp32Dir)
	cfg.Epochs, cfg.TrainLimit, cfg.TestLimit = 1, 128, 100
	_, err = Run(cfg, testReg(), io.Discard)
	require.NoError(t, err)
	require.NoFileExists(t, filepath.Join(fp32Dir, "cost.json"))
}

// TestCostJSONSurvivesResume: a run interrupted after its first step and
// resumed writes the cost.json of the uninterrupted run (the backend's
// shape counts are part of its saved state).
func TestCostJSONSurvivesResume(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a small MLP twice")
	}
	rnsRun := func(dir string) Config {
		cfg := tinyRun(dir)
		cfg.Backend = "rns"
		return cfg
	}
	refDir := filepath.Join(t.TempDir(), "ref")
	_, err := Run(rnsRun(refDir), testReg(), io.Discard)
	require.NoError(t, err)

	dir := filepath.Join(t.TempDir(), "run")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the run stops after its first step
	_, err = RunContext(ctx, rnsRun(dir), testReg(), io.Discard)
	var ie *InterruptedError
	require.True(t, errors.As(err, &ie), "%v", err)
	_, err = Run(rnsRun(dir), testReg(), io.Discard)
	require.NoError(t, err)

	read := func(dir string) CostFile {
		data, err := os.ReadFile(filepath.Join(dir, "cost.json"))
		require.NoError(t, err)
		var cf CostFile
		require.NoError(t, json.Unmarshal(data, &cf))
		return cf
	}
	ref, got := read(refDir), read(dir)
	require.Len(t, got.Epochs, 2)
	require.Equal(t, ref.Records, got.Records)
	for i := range ref.Epochs {
		require.Equal(t, ref.Epochs[i].Steps, got.Epochs[i].Steps)
		require.Equal(t, ref.Epochs[i].Records, got.Epochs[i].Records)
		require.Equal(t, ref.Epochs[i].Accelerator.Joules, got.Epochs[i].Accelerator.Joules)
	}
	require.Empty(t, got.Note)
}

// TestCostLogResume: resuming at epoch 3 keeps epochs 1 and 2 of the
// existing cost.json and starts counting from their records; without the
// file, a note says the history is missing.
func TestCostLogResume(t *testing.T) {
	dir := t.TempDir()
	b, err := testReg().Backends.New("rns", nil)
	require.NoError(t, err)
	cfg := Config{OutDir: dir, Optimizer: "sgd"}
	l, err := newCostLog(b, cfg, 10, 3)
	require.NoError(t, err)
	require.Contains(t, l.file.Note, "resumed at epoch 3 without the cost of the earlier epochs")

	rec := func(n int64) []cost.Record {
		return []cost.Record{{Layer: "fc", Role: backend.Forward, M: 2, N: 3, K: 4, Count: n}}
	}
	old := CostFile{Epochs: []CostEpoch{{Epoch: 1, Steps: 4, Records: rec(4)}, {Epoch: 2, Steps: 4, Records: rec(4)}, {Epoch: 3, Steps: 1, Records: rec(1)}}}
	data, err := json.Marshal(old)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cost.json"), data, 0o644))
	l, err = newCostLog(b, cfg, 10, 3)
	require.NoError(t, err)
	require.Empty(t, l.file.Note)
	require.Len(t, l.file.Epochs, 2)
	require.Equal(t, 8, l.prevStep)
	require.Equal(t, rec(8), l.prev)
}

// runFormat reads the number format from the backend's effective
// configuration through its capabilities: moduli from an RNS backend, the
// smallest fitting {2^k-1, 2^k, 2^k+1} set for another BFP backend.
func TestRunFormat(t *testing.T) {
	reg := testReg().Backends
	for _, tc := range []struct {
		name string
		opts backend.Options
		want cost.Format
	}{
		{"rns", backend.Options{"rrns-redundant": "2", "tile": "64"}, cost.Format{Moduli: []int64{127, 128, 129}, Redundant: []int64{131, 133}, Bits: 7, Tile: 64}},
		{"bfp", backend.Options{"bfp-bits": "5", "tile": "32"}, cost.Format{Moduli: []int64{31, 32, 33}, Bits: 5, Tile: 32}},
		{"analog", nil, cost.Format{Moduli: []int64{63, 64, 65}, Bits: 6, Tile: 128}},
	} {
		b, err := reg.New(tc.name, tc.opts)
		require.NoError(t, err)
		f, _, err := runFormat(b)
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.want, *f, tc.name)
	}
	b, err := reg.New("fp32", nil)
	require.NoError(t, err)
	_, _, err = runFormat(b)
	require.ErrorContains(t, err, "backend fp32 counts GEMM shapes but its configuration has no BFP format")
}
