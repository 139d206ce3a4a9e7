package train

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// smallRun is a quick LeNet run on a slice of the real MNIST data.
func smallRun(t *testing.T, out string) Config {
	cfg := Recipe(testReg(), "lenet", "mnist")
	cfg.Epochs, cfg.TrainLimit, cfg.TestLimit = 2, 2048, 1000
	cfg.Progress = false
	cfg.OutDir = out
	return cfg
}

func readMetrics(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var rows []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var row map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &row))
		rows = append(rows, row)
	}
	require.NoError(t, sc.Err())
	return rows
}

// The same seed gives the same metrics, and eval on the saved checkpoint
// reproduces the final test accuracy exactly.
func TestDeterministicRunAndEval(t *testing.T) {
	if testing.Short() {
		t.Skip("trains LeNet twice on 2k MNIST images; run without -short")
	}
	dirA, dirB := t.TempDir(), t.TempDir()
	resA, err := Run(smallRun(t, dirA), testReg(), io.Discard)
	require.NoError(t, err)
	_, err = Run(smallRun(t, dirB), testReg(), io.Discard)
	require.NoError(t, err)

	for _, f := range []string{"metrics.jsonl", "summary.json", "model.safetensors"} {
		require.FileExists(t, filepath.Join(dirA, f))
	}
	a, b := readMetrics(t, filepath.Join(dirA, "metrics.jsonl")), readMetrics(t, filepath.Join(dirB, "metrics.jsonl"))
	require.Len(t, a, 2)
	for i := range a {
		for _, timing := range []string{"seconds", "images_per_sec"} {
			require.Contains(t, a[i], timing)
			delete(a[i], timing)
			delete(b[i], timing)
		}
	}
	require.Equal(t, a, b, "same seed must give identical metrics")
	wa, err := os.ReadFile(filepath.Join(dirA, "model.safetensors"))
	require.NoError(t, err)
	wb, err := os.ReadFile(filepath.Join(dirB, "model.safetensors"))
	require.NoError(t, err)
	require.Equal(t, wa, wb, "same seed must give identical weights")
	require.Greater(t, resA.FinalTestAcc, 0.85, "2 epochs on 2k images should learn MNIST")

	var summary map[string]any
	data, err := os.ReadFile(filepath.Join(dirA, "summary.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &summary))
	for _, k := range []string{"model", "dataset", "backend", "epochs", "seed", "final_test_acc", "wall_seconds"} {
		require.Contains(t, summary, k)
	}

	ev, err := Eval(filepath.Join(dirA, "model.safetensors"), "", "", nil, testReg(), io.Discard)
	require.NoError(t, err)
	require.Equal(t, resA.FinalTestAcc, ev.TestAcc, "eval must reproduce train's final accuracy")
	require.Equal(t, resA.FinalTestLoss, ev.TestLoss)

	// A different seed gives a different run.
	cfg := smallRun(t, "")
	cfg.Seed = 2
	cfg.Epochs = 1
	resC, err := Run(cfg, testReg(), io.Discard)
	require.NoError(t, err)
	require.NotEqual(t, resA.Metrics[0].TrainLoss, resC.Metrics[0].TrainLoss)
}
