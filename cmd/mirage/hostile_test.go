package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/checkpoint"
	"github.com/mirage-go/mirage/internal/limits"
	"github.com/mirage-go/mirage/internal/outdir"
)

// TestHostileCommands runs the hostile command lines of issue 16 (and
// more) and checks what a user must get for each: exit code non-zero, one
// line on stderr that names the problem, no panic, and nothing written or
// overwritten in the output directory, which holds a finished run's files
// before the command starts.
//
// The memory budget is fixed with $MIRAGE_MEMORY_LIMIT so that the limits
// do not depend on the machine running the test.
func TestHostileCommands(t *testing.T) {
	t.Setenv(limits.MemoryEnv, "16GiB")
	dir := t.TempDir()

	// IDX files with 0 training images (and 10 test images).
	empty := filepath.Join(dir, "empty-idx")
	writeIDX(t, empty, "train", 0)
	writeIDX(t, empty, "t10k", 10)

	// A sweep spec with a 1000×1000 grid, and one with a NaN noise level.
	var values []string
	for i := range 1000 {
		values = append(values, fmt.Sprint(i))
	}
	bigGrid := writeText(t, filepath.Join(dir, "big.yaml"), fmt.Sprintf(
		"name: big\nbase: {model: lenet, epochs: 1}\nbackend: rns\ngrid:\n  seed: [%s]\n  noise-seed: [%s]\n",
		strings.Join(values, ","), strings.Join(values, ",")))
	nanSpec := writeText(t, filepath.Join(dir, "nan.yaml"),
		"name: nan\nbase: {model: lenet, epochs: 1}\nbackend: rns\ngrid:\n  noise-sigma: [0.1, .nan]\n")

	// Checkpoints whose recorded configuration is hostile.
	ckpt := func(name string, edit func(map[string]any)) string {
		cfg := map[string]any{
			"model": "lenet", "dataset": "mnist", "backend": "fp32", "epochs": 1, "batch_size": 64,
			"eval_batch_size": 500, "optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "schedule": "constant", "seed": 1,
		}
		edit(cfg)
		raw, err := json.Marshal(cfg)
		require.NoError(t, err)
		p := filepath.Join(dir, name+".safetensors")
		w := autograd.Param("w", 1)
		require.NoError(t, checkpoint.Save(p, []*autograd.Tensor{w}, map[string]string{"mirage.config": string(raw)}))
		return p
	}
	evalBatch0 := ckpt("eval-batch-0", func(c map[string]any) { c["eval_batch_size"] = 0 })
	evalBatchHuge := ckpt("eval-batch-huge", func(c map[string]any) { c["eval_batch_size"] = 100000000 })
	badLR := ckpt("bad-lr", func(c map[string]any) { c["lr"] = -1 })

	out := filepath.Join(dir, "out")
	tiny := []string{"--epochs", "1", "--train-limit", "300", "--test-limit", "100", "--no-progress"}
	// mirage train commands pass --overwrite, the worst case: the finished
	// run in out must survive every refused command all the same.
	overwrite := func(args ...string) []string {
		if args[0] == "train" {
			return append(args, "--overwrite")
		}
		return args
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string // substrings of the error line
	}{
		{"huge batch", []string{"train", "--batch-size", "100000000", "--train-limit", "500", "--epochs", "1", "--out", out},
			[]string{"--batch-size 100000000 needs about", "GB", "available", "lower --batch-size"}},
		{"huge max-len", []string{"train", "--model", "bert", "--max-len", "100000000", "--epochs", "1", "--train-limit", "300", "--out", out},
			[]string{"--max-len 100000000", "[0, 1048576]"}},
		{"large max-len", []string{"train", "--model", "bert", "--max-len", "100000", "--epochs", "1", "--train-limit", "300", "--out", out},
			[]string{"--max-len 100000 needs about", "TB", "lower --max-len"}},
		{"huge probe batch", []string{"compare", "--backends", "fp32,rns", "--probe-batch", "100000000", "--epochs", "1", "--train-limit", "300", "--out", out},
			[]string{"--probe-batch 100000000 needs about", "lower --probe-batch"}},
		{"negative probe batch", []string{"compare", "--backends", "fp32,rns", "--probe-batch", "-5", "--out", out}, []string{"--probe-batch -5"}},
		{"huge gemm", []string{"bench", "gemm", "--reps", "1", "--shapes", "100000x100000x100000"},
			[]string{"shape 100000x100000x100000 needs about 160.0 GB"}},
		{"overflowing gemm", []string{"bench", "gemm", "--reps", "1", "--shapes", "9000000000x9000000000x9000000000"},
			[]string{"needs about more than 9.2 EB"}},
		{"1000x1000 sweep dry run", []string{"sweep", "--spec", bigGrid, "--dry-run"}, []string{"1000000 rows", "limit of 100000"}},
		{"1000x1000 sweep", []string{"sweep", "--spec", bigGrid, "--out", out}, []string{"1000000 rows", "limit of 100000"}},
		{"NaN noise in a sweep spec", []string{"sweep", "--spec", nanSpec, "--dry-run"}, []string{"noise-sigma NaN", "finite"}},
		{"eval batch 0 in a checkpoint", []string{"eval", "--checkpoint", evalBatch0}, []string{"mirage.config", "eval batch size 0"}},
		{"eval batch 1e8 in a checkpoint", []string{"eval", "--checkpoint", evalBatchHuge}, []string{"eval batch size 100000000 needs about"}},
		{"negative lr in a checkpoint", []string{"eval", "--checkpoint", badLR}, []string{"mirage.config", "--lr -1"}},
		{"lr inf", append([]string{"train", "--lr", "inf", "--out", out}, tiny...), []string{"--lr +Inf", "finite"}},
		{"lr -inf", append([]string{"train", "--lr", "-Inf", "--out", out}, tiny...), []string{"--lr -Inf"}},
		{"lr nan", append([]string{"train", "--lr", "NaN", "--out", out}, tiny...), []string{"--lr NaN"}},
		{"momentum nan", append([]string{"train", "--momentum", "nan", "--out", out}, tiny...), []string{"--momentum NaN"}},
		{"weight decay inf", append([]string{"train", "--weight-decay", "1e999", "--out", out}, tiny...), []string{"weight-decay"}},
		{"warmup nan", append([]string{"train", "--warmup", "nan", "--out", out}, tiny...), []string{"--warmup NaN"}},
		{"clip inf", append([]string{"train", "--clip-grad", "inf", "--out", out}, tiny...), []string{"--clip-grad +Inf"}},
		{"label smoothing 1", append([]string{"train", "--label-smoothing", "1", "--out", out}, tiny...), []string{"--label-smoothing 1"}},
		{"epochs 1e9", append([]string{"train", "--out", out}, append(tiny, "--epochs", "1000000000")...), []string{"--epochs 1000000000"}},
		{"noise sigma NaN", append([]string{"train", "--backend", "rns", "--noise-sigma", "NaN", "--out", out}, tiny...), []string{"--noise-sigma NaN", "finite"}},
		{"noise sigma NaN in compare", append([]string{"compare", "--backends", "fp32,rns", "--noise-sigma", "NaN", "--out", out}, tiny...), []string{"--noise-sigma NaN"}},
		{"noise sigma 1e19", append([]string{"train", "--backend", "rns", "--noise-sigma", "1e19", "--out", out}, tiny...), []string{"--noise-sigma 1e+19", "[0, 1e+06]"}},
		{"analog noise inf", append([]string{"train", "--backend", "analog", "--noise-sigma", "inf", "--out", out}, tiny...), []string{"--noise-sigma +Inf"}},
		{"fp32-layers typo", append([]string{"train", "--backend", "rns", "--fp32-layers", "conv1,nosuchlayer", "--out", out}, tiny...),
			[]string{`--fp32-layers "nosuchlayer" matches no layer of lenet`, "conv1, conv2, fc1, fc2, fc3"}},
		{"fp32-layers typo in a compare arm", append([]string{"compare", "--backends", "fp32,rns:fp32-layers=fc9", "--out", out}, tiny...),
			[]string{`arm rns_fp32-layers=fc9: --fp32-layers "fc9" matches no layer of lenet`}},
		{"mlp on imdb", append([]string{"train", "--model", "mlp", "--dataset", "imdb", "--out", out}, tiny...), []string{"model mlp takes image input", "imdb", "--model bert"}},
		{"bert on mnist", append([]string{"train", "--model", "bert", "--dataset", "mnist", "--out", out}, tiny...), []string{"model bert takes text input", "--dataset imdb"}},
		{"0 training images", []string{"train", "--data-dir", empty, "--epochs", "1", "--out", out}, []string{"training set has 0 examples"}},
		{"rrns-redundant 99", append([]string{"train", "--backend", "rns", "--rrns-redundant", "99", "--out", out}, tiny...), []string{`--rrns-redundant "99"`, "count 0..4"}},
		{"rrns-redundant 5", append([]string{"train", "--backend", "rns", "--rrns-redundant", "5", "--out", out}, tiny...), []string{"count 0..4"}},
		{"out under a file", append([]string{"train", "--out", filepath.Join(bigGrid, "run")}, tiny...), []string{"big.yaml", "not a directory"}},
		{"flag with a newline", []string{"train", "--\nrm", "x"}, []string{`\n`}},
		{"train over a finished run", append([]string{"train", "--out", out}, tiny...), []string{"finished run", "--overwrite"}},
		{"negative checkpoint interval", append([]string{"train", "--checkpoint-every", "-3", "--out", out}, tiny...), []string{"--checkpoint-every -3", "≥ 0"}},
		{"sweep row out of range", []string{"sweep", "--spec", nanSpec, "--out", out, "--row", "100000"}, []string{"--row 100000", "[-1, 99999]"}},
		{"zero poll", []string{"sweep", "--spec", nanSpec, "--out", out, "--executor", "slurm", "--wait", "--poll", "0s"}, []string{"--poll 0s", "> 0s"}},
		{"NaN max-parallel", []string{"compare", "--backends", "fp32,rns", "--out", out, "--executor", "slurm", "--max-parallel", "NaN"}, []string{`--max-parallel "NaN"`, "not an integer"}},
		{"cost batch 0", []string{"cost", "--batch-size", "0"}, []string{"--batch-size 0", "[1, 65536]"}},
		{"bench reps 0", []string{"bench", "gemm", "--reps", "0"}, []string{"--reps 0", "≥ 1"}},
		{"bench negative rep time", []string{"bench", "gemm", "--min-rep-time", "-1s"}, []string{"--min-rep-time -1s"}},
		{"bench train steps inf", []string{"bench", "train", "--steps", "inf"}, []string{`--steps "inf"`, "not an integer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seedFinishedRun(t, out)
			before := snapshot(t, out)
			args := overwrite(tc.args...)
			if tc.name == "train over a finished run" {
				args = tc.args // the one train command without --overwrite
			}
			code, _, stderr := runCLI(args...)
			require.NotEqual(t, 0, code, "exit code; stderr %q", stderr)
			line := lastLine(stderr)
			require.NotContains(t, stderr, "goroutine", "looks like a panic")
			require.NotContains(t, stderr, "panic")
			require.True(t, strings.HasPrefix(line, "mirage "), "the error line: %q", line)
			for _, w := range tc.want {
				require.Contains(t, line, w)
			}
			require.Equal(t, before, snapshot(t, out), "the output directory changed")
		})
	}
}

