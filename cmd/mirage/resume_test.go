package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/datasets/cifar"
	"github.com/mirage-go/mirage/train"
)

// TestResumedEqualsUninterrupted runs the real binary: a run killed with
// SIGKILL at a random step inside an epoch and resumed (by rerunning the
// same command) ends with the same weights (SHA-256), the same
// metrics.jsonl apart from timing fields and the same summary.json apart
// from the wall time as a run that was never interrupted; so does a run
// stopped by SIGINT and resumed with the command it prints. fp32 and rns
// with frequent readout errors and stochastic rounding (so that the noise
// and rounding generators and the backend statistics really are restored),
// LeNet on MNIST and ResNet-20 with augmentation on a small synthetic
// CIFAR-10, whose batches are read with random crops and flips.
func TestResumedEqualsUninterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and trains a few hundred steps; run without -short")
	}
	bin := filepath.Join(t.TempDir(), "mirage")
	build := exec.Command("go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))
	cifarDir := writeTinyCIFAR(t)

	lenet := []string{"--model", "lenet", "--train-limit", "320", "--test-limit", "200", "--batch-size", "16", "--epochs", "2"}
	resnet := []string{"--model", "resnet20", "--dataset", "cifar10", "--data-dir", cifarDir, "--train-limit", "40", "--batch-size", "8", "--epochs", "2", "--test-limit", "16"}
	rns := []string{"--backend", "rns", "--noise-sigma", "0.12", "--rounding", "stochastic"}
	rng := rand.New(rand.NewPCG(13, 16)) // the kill points: reproducible, and different for every case
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"lenet-fp32", lenet},
		{"lenet-rns", append(append([]string{}, lenet...), rns...)},
		{"resnet20-fp32", resnet},
		{"resnet20-rns", append(append([]string{}, resnet...), rns...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			ref := filepath.Join(root, "uninterrupted")
			mustRun(t, bin, append(tc.args, "--out", ref, "--no-progress")...)

			// The same command, killed inside an epoch after a random
			// number of steps, then run again until it finishes.
			dir := filepath.Join(root, "killed")
			args := append(tc.args, "--out", dir, "--no-progress", "--checkpoint-every", "2")
			total := stepsOf(t, ref)
			target := 3 + rng.IntN(total-6)
			pos := killAt(t, bin, args, dir, target)
			t.Logf("killed after a state at epoch %d step %d (target global step %d of %d)", pos.Epoch, pos.Batch, target, total)
			stderr := mustRun(t, bin, args...)
			require.Contains(t, stderr, fmt.Sprintf("resuming %s from epoch %d step %d", dir, pos.Epoch, pos.Batch))
			requireSameRun(t, ref, dir)
			require.NoFileExists(t, filepath.Join(dir, train.StateFile), "a finished run keeps no state")
			if strings.Contains(tc.name, "rns") {
				requireResidueErrors(t, ref)
			}
		})
	}

	t.Run("sigint", func(t *testing.T) {
		root := t.TempDir()
		ref := filepath.Join(root, "uninterrupted")
		mustRun(t, bin, append(lenet, "--out", ref, "--no-progress")...)
		dir := filepath.Join(root, "interrupted")
		cmd := exec.Command(bin, append([]string{"train", "--out", dir, "--no-progress", "--checkpoint-every", "1"}, lenet...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		waitForState(t, cmd, dir, 5)
		require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
		err := cmd.Wait()
		var exit *exec.ExitError
		require.True(t, errors.As(err, &exit), "exit with an error after SIGINT: %v\n%s", err, stderr.String())
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		last := lines[len(lines)-1]
		require.Contains(t, last, "interrupted at epoch")
		_, resume, ok := strings.Cut(last, "resume with: ")
		require.True(t, ok, "the last line says how to resume: %s", last)
		require.Equal(t, "mirage train --resume "+dir+" --checkpoint-every 1", resume)
		fields := strings.Fields(resume)
		mustRun(t, bin, fields[2:]...)
		requireSameRun(t, ref, dir)
	})

	t.Run("sigterm-compare", func(t *testing.T) {
		root := t.TempDir()
		args := func(out string) []string {
			return []string{"compare", "--backends", "fp32,bfp:rounding=stochastic", "--out", out, "--no-progress", "--checkpoint-every", "1",
				"--model", "mlp", "--train-limit", "320", "--test-limit", "100", "--batch-size", "16", "--epochs", "2"}
		}
		ref := filepath.Join(root, "uninterrupted")
		cmd := exec.Command(bin, args(ref)...)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))

		dir := filepath.Join(root, "interrupted")
		cmd = exec.Command(bin, args(dir)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		arm := filepath.Join(dir, "bfp_rounding=stochastic")
		waitForState(t, cmd, arm, 3)
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		var exit *exec.ExitError
		require.True(t, errors.As(cmd.Wait(), &exit), stderr.String())
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		last := lines[len(lines)-1]
		require.Contains(t, last, "mirage compare: arm bfp_rounding=stochastic: interrupted at epoch")
		_, resume, ok := strings.Cut(last, "resume with: ")
		require.True(t, ok, last)
		require.Equal(t, "mirage "+strings.Join(args(dir), " "), strings.ReplaceAll(resume, "'", ""))
		cmd = exec.Command(bin, args(dir)...)
		out, err = cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		require.Contains(t, string(out), "resuming "+arm)
		for _, label := range []string{"fp32", "bfp_rounding=stochastic"} {
			requireSameRun(t, filepath.Join(ref, label), filepath.Join(dir, label))
		}
	})
}

