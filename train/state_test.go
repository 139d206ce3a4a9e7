package train

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/checkpoint"
)

// tinyRun is an MLP on 64 MNIST images, 4 steps per epoch.
func tinyRun(out string) Config {
	cfg := Recipe(testReg(), "mlp", "mnist")
	cfg.Epochs, cfg.TrainLimit, cfg.TestLimit, cfg.BatchSize = 2, 64, 32, 16
	cfg.OutDir = out
	return cfg
}

// interrupted leaves the state of tinyRun after its first step in dir.
func interrupted(t *testing.T, dir string) Config {
	t.Helper()
	return interruptedRun(t, tinyRun(dir))
}

// interruptedRun leaves the state of cfg (a tinyRun) after its first step
// in cfg.OutDir.
func interruptedRun(t *testing.T, cfg Config) Config {
	t.Helper()
	dir := cfg.OutDir
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the run stops after its first step
	_, err := RunContext(ctx, cfg, testReg(), io.Discard)
	var ie *InterruptedError
	require.True(t, errors.As(err, &ie), "%v", err)
	require.Equal(t, InterruptedError{Dir: dir, Epoch: 1, Step: 1, Steps: 4}, *ie)
	require.FileExists(t, filepath.Join(dir, StateFile))
	return cfg
}

// A resumed run (library level) gives the uninterrupted run's result; the
// state is removed once the run is finished, and a finished run is not
// overwritten without Overwrite.
func TestRunResumesAndRefusesFinished(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a small MLP three times")
	}
	ref, err := Run(tinyRun(filepath.Join(t.TempDir(), "ref")), testReg(), io.Discard)
	require.NoError(t, err)

	dir := filepath.Join(t.TempDir(), "run")
	cfg := interrupted(t, dir)
	var log strings.Builder
	res, err := Run(cfg, testReg(), &log)
	require.NoError(t, err)
	require.Contains(t, log.String(), "resuming "+dir+" from epoch 1 step 1 (of 4)")
	require.Equal(t, ref.FinalTestLoss, res.FinalTestLoss)
	for i := range ref.Metrics {
		require.Equal(t, ref.Metrics[i].TrainLoss, res.Metrics[i].TrainLoss)
	}
	require.NoFileExists(t, filepath.Join(dir, StateFile))

	_, err = Run(cfg, testReg(), io.Discard)
	var fe *FinishedError
	require.True(t, errors.As(err, &fe), "%v", err)
	require.Contains(t, err.Error(), "holds a finished run")
	require.Contains(t, err.Error(), "--overwrite")
	cfg.Overwrite = true
	_, err = Run(cfg, testReg(), io.Discard)
	require.NoError(t, err)
}

// The run records the core counts it trained with: one for a run resumed
// with the count it had, both (and a warning that names them and how to
// keep the run bit for bit) when a resume changes it, because the count
// decides how some sums are split.
func TestRunRecordsItsCoreCounts(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a small MLP twice")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(2)
	same := interrupted(t, filepath.Join(t.TempDir(), "same"))
	var log strings.Builder
	res, err := Run(same, testReg(), &log)
	require.NoError(t, err)
	require.Equal(t, []int{2}, res.GOMAXPROCS)
	require.NotContains(t, log.String(), "warning")
	js, err := os.ReadFile(filepath.Join(same.OutDir, "summary.json"))
	require.NoError(t, err)
	var sum struct {
		GOMAXPROCS []int `json:"gomaxprocs"`
	}
	require.NoError(t, json.Unmarshal(js, &sum))
	require.Equal(t, []int{2}, sum.GOMAXPROCS, "summary.json")

	other := interrupted(t, filepath.Join(t.TempDir(), "other"))
	runtime.GOMAXPROCS(1)
	log.Reset()
	res, err = Run(other, testReg(), &log)
	require.NoError(t, err)
	require.Equal(t, []int{2, 1}, res.GOMAXPROCS)
	require.Contains(t, log.String(), "warning: the run so far used GOMAXPROCS 2, this process has 1")
	require.Contains(t, log.String(), "set GOMAXPROCS=2 to keep that")
}

// A state of another configuration is refused with every difference named,
// old and new value.
func TestResumeRefusesOtherSettings(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a step")
	}
	dir := t.TempDir()
	cfg := interrupted(t, dir)
	cfg.Epochs, cfg.LR = 3, 0.5
	cfg.BackendOptions = map[string]string{"noise-seed": "3"}
	cfg.Backend = "bfp"
	_, err := Run(cfg, testReg(), io.Discard)
	require.Error(t, err)
	for _, want := range []string{"epochs: 2 → 3", "lr: 0.05 → 0.5", `backend: "fp32" → "bfp"`, `backend_options: (unset) → {"noise-seed":"3"}`, "--overwrite"} {
		require.Contains(t, err.Error(), want)
	}
	require.NotContains(t, err.Error(), "\n")
}

