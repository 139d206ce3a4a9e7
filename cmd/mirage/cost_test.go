package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCostCommand: one LeNet step on the default presets, as text and as
// JSON; the JSON's records add up to the GEMMs of a LeNet step.
func TestCostCommand(t *testing.T) {
	code, out, errs := runCLI("cost", "--model", "lenet", "--batch-size", "8")
	require.Equal(t, 0, code, errs)
	require.Contains(t, out, "lenet, batch 8, one training step: 14 GEMM calls")
	require.Contains(t, out, "baseline / accelerator, GEMMs: speedup")
	require.Contains(t, out, "non-GEMM work:")

	code, out, errs = runCLI("cost", "--model", "lenet", "--batch-size", "8", "--json", "--iso", "area", "--baseline", "systolic-int8-256x256")
	require.Equal(t, 0, code, errs)
	var rep struct {
		Iso     string `json:"iso"`
		Records []struct {
			Layer string `json:"layer"`
			Role  string `json:"role"`
			M     int    `json:"m"`
			Count int64  `json:"count"`
		} `json:"records"`
		Accelerator struct {
			GEMM struct {
				Seconds float64 `json:"seconds"`
				Joules  float64 `json:"joules"`
			} `json:"gemm"`
		} `json:"accelerator"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Equal(t, "area", rep.Iso)
	var calls int64
	for _, r := range rep.Records {
		calls += r.Count
	}
	// Five layers × three products, less conv1's input gradient.
	require.EqualValues(t, 14, calls)
	require.Positive(t, rep.Accelerator.GEMM.Seconds)
	require.Positive(t, rep.Accelerator.GEMM.Joules)

	code, out, _ = runCLI("cost", "--show-preset", "mirage-isca24")
	require.Equal(t, 0, code)
	require.Contains(t, out, "[T4]")
}

// TestCostCommandSeveralImageBlocks: at batch 64 LeNet's first
// convolution runs as two blocks of images, so each of its products is two
// GEMMs; the backend's counts and the recorder's still agree (the rns
// backend is a Convolver, which the recorder must not see as one call
// per product).
func TestCostCommandSeveralImageBlocks(t *testing.T) {
	code, out, errs := runCLI("cost", "--model", "lenet", "--batch-size", "64")
	require.Equal(t, 0, code, errs)
	// conv1: forward and dW in 2 blocks each (4 calls); conv2: forward,
	// dX and dW in one block; 3 fully connected layers × 3 products.
	require.Contains(t, out, "lenet, batch 64, one training step: 16 GEMM calls")
}

// TestCostCommandBadInput: one line naming the problem, non-zero exit.
func TestCostCommandBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	data, err := os.ReadFile("../../cost/presets/mirage-isca24.yaml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bad, []byte(strings.Replace(string(data), "adc_pj: 1.15", "adc_pj: -1", 1)), 0o644))
	notJSON := filepath.Join(dir, "cost.json")
	require.NoError(t, os.WriteFile(notJSON, []byte("{"), 0o644))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--model", "vgg"}, "unknown --model"},
		{[]string{"--batch-size", "0"}, "--batch-size 0"},
		{[]string{"--hw", "tpu"}, "unknown hardware preset"},
		{[]string{"--iso", "power"}, "unknown --iso"},
		{[]string{"--params", bad}, "bad.yaml: field converters.adc_pj"},
		{[]string{"--params", filepath.Join(dir, "absent.yaml")}, "cannot read parameter file"},
		{[]string{"--from", notJSON}, "not a cost.json"},
		{[]string{"--show-preset", "x"}, "unknown hardware preset"},
	} {
		code, _, errs := runCLI(append([]string{"cost"}, tc.args...)...)
		require.NotEqual(t, 0, code, "%v", tc.args)
		require.Equal(t, 1, strings.Count(errs, "\n"), "%v: %q", tc.args, errs)
		require.Contains(t, errs, tc.want, "%v", tc.args)
	}
}