// mustRun runs the binary's train command and returns its stderr.
func mustRun(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"train"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	return stderr.String()
}

// stepsOf returns the number of optimizer steps of the finished run in dir.
func stepsOf(t *testing.T, dir string) int {
	s, err := train.ReadSummary(dir)
	require.NoError(t, err)
	n := min(s.Config.TrainLimit, 50000)
	if n == 0 {
		n = 50 // writeTinyCIFAR's training set
	}
	return s.Config.Epochs * ((n + s.Config.BatchSize - 1) / s.Config.BatchSize)
}

// statePosition reads the position and global step of dir's state file.
type statePosition struct {
	Epoch, Batch, Step int
}

// Only the header is read, so that polling does not compete with the run
// for the CPU.
func readPosition(dir string) (statePosition, error) {
	f, err := os.Open(filepath.Join(dir, train.StateFile))
	if err != nil {
		return statePosition{}, err
	}
	defer f.Close()
	var size [8]byte
	if _, err := io.ReadFull(f, size[:]); err != nil {
		return statePosition{}, err
	}
	header := make([]byte, binary.LittleEndian.Uint64(size[:]))
	if _, err := io.ReadFull(f, header); err != nil {
		return statePosition{}, err
	}
	var meta struct {
		Metadata map[string]string `json:"__metadata__"`
	}
	if err := json.Unmarshal(header, &meta); err != nil {
		return statePosition{}, err
	}
	var st struct {
		Position struct{ Epoch, Batch int }
		Step     int
	}
	if err := json.Unmarshal([]byte(meta.Metadata["mirage.state"]), &st); err != nil {
		return statePosition{}, err
	}
	return statePosition{st.Position.Epoch, st.Position.Batch, st.Step}, nil
}

// waitForState waits until dir holds a state of at least step steps
// written inside an epoch, failing if the process ends first.
func waitForState(t *testing.T, cmd *exec.Cmd, dir string, step int) statePosition {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if p, err := readPosition(dir); err == nil && p.Step >= step && p.Batch > 0 {
			return p
		}
		if _, err := os.Stat(filepath.Join(dir, "summary.json")); err == nil {
			t.Fatalf("the run finished before a state of step %d inside an epoch was seen", step)
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("no state of step %d in %s after two minutes", step, dir)
	return statePosition{}
}

// killAt starts the binary, SIGKILLs it once a state of at least step
// steps inside an epoch exists, and returns the position of the state left
// behind (the process may have gone on a few steps after it).
func killAt(t *testing.T, bin string, args []string, dir string, step int) statePosition {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"train"}, args...)...)
	require.NoError(t, cmd.Start())
	waitForState(t, cmd, dir, step)
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	require.NoFileExists(t, filepath.Join(dir, "summary.json"), "killed before the end")
	p, err := readPosition(dir)
	require.NoError(t, err)
	return p
}

