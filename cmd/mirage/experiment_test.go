package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCompareCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "ab")
	var stdout, stderr bytes.Buffer
	err := compareCommand(testReg(), []string{"--model", "mlp", "--epochs", "1", "--train-limit", "256", "--test-limit", "128",
		"--backends", "fp32,bfp:bfp-bits=5", "--tile", "64", "--out", out}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	require.Contains(t, stdout.String(), "bfp_bfp-bits=5")
	require.Contains(t, stdout.String(), "report: "+filepath.Join(out, "report.md"))
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	require.NoError(t, err)
	require.Contains(t, string(md), "mirage compare --model mlp", "the report records how to regenerate it")
	require.Contains(t, string(md), "`bfp-bits=5 tile=64`", "the shared --tile reaches the bfp arm")
}

func TestCompareAndSweepUsageErrors(t *testing.T) {
	dir := t.TempDir()
	badSpec := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(badSpec, []byte("base: {model: mlp}\nbackend: rns\ngrid: {rns-moduli: [\"6,9,10\"]}\n"), 0o644))
	for _, tc := range []struct {
		name  string
		cmd   func([]string, *bytes.Buffer, *bytes.Buffer) error
		args  []string
		want  string
		usage bool
	}{
		{"compare without --out", runCompare, []string{"--backends", "fp32"}, "--out is required", true},
		{"unknown backend", runCompare, []string{"--backends", "fp32,tpu", "--out", dir}, `unknown backend "tpu"`, true},
		{"option no arm has", runCompare, []string{"--backends", "fp32,bfp", "--adc-bits", "8", "--out", dir}, "--adc-bits applies to none", true},
		{"bad epochs", runCompare, []string{"--epochs", "0", "--out", dir}, "--epochs 0", true},
		{"sweep without --spec", runSweep, []string{"--out", dir}, "--spec is required", true},
		{"missing spec", runSweep, []string{"--spec", filepath.Join(dir, "none.yaml"), "--out", dir}, "none.yaml", false},
		{"invalid moduli", runSweep, []string{"--spec", badSpec, "--out", filepath.Join(dir, "s")}, "coprime", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := tc.cmd(tc.args, &stdout, &stderr)
			require.ErrorContains(t, err, tc.want)
			require.Equal(t, tc.usage, errors.As(err, new(usageError)), "usage error (exit code 2) or not")
		})
	}
	require.NoDirExists(t, filepath.Join(dir, "s"), "a bad spec runs nothing")
}

// Every example spec in sweeps/ expands into valid runs.
func TestExampleSweepSpecsAreValid(t *testing.T) {
	specs, err := filepath.Glob(filepath.Join("..", "..", "sweeps", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, specs)
	for _, path := range specs {
		t.Run(filepath.Base(path), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			require.NoError(t, sweepCommand(testReg(), []string{"--spec", path, "--dry-run"}, &stdout, &stderr))
			require.Contains(t, stdout.String(), "all valid")
		})
	}
}

func runCompare(args []string, stdout, stderr *bytes.Buffer) error {
	return compareCommand(testReg(), args, stdout, stderr)
}

func runSweep(args []string, stdout, stderr *bytes.Buffer) error {
	return sweepCommand(testReg(), args, stdout, stderr)
}
