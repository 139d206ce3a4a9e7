package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBenchGEMMJSON(t *testing.T) {
	var out bytes.Buffer
	err := benchGEMMCommand([]string{"--json", "--shapes", "8x9x10,3x4x5:tA", "--reps", "1", "--min-rep-time", "1ms"}, &out, io.Discard)
	require.NoError(t, err)
	var rows []map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &rows))
	require.GreaterOrEqual(t, len(rows), 4, "mirage and gonum on two shapes")
	impls := map[string]bool{}
	for _, r := range rows {
		require.ElementsMatch(t, []string{"impl", "m", "n", "k", "gflops"}, keys(r))
		impls[r["impl"].(string)] = true
		require.Greater(t, r["gflops"].(float64), 0.0)
	}
	require.True(t, impls["mirage"] && impls["gonum"], "got %v", impls)
	require.Equal(t, map[string]any{"impl": "mirage", "m": 8.0, "n": 9.0, "k": 10.0}, without(rows[0], "gflops"))
}

func TestBenchGEMMBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--reps", "0"},
		{"--shapes", "1x2"},
		{"--min-rep-time", "-1s"},
		{"--nope"},
		{"extra"},
	} {
		err := benchGEMMCommand(args, io.Discard, io.Discard)
		require.Error(t, err, "%v", args)
		require.True(t, errors.As(err, new(usageError)), "%v: %v is not a usage error", args, err)
	}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func without(m map[string]any, key string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}
