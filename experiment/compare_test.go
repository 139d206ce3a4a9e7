package experiment

import (
	"bytes"
	"encoding/json"
	"errors"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/datasets"
	"github.com/mirage-go/mirage/train"
)

// tinyConfig is an MLP on 512 MNIST training images, tested on
// 256: two epochs take well under a second.
func tinyConfig() train.Config {
	cfg := train.Recipe(testReg(), "mlp", "mnist")
	cfg.Epochs, cfg.BatchSize, cfg.EvalBatchSize = 2, 64, 256
	cfg.TrainLimit, cfg.TestLimit = 512, 256
	cfg.Progress = false
	return cfg
}

// curves strips the timing fields, which are the only ones allowed to
// differ between two runs of the same configuration.
func curves(ms []train.EpochMetrics) []train.EpochMetrics {
	out := append([]train.EpochMetrics(nil), ms...)
	for i := range out {
		out[i].Seconds, out[i].ImagesPerSec = 0, 0
	}
	return out
}

func TestCompareIdenticalFP32Arms(t *testing.T) {
	out := t.TempDir()
	arms, err := ParseArms("fp32,fp32", nil, testReg().Backends)
	require.NoError(t, err)
	require.Equal(t, []string{"fp32", "fp32-2"}, []string{arms[0].Label, arms[1].Label})

	cmp, err := Compare(CompareConfig{Registries: testReg(), Base: tinyConfig(), Arms: arms, Out: out, ProbeBatch: 32, Command: "test"}, io.Discard)
	require.NoError(t, err)
	require.Len(t, cmp.Arms, 2)
	a, b := cmp.Arms[0].Outcome, cmp.Arms[1].Outcome
	require.NotNil(t, a)
	require.NotNil(t, b)
	require.Len(t, a.Metrics, 2)
	require.Equal(t, curves(a.Metrics), curves(b.Metrics), "the same configuration twice must give identical curves")
	require.Equal(t, OK, a.Status, "an MLP on 512 MNIST images learns well above chance: %s", a.Why)
	require.False(t, a.Reused)

	// The report files exist and parse.
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	require.NoError(t, err)
	require.Contains(t, string(md), "| fp32-2 |")
	require.Contains(t, string(md), "accuracy.png")
	for _, name := range []string{"accuracy.png", "loss.png"} {
		data, err := os.ReadFile(filepath.Join(out, name))
		require.NoError(t, err)
		img, err := png.Decode(bytes.NewReader(data))
		require.NoError(t, err, name)
		require.Greater(t, img.Bounds().Dx(), 300, name)
	}
	var back Comparison
	data, err := os.ReadFile(filepath.Join(out, "report.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &back))
	require.Len(t, back.Arms, 2)
	require.Equal(t, cmp.InitialWeights, back.InitialWeights)

	// FP32 against FP32 is exact in every row of both probes (initial and
	// trained weights), and the probe saw all three roles of both layers.
	require.Len(t, cmp.Probes, 2)
	for _, p := range cmp.Probes {
		var seen []string
		for _, r := range p.Rows {
			seen = append(seen, r.Layer+"/"+r.Role)
			for _, e := range r.Errors {
				require.True(t, e.Exact, "%s/%s: fp32 vs fp32 must be exact", r.Layer, r.Role)
			}
		}
		// The input needs no gradient, so fc1 has no dX product.
		require.Equal(t, []string{"fc1/forward", "fc1/dW", "fc2/forward", "fc2/dX", "fc2/dW", "fc3/forward", "fc3/dX", "fc3/dW"}, seen)
	}

	// Resuming: both finished arms are reused, not rerun. Then an arm whose
	// summary is missing (interrupted) is rerun, and the other is reused.
	again, err := Compare(CompareConfig{Registries: testReg(), Base: tinyConfig(), Arms: arms, Out: out, ProbeBatch: 32}, io.Discard)
	require.NoError(t, err)
	require.True(t, again.Arms[0].Outcome.Reused)
	require.True(t, again.Arms[1].Outcome.Reused)
	require.Equal(t, a.Summary.WallSeconds, again.Arms[0].Outcome.Summary.WallSeconds, "a reused run keeps its recorded numbers")
	require.Equal(t, curves(a.Metrics), curves(again.Arms[0].Outcome.Metrics))

	require.NoError(t, os.Remove(filepath.Join(out, "fp32-2", "summary.json")))
	third, err := Compare(CompareConfig{Registries: testReg(), Base: tinyConfig(), Arms: arms, Out: out, ProbeBatch: 32}, io.Discard)
	require.NoError(t, err)
	require.True(t, third.Arms[0].Outcome.Reused)
	require.False(t, third.Arms[1].Outcome.Reused, "an unfinished arm is run again")
	require.Equal(t, curves(a.Metrics), curves(third.Arms[1].Outcome.Metrics))
	require.FileExists(t, filepath.Join(out, "fp32-2", "summary.json"))

	// A reused FP32 arm without its weights file (results/ in git keeps
	// none) cannot be probed: the report is written without that probe,
	// and a warning says what to delete to get it.
	require.NoError(t, os.Remove(filepath.Join(out, "fp32", "model.safetensors")))
	fourth, err := Compare(CompareConfig{Registries: testReg(), Base: tinyConfig(), Arms: arms, Out: out, ProbeBatch: 32}, io.Discard)
	require.NoError(t, err)
	require.Len(t, fourth.Probes, 1, "only the probe at the initial weights")
	require.Contains(t, fourth.Warnings, "no error probe at the trained weights: "+filepath.Join(out, "fp32", "model.safetensors")+
		" is missing (delete "+filepath.Join(out, "fp32")+" to train arm fp32 again and probe)")
	report, err := os.ReadFile(filepath.Join(out, "report.md"))
	require.NoError(t, err)
	require.Contains(t, string(report), "no error probe at the trained weights")

	// A finished run of another configuration is never silently replaced.
	other := tinyConfig()
	other.LR = 0.01
	_, err = Compare(CompareConfig{Registries: testReg(), Base: other, Arms: arms, Out: out}, io.Discard)
	require.ErrorContains(t, err, "different configuration (lr differ)")
}

// The backends under comparison get the same starting point: train.Setup
// builds the model from the seed alone, whatever the backend, and the data
// loader takes no backend at all.
func TestSameInitialWeightsForEveryBackend(t *testing.T) {
	fingerprints := map[string]string{}
	var env *train.Env
	for _, name := range testReg().Backends.Names() {
		cfg := tinyConfig()
		cfg.Backend = name
		var err error
		env, err = train.Setup(cfg, testReg(), io.Discard)
		require.NoError(t, err, name)
		fingerprints[name] = fingerprint(env.Model)
	}
	require.Len(t, fingerprints, len(testReg().Backends.Names()))
	for name, fp := range fingerprints {
		require.Equal(t, fingerprints["fp32"], fp, "backend %s starts from other weights", name)
	}
	cfg := tinyConfig()
	cfg.Seed = 2
	other, err := train.Setup(cfg, testReg(), io.Discard)
	require.NoError(t, err)
	require.NotEqual(t, fingerprints["fp32"], fingerprint(other.Model), "the seed must change the weights, or the check above proves nothing")

	// Two loaders with the same seed give the same augmented batches.
	first := func() []float32 {
		it := datasets.NewLoader(env.Train, 16, true, true, 7).Epoch(1)
		defer it.Close()
		batch, ok := it.Next()
		require.True(t, ok)
		return append([]float32(nil), batch.X...)
	}
	require.Equal(t, first(), first())
}

func TestCompareRefusesBadArmsBeforeRunning(t *testing.T) {
	reg := testReg().Backends
	tests := []struct {
		name, arms string
		want       string
	}{
		{"moduli not coprime", "fp32,rns:rns-moduli=6,9,10", "coprime"},
		{"tile too long for the moduli", "rns:rns-moduli=special-k5:tile=1024", "tile"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			arms, err := ParseArms(tc.arms, nil, reg)
			require.NoError(t, err)
			out := filepath.Join(t.TempDir(), "ab")
			_, err = Compare(CompareConfig{Registries: testReg(), Base: tinyConfig(), Arms: arms, Out: out}, io.Discard)
			require.ErrorContains(t, err, tc.want)
			require.NoDirExists(t, out, "nothing may be written before the arms are valid")
		})
	}
}

// A learning rate far too large makes every arm diverge. Each is reported
// as diverged, not as a failure and not as a number to compare, and
// neither is trained again when the comparison is resumed.
func TestDivergedArmsAreLabelled(t *testing.T) {
	cfg := tinyConfig()
	cfg.LR, cfg.Epochs = 1e6, 1
	arms, err := ParseArms("fp32,bfp", nil, testReg().Backends)
	require.NoError(t, err)
	out := t.TempDir()
	cmp, err := Compare(CompareConfig{Registries: testReg(), Base: cfg, Arms: arms, Out: out}, io.Discard)
	require.NoError(t, err)
	for _, a := range cmp.Arms {
		require.NotNil(t, a.Outcome, a.Label)
		require.Equal(t, Diverged, a.Outcome.Status, a.Label)
	}
	require.Contains(t, cmp.Arms[0].Outcome.Why, "NaN or infinite in epoch 1")
	require.Len(t, cmp.Warnings, 2)
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	require.NoError(t, err)
	require.Contains(t, string(md), "**fp32 DIVERGED")
	require.Contains(t, string(md), "**bfp DIVERGED")
	data, err := os.ReadFile(filepath.Join(out, "report.json"))
	require.NoError(t, err)
	require.True(t, json.Valid(data), "NaN results still give valid JSON")
	for _, name := range []string{"accuracy.png", "loss.png"} {
		f, err := os.Open(filepath.Join(out, name))
		require.NoError(t, err)
		_, err = png.Decode(f)
		f.Close()
		require.NoError(t, err)
	}

	again, err := Compare(CompareConfig{Registries: testReg(), Base: cfg, Arms: arms, Out: out}, io.Discard)
	require.NoError(t, err)
	for _, a := range again.Arms {
		require.True(t, a.Outcome.Reused, a.Label)
		require.Equal(t, Diverged, a.Outcome.Status, a.Label)
	}
}

// A backend that refuses NaN operands stops training with an error; that
// error means the run diverged, and any other error is a failure.
func TestStoppedByDivergence(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{errors.New("epoch 1: fc1 forward: operand A: contains Inf or NaN, which block floating point cannot represent"), true},
		{errors.New("epoch 2: loss is NaN"), true},
		{errors.New("cannot write metrics: disk full"), false},
		{errors.New("conv1 forward: gemm: A is 3x4 (ld 4) and needs 12 elements, has 10"), false},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, stoppedByDivergence(tc.err), tc.err.Error())
	}
}

// A compare names, after its report, the finished arms of the same
// directory that its report leaves out; unfinished ones and its own arms
// are not named.
func TestOtherFinishedArms(t *testing.T) {
	out := t.TempDir()
	for _, d := range []struct {
		name     string
		finished bool
	}{{"fp32", true}, {"rns", true}, {"bfp", false}, {"analog_adc-bits=8", true}} {
		require.NoError(t, os.MkdirAll(filepath.Join(out, d.name), 0o755))
		if d.finished {
			require.NoError(t, os.WriteFile(filepath.Join(out, d.name, "summary.json"), []byte("{}"), 0o644))
		}
	}
	require.NoError(t, os.WriteFile(filepath.Join(out, "report.md"), nil, 0o644))
	require.Equal(t, []string{"analog_adc-bits=8", "rns"}, otherFinishedArms(out, []Arm{{Label: "fp32"}}))
	require.Empty(t, otherFinishedArms(out, []Arm{{Label: "fp32"}, {Label: "rns"}, {Label: "analog_adc-bits=8"}}))
	require.Empty(t, otherFinishedArms(filepath.Join(out, "missing"), nil))
}