// requireSameRun compares two finished run directories: the weights bit
// for bit, the metrics and the summary apart from timings.
func requireSameRun(t *testing.T, want, got string) {
	t.Helper()
	require.Equal(t, sha256File(t, filepath.Join(want, "model.safetensors")), sha256File(t, filepath.Join(got, "model.safetensors")),
		"model.safetensors differs")
	wm, gm := jsonLines(t, filepath.Join(want, "metrics.jsonl")), jsonLines(t, filepath.Join(got, "metrics.jsonl"))
	require.Len(t, gm, len(wm))
	for i := range wm {
		for _, timing := range []string{"seconds", "images_per_sec"} {
			require.Contains(t, wm[i], timing)
			delete(wm[i], timing)
			delete(gm[i], timing)
		}
		require.Equal(t, wm[i], gm[i], "metrics.jsonl line %d", i+1)
	}
	ws, gs := jsonLines(t, filepath.Join(want, "summary.json")), jsonLines(t, filepath.Join(got, "summary.json"))
	require.Contains(t, ws[0], "wall_seconds")
	delete(ws[0], "wall_seconds")
	delete(gs[0], "wall_seconds")
	require.Equal(t, ws[0], gs[0], "summary.json (backend statistics included)")
}

func requireResidueErrors(t *testing.T, dir string) {
	t.Helper()
	s := jsonLines(t, filepath.Join(dir, "summary.json"))[0]
	total := s["backend_stats"].(map[string]any)["total"].(map[string]any)
	require.Greater(t, total["residue_errors"], 0.0, "the noise must cause readout errors for the test to check its generator")
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// jsonLines reads a JSON-lines file (or one JSON document) into maps.
func jsonLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []map[string]any
	dec := json.NewDecoder(bufio.NewReader(bytes.NewReader(data)))
	for dec.More() {
		var m map[string]any
		require.NoError(t, dec.Decode(&m))
		out = append(out, m)
	}
	return out
}

// writeTinyCIFAR writes a CIFAR-10 in the official binary form with 20
// random images per training batch (50 in all) and 20 test images.
func writeTinyCIFAR(t *testing.T) string {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(10, 32))
	batch := func(name string, n int) {
		var im cifar.Images
		for k := range n {
			pix := make([]byte, cifar.ImageBytes)
			for i := range pix {
				pix[i] = byte(rng.IntN(256))
			}
			im.Labels = append(im.Labels, uint8(k%cifar.NumClasses))
			im.Pixels = append(im.Pixels, pix)
		}
		var buf bytes.Buffer
		require.NoError(t, cifar.WriteBinary(&buf, im))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644))
	}
	for _, name := range cifar.TrainBatchNames() {
		batch(name, 10)
	}
	batch(cifar.TestBatchName, 20)
	return dir
}

// Flag combinations around resuming that cannot work are refused before
// anything is trained or written.
func TestTrainResumeFlagErrors(t *testing.T) {
	dir := t.TempDir()
	finished := filepath.Join(dir, "finished")
	require.NoError(t, os.MkdirAll(finished, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(finished, "summary.json"), []byte(`{"model":"lenet","final_test_acc":0.99}`), 0o644))
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"nothing to resume", []string{"train", "--resume", filepath.Join(dir, "empty")}, 1, "holds no resumable state"},
		{"finished", []string{"train", "--resume", finished}, 1, "holds a finished run: there is nothing to resume"},
		{"resume and overwrite", []string{"train", "--resume", finished, "--overwrite"}, 2, "--resume and --overwrite contradict"},
		{"resume and another out", []string{"train", "--resume", finished, "--out", dir}, 2, "name different directories"},
		{"negative checkpoint interval", []string{"train", "--checkpoint-every", "-1", "--out", dir}, 2, "invalid --checkpoint-every -1"},
		{"checkpoints without out", []string{"train", "--checkpoint-every", "5"}, 2, "--checkpoint-every needs --out"},
		{"overwrite without out", []string{"train", "--overwrite"}, 2, "--overwrite needs --out"},
		{"out is a file", []string{"train", "--out", filepath.Join(finished, "summary.json")}, 1, "is a file, not a directory"},
		{"compare: negative interval", []string{"compare", "--checkpoint-every", "-2", "--out", dir}, 2, "invalid --checkpoint-every -2"},
		{"sweep: negative interval", []string{"sweep", "--checkpoint-every", "-3", "--spec", "x.yaml", "--out", dir}, 2, "invalid --checkpoint-every -3"},
		{"finished run is not overwritten", []string{"train", "--out", finished, "--train-limit", "10", "--test-limit", "10"}, 1, "holds a finished run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(tc.args...)
			require.Equal(t, tc.code, code, stderr)
			require.Contains(t, stderr, tc.want)
			require.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
		})
	}
	data, err := os.ReadFile(filepath.Join(finished, "summary.json"))
	require.NoError(t, err)
	require.Contains(t, string(data), "0.99", "the finished run is untouched")
}