// TestNaNCheckpointIsRefused trains a tiny model, puts a NaN in its
// weights and checks that mirage eval refuses it instead of printing
// "loss NaN, 9.80%".
func TestNaNCheckpointIsRefused(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := runCLI("train", "--epochs", "1", "--train-limit", "50", "--test-limit", "50", "--no-progress", "--out", dir)
	require.Equal(t, 0, code, stderr)
	summary, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	require.NoError(t, err)
	require.Contains(t, string(summary), `"backend_config": {`+"\n"+`    "backend": "fp32"`, "fp32's summary has backend_config like every backend's")
	p := filepath.Join(dir, "model.safetensors")
	tensors, meta, err := checkpoint.Load(p)
	require.NoError(t, err)
	var list []*autograd.Tensor
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		list = append(list, tensors[n])
	}
	tensors["fc3.bias"].Data()[0] = float32(math.Inf(1))
	tensors["conv1.weight"].Data()[3] = float32(math.NaN())
	require.NoError(t, checkpoint.Save(p, list, meta))
	code, _, stderr = runCLI("eval", "--checkpoint", p)
	require.Equal(t, 1, code)
	require.Contains(t, lastLine(stderr), "holds 2 NaN/Inf weights (first in conv1.weight)")
}

// TestSecondWriterIsRefused holds the lock of an output directory in
// another process and checks that sweep, compare and train refuse to write there,
// naming that process's pid, and leave the directory as it was.
func TestSecondWriterIsRefused(t *testing.T) {
	out := t.TempDir()
	holder := exec.Command(os.Args[0], "-test.run=^TestHoldLockHelper$")
	holder.Env = append(os.Environ(), "MIRAGE_TEST_HOLD_LOCK="+out)
	stdin, err := holder.StdinPipe()
	require.NoError(t, err)
	stdout, err := holder.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, holder.Start())
	defer func() {
		stdin.Close() // the helper exits when its stdin closes
		_ = holder.Wait()
	}()
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "locked" {
	}
	pid := fmt.Sprintf("pid %d", holder.Process.Pid)

	spec := writeText(t, filepath.Join(t.TempDir(), "s.yaml"), "name: s\nbase: {model: lenet, epochs: 1, train_limit: 100, test_limit: 50}\nbackend: fp32\n")
	before := snapshot(t, out)
	for _, args := range [][]string{
		{"sweep", "--spec", spec, "--out", out, "--no-progress"},
		{"compare", "--backends", "fp32,bfp", "--epochs", "1", "--train-limit", "100", "--test-limit", "50", "--out", out, "--no-progress"},
		{"train", "--epochs", "1", "--train-limit", "100", "--test-limit", "50", "--out", out, "--no-progress"},
	} {
		code, _, stderr := runCLI(args...)
		require.Equal(t, 1, code, stderr)
		require.Contains(t, lastLine(stderr), "is in use by another process (mirage test, "+pid+")")
		require.Equal(t, before, snapshot(t, out))
	}
}

