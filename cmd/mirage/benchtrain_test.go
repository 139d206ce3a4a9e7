package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBenchTrainJSON(t *testing.T) {
	var out bytes.Buffer
	err := benchTrainCommand(testReg(), []string{"--json", "--cases", "lenet:2", "--backends", "fp32,bfp",
		"--warmup", "1", "--steps", "1", "--reps", "1"}, &out, io.Discard)
	require.NoError(t, err)
	var rows []map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &rows))
	require.Len(t, rows, 2, "one row per case and backend")
	for i, backend := range []string{"fp32", "bfp"} {
		require.Equal(t, "lenet", rows[i]["model"])
		require.Equal(t, 2.0, rows[i]["batch"])
		require.Equal(t, backend, rows[i]["backend"])
		require.Greater(t, rows[i]["examples_per_sec"].(float64), 0.0)
	}
}

// A backend with options is measured with them and named as compare names
// its arm; the plain fp32 stays the reference of the ratios.
func TestBenchTrainBackendOptions(t *testing.T) {
	var out bytes.Buffer
	err := benchTrainCommand(testReg(), []string{"--cases", "lenet:2", "--backends", "fp32,bfp:bfp-bits=5:rounding=stochastic",
		"--warmup", "1", "--steps", "1", "--reps", "1"}, &out, io.Discard)
	require.NoError(t, err)
	require.Regexp(t, `lenet\s+2\s+bfp_bfp-bits=5_rounding=stochastic\s.*\d+\.\d+x`, out.String())
}

func TestBenchTrainTable(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, benchTrainCommand(testReg(), []string{"--cases", "lenet:2", "--warmup", "1", "--steps", "1", "--reps", "1"}, &out, io.Discard))
	require.Contains(t, out.String(), "examples/s")
	require.Contains(t, out.String(), "lenet")
}

func TestBenchTrainBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--reps", "0"},
		{"--steps", "-1"},
		{"--warmup", "0"},
		{"--cases", "lenet"},
		{"--cases", "alexnet:8"},
		{"--backends", "tpu"},
		{"--backends", ","},
		{"--backends", "fp32,rns:noise-sigma=NaN"},
		{"--backends", "fp32,bfp:adc-bits=8"},
		{"--nope"},
		{"extra"},
	} {
		err := benchTrainCommand(testReg(), args, io.Discard, io.Discard)
		require.Error(t, err, "%v", args)
		require.True(t, errors.As(err, new(usageError)), "%v: %v is not a usage error", args, err)
	}
}
