package main

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(testReg(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// Bad input gives a one-line error naming the problem (and the valid
// choices where there is a list), a non-zero exit code, and no panic.
func TestBadInputIsAOneLineError(t *testing.T) {
	dir := t.TempDir()
	// A truncated MNIST image file next to valid-looking label files.
	truncated := filepath.Join(dir, "truncated")
	require.NoError(t, os.MkdirAll(truncated, 0o755))
	writeGz(t, filepath.Join(truncated, "train-images-idx3-ubyte.gz"), []byte{0, 0, 8, 3, 0, 0, 0xea, 0x60, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2, 3})
	corrupt := filepath.Join(dir, "corrupt")
	require.NoError(t, os.MkdirAll(corrupt, 0o755))
	for _, f := range []string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"} {
		require.NoError(t, os.WriteFile(filepath.Join(corrupt, f), []byte("this is not an IDX file at all"), 0o644))
	}
	notSafetensors := filepath.Join(dir, "model.safetensors")
	require.NoError(t, os.WriteFile(notSafetensors, []byte("garbage"), 0o644))

	for _, tc := range []struct {
		name string
		args []string
		want []string // substrings of the error line
	}{
		{"unknown command", []string{"fly"}, []string{`unknown command "fly"`, "train"}},
		{"unknown model", []string{"train", "--model", "vgg"}, []string{`"vgg"`, "lenet", "resnet20"}},
		{"unknown backend", []string{"train", "--backend", "tpu"}, []string{`"tpu"`, "fp32"}},
		{"unknown dataset", []string{"train", "--dataset", "svhn"}, []string{`"svhn"`, "mnist", "cifar10"}},
		{"negative epochs", []string{"train", "--epochs", "-1"}, []string{"--epochs", "must be in [1, "}},
		{"non-numeric batch", []string{"train", "--batch-size", "many"}, []string{"batch-size", "many"}},
		{"unknown flag", []string{"train", "--learning-rate", "1"}, []string{"learning-rate"}},
		{"bad schedule", []string{"train", "--schedule", "zigzag"}, []string{`"zigzag"`, "cosine"}},
		{"missing data dir", []string{"train", "--data-dir", filepath.Join(dir, "nope")}, []string{"nope"}},
		{"truncated idx", []string{"train", "--data-dir", truncated}, []string{"train-images-idx3-ubyte"}},
		{"corrupt idx", []string{"train", "--data-dir", corrupt}, []string{"idx"}},
		{"eval without checkpoint", []string{"eval"}, []string{"--checkpoint"}},
		{"eval missing file", []string{"eval", "--checkpoint", filepath.Join(dir, "none.safetensors")}, []string{"none.safetensors"}},
		{"eval corrupt checkpoint", []string{"eval", "--checkpoint", notSafetensors}, []string{"model.safetensors"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(tc.args...)
			require.NotEqual(t, 0, code, "exit code")
			line := strings.TrimRight(stderr, "\n")
			require.NotContains(t, line, "\n", "error must be one line: %q", stderr)
			require.NotContains(t, line, "goroutine", "looks like a panic")
			for _, w := range tc.want {
				require.Contains(t, strings.ToLower(line), strings.ToLower(w))
			}
		})
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, cmd := range []string{"train", "eval"} {
		code, stdout, _ := runCLI(cmd, "--help")
		require.Equal(t, 0, code)
		require.Contains(t, stdout, "Usage: mirage "+cmd)
	}
	code, stdout, _ := runCLI("help")
	require.Equal(t, 0, code)
	require.Contains(t, stdout, "train")
	require.Contains(t, stdout, "fetch NAME", "the usage names every data action")
}

// The backends' noise seed defaults to the run's --seed (train.NewBackend),
// and the help must say so rather than print the option's own default.
func TestNoiseSeedHelpNamesTheRunSeed(t *testing.T) {
	code, stdout, _ := runCLI("train", "--help")
	require.Equal(t, 0, code)
	i := strings.Index(stdout, "-noise-seed")
	require.GreaterOrEqual(t, i, 0, stdout)
	entry, _, _ := strings.Cut(stdout[i:], "\n  -")
	require.Contains(t, entry, "default: the value of --seed")
	require.NotContains(t, entry, "(default 1)")
}

func writeGz(t *testing.T, path string, data []byte) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(data)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
}