// TestSecondTrainIsRefused starts a mirage train into a directory in
// another process and, while it trains, a second one into the same
// directory: the second is refused with the first's pid and leaves the
// first's files alone; the first, interrupted, stops cleanly and can be
// resumed.
func TestSecondTrainIsRefused(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	first := exec.Command(os.Args[0], "-test.run=^TestTrainHelper$")
	first.Env = append(os.Environ(), "MIRAGE_TEST_TRAIN_OUT="+out)
	var firstErr strings.Builder
	first.Stderr = &firstErr
	require.NoError(t, first.Start())
	ended := make(chan struct{})
	go func() { _ = first.Wait(); close(ended) }()
	defer func() { _ = first.Process.Kill() }() // if the test fails before it ends
	// The first holds the lock once its lock file names it.
	lockFile := filepath.Join(out, outdir.LockFile)
	for {
		data, _ := os.ReadFile(lockFile)
		if strings.Contains(string(data), "mirage train") {
			break
		}
		select {
		case <-ended:
			t.Fatalf("the first train ended early: %s", firstErr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	before := snapshot(t, out)
	code, _, stderr := runCLI("train", "--epochs", "1", "--train-limit", "100", "--test-limit", "50", "--no-progress", "--out", out, "--overwrite")
	require.Equal(t, 1, code, stderr)
	require.Contains(t, lastLine(stderr), fmt.Sprintf("is in use by another process (mirage train, pid %d)", first.Process.Pid))
	after := snapshot(t, out)
	for name, content := range before {
		if filepath.Base(name) != "metrics.jsonl" { // the first may have finished an epoch meanwhile
			require.Equal(t, content, after[name], "%s changed", name)
		}
	}
	require.NoError(t, first.Process.Signal(os.Interrupt))
	<-ended
	require.Contains(t, firstErr.String(), "resume with", "the first train stopped cleanly: %s", firstErr.String())
}

// TestTrainHelper is the first train of TestSecondTrainIsRefused; it does
// nothing in a normal test run. It trains far longer than the test waits.
func TestTrainHelper(t *testing.T) {
	out := os.Getenv("MIRAGE_TEST_TRAIN_OUT")
	if out == "" {
		t.Skip("helper process only")
	}
	_, _, stderr := runCLI("train", "--epochs", "1000", "--train-limit", "300", "--test-limit", "100", "--no-progress", "--out", out)
	fmt.Fprint(os.Stderr, stderr)
}

// TestHoldLockHelper is the other process of TestSecondWriterIsRefused; it
// does nothing in a normal test run.
func TestHoldLockHelper(t *testing.T) {
	dir := os.Getenv("MIRAGE_TEST_HOLD_LOCK")
	if dir == "" {
		t.Skip("helper process only")
	}
	lock, err := outdir.Acquire(dir, "mirage test")
	require.NoError(t, err)
	defer lock.Release()
	fmt.Println("locked")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
}

// seedFinishedRun puts a finished run's files in dir (once).
func seedFinishedRun(t *testing.T, dir string) {
	if _, err := os.Stat(filepath.Join(dir, "summary.json")); err == nil {
		return
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for name, content := range map[string]string{
		"summary.json": `{"model":"lenet","final_test_acc":0.9923}`, "metrics.jsonl": "{}\n", "model.safetensors": "weights",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
}

// snapshot lists every file under dir with its size and content.
func snapshot(t *testing.T, dir string) map[string]string {
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		files[p] = string(data)
		return err
	})
	require.NoError(t, err)
	return files
}

func lastLine(stderr string) string {
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	return lines[len(lines)-1]
}

func writeText(t *testing.T, p, text string) string {
	require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	return p
}

// writeIDX writes n 28×28 images and labels as raw IDX files named
// prefix-images-idx3-ubyte and prefix-labels-idx1-ubyte.
func writeIDX(t *testing.T, dir, prefix string, n int) {
	require.NoError(t, os.MkdirAll(dir, 0o755))
	images := binary.BigEndian.AppendUint32(nil, 0x803)
	for _, d := range []int{n, 28, 28} {
		images = binary.BigEndian.AppendUint32(images, uint32(d))
	}
	images = append(images, make([]byte, n*28*28)...)
	labels := binary.BigEndian.AppendUint32(nil, 0x801)
	labels = binary.BigEndian.AppendUint32(labels, uint32(n))
	for i := range n {
		labels = append(labels, byte(i%10))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, prefix+"-images-idx3-ubyte"), images, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, prefix+"-labels-idx1-ubyte"), labels, 0o644))
}