// A damaged or hostile state file gives one line naming the file and the
// problem, no panic, and leaves the file as it was.
func TestResumeValidatesTheStateFile(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a step")
	}
	src := t.TempDir()
	cfg := interrupted(t, src)
	good, err := os.ReadFile(filepath.Join(src, StateFile))
	require.NoError(t, err)
	tensors, meta, err := checkpoint.Load(filepath.Join(src, StateFile))
	require.NoError(t, err)

	// rewrite re-encodes the state with edits to its tensors or JSON.
	rewrite := func(editTensors func(map[string]*autograd.Tensor), editState func(map[string]any)) []byte {
		ts := map[string]*autograd.Tensor{}
		for k, v := range tensors {
			c := autograd.New(append([]float32(nil), v.Data()...), v.Shape()...)
			c.Name = k
			ts[k] = c
		}
		m := map[string]string{}
		for k, v := range meta {
			m[k] = v
		}
		if editTensors != nil {
			editTensors(ts)
		}
		if editState != nil {
			var st map[string]any
			require.NoError(t, json.Unmarshal([]byte(m[stateMetadataKey]), &st))
			editState(st)
			b, err := json.Marshal(st)
			require.NoError(t, err)
			m[stateMetadataKey] = string(b)
		}
		var list []*autograd.Tensor
		for _, v := range ts {
			list = append(list, v)
		}
		path := filepath.Join(t.TempDir(), "s")
		require.NoError(t, checkpoint.Save(path, list, m))
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		return data
	}
	var list []*autograd.Tensor
	for _, v := range tensors {
		list = append(list, v)
	}
	bare := filepath.Join(t.TempDir(), "bare")
	require.NoError(t, checkpoint.Save(bare, list, map[string]string{configMetadataKey: meta[configMetadataKey]}))
	withoutState, err := os.ReadFile(bare)
	require.NoError(t, err)
	env, err := Setup(cfg, testReg(), io.Discard) // once: loading the data is the slow part
	require.NoError(t, err)
	weight := "model/fc1.weight"
	require.Contains(t, tensors, weight)
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"empty", []byte{}, "too short"},
		{"truncated", good[:len(good)/2], "truncated"},
		{"not safetensors", []byte("PK\x03\x04 a zip file, not a state"), "header length"},
		{"wrong shape", rewrite(func(ts map[string]*autograd.Tensor) {
			w := autograd.Zeros(3, 5)
			w.Name = weight
			ts[weight] = w
		}, nil), "tensor " + weight + " is [3 5]"},
		{"missing tensor", rewrite(func(ts map[string]*autograd.Tensor) { delete(ts, weight) }, nil), "tensor " + weight + " is missing"},
		{"foreign tensor", rewrite(func(ts map[string]*autograd.Tensor) {
			x := autograd.Zeros(2)
			x.Name = "model/extra"
			ts[x.Name] = x
		}, nil), "model/extra belongs to no part"},
		{"optimizer buffer of no parameter", rewrite(func(ts map[string]*autograd.Tensor) {
			x := autograd.Zeros(2)
			x.Name = "optim/nope/momentum_buffer"
			ts[x.Name] = x
		}, nil), "names no parameter"},
		{"NaN weight", rewrite(func(ts map[string]*autograd.Tensor) { ts[weight].Data()[7] = float32(math.NaN()) }, nil), "NaN or infinite"},
		{"epoch out of range", rewrite(nil, func(st map[string]any) { st["position"] = map[string]any{"epoch": 99, "batch": 0} }), "epoch 99 is outside 1..3"},
		{"step out of range", rewrite(nil, func(st map[string]any) { st["position"] = map[string]any{"epoch": 1, "batch": 4} }), "step 4 of epoch 1 is outside"},
		{"global step mismatch", rewrite(nil, func(st map[string]any) { st["step"] = 3 }), "global step 3"},
		{"seen mismatch", rewrite(nil, func(st map[string]any) { st["seen"] = 1e9 }), "examples seen"},
		{"negative time", rewrite(nil, func(st map[string]any) { st["elapsed_seconds"] = -1 }), "elapsed times"},
		{"other data set size", rewrite(nil, func(st map[string]any) { st["train_examples"] = 65 }), "65 training examples"},
		{"unknown field", rewrite(nil, func(st map[string]any) { st["surprise"] = 1 }), "unknown field"},
		{"version", rewrite(nil, func(st map[string]any) { st["version"] = 2 }), "state version 2"},
		{"backend state for fp32", rewrite(nil, func(st map[string]any) { st["backend"] = map[string]any{} }), "keeps none"},
		{"dropout generators", rewrite(nil, func(st map[string]any) { st["dropout_rng"] = []string{"AAAA"} }), "1 dropout generators for a model with 0"},
		{"no state metadata", withoutState, `no "mirage.state" metadata`},
		{"zero cores", rewrite(nil, func(st map[string]any) { st["gomaxprocs"] = []int{2, 0} }), "core counts [2 0] outside 1..1048576"},
		{"too many cores", rewrite(nil, func(st map[string]any) { st["gomaxprocs"] = []int{1 << 30} }), "core counts [1073741824] outside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, StateFile)
			require.NoError(t, os.WriteFile(path, tc.file, 0o644))
			cfg.OutDir = dir
			err := tryResume(cfg, env)
			require.Error(t, err)
			msg := err.Error()
			require.NotContains(t, msg, "\n", "one line")
			require.Contains(t, msg, "cannot resume from "+path)
			require.Contains(t, msg, tc.want)
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, tc.file, after, "the state file is left as it was")
		})
	}
}

// tryResume does what RunContext does before training: read the state of
// cfg.OutDir and restore it into a trainer for env.
func tryResume(cfg Config, env *Env) error {
	saved, err := prepareOutDir(cfg, testReg())
	if err != nil {
		return err
	}
	if saved == nil {
		return errors.New("no state")
	}
	tr, loader, _, err := newTrainer(cfg, env)
	if err != nil {
		return err
	}
	_, err = tr.restore(saved, loader.Len())
	return err
}

// A run resumed by a mirage whose backend defaults changed since it
// started (same options, other effective settings) is refused, naming the
// setting, old and new value; a state that records no backend
// configuration (written before it was recorded) is not checked.
func TestResumeRefusesOtherBackendDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a step")
	}
	dir := t.TempDir()
	cfg := tinyRun(dir)
	cfg.Backend = "rns"
	interruptedRun(t, cfg)
	path := filepath.Join(dir, StateFile)
	tensors, meta, err := checkpoint.Load(path)
	require.NoError(t, err)
	var st map[string]any
	require.NoError(t, json.Unmarshal([]byte(meta[stateMetadataKey]), &st))
	bc, ok := st["backend_config"].(map[string]any)
	require.True(t, ok, "the state records the backend's effective configuration")
	require.Contains(t, bc, "rrns_redundant_moduli")

	save := func(edit func(map[string]any)) {
		var s map[string]any
		require.NoError(t, json.Unmarshal([]byte(meta[stateMetadataKey]), &s))
		edit(s)
		b, err := json.Marshal(s)
		require.NoError(t, err)
		m := map[string]string{configMetadataKey: meta[configMetadataKey], stateMetadataKey: string(b)}
		var list []*autograd.Tensor
		for _, v := range tensors {
			list = append(list, v)
		}
		require.NoError(t, checkpoint.Save(path, list, m))
	}
	env, err := Setup(cfg, testReg(), io.Discard)
	require.NoError(t, err)

	// As if the run had started when rns defaulted to no redundant moduli.
	save(func(s map[string]any) {
		s["backend_config"].(map[string]any)["rrns_redundant_moduli"] = []int{}
	})
	err = tryResume(cfg, env)
	require.Error(t, err)
	require.Contains(t, err.Error(), "rrns_redundant_moduli: [] → [131,133]")
	require.Contains(t, err.Error(), "give its values as options")
	require.NotContains(t, err.Error(), "\n")

	save(func(s map[string]any) { delete(s, "backend_config") })
	require.NoError(t, tryResume(cfg, env))
}

// A run resumes with its backend options spelled otherwise when they give
// the backend settings its state recorded (an option set to its default),
// as when a run is relabelled for defaults that changed since; options
// that give other settings are refused.
func TestResumeAcceptsTheSameBackendSpelledOtherwise(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a step")
	}
	dir := t.TempDir()
	cfg := tinyRun(dir)
	cfg.Backend = "rns"
	interruptedRun(t, cfg)

	spelled := cfg
	spelled.BackendOptions = map[string]string{"rrns-redundant": "2", "noise-sigma": "0.08"}
	diff, err := ResumeDiff(dir, spelled, testReg())
	require.NoError(t, err)
	require.Empty(t, diff)

	other := cfg
	other.BackendOptions = map[string]string{"rrns-redundant": "0"}
	diff, err = ResumeDiff(dir, other, testReg())
	require.NoError(t, err)
	require.Equal(t, []string{`backend_options: (unset) → {"rrns-redundant":"0"}`}, diff)

	var log strings.Builder
	_, err = Run(spelled, testReg(), &log)
	require.NoError(t, err)
	require.Contains(t, log.String(), "resuming "+dir)
}
