package experiment

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A row that failed and then succeeded keeps only its last line, so that
// results.jsonl holds no stale "failed" row; other rows keep their order.
func TestCompactResultsDropsStaleRows(t *testing.T) {
	p := filepath.Join(t.TempDir(), "results.jsonl")
	lines := []string{
		`{"id":"a","status":"failed","error":"disk full"}`,
		`{"id":"b","status":"ok"}`,
		`{"id":"a","status":"ok"}`,
	}
	require.NoError(t, os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	require.NoError(t, compactResults(p))
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, lines[1]+"\n"+lines[2]+"\n", string(data))

	rows, err := parseResultRows(data, p)
	require.NoError(t, err)
	require.Equal(t, Status("ok"), rows["a"].Status)

	// Nothing to compact: the file is not rewritten.
	info, err := os.Stat(p)
	require.NoError(t, err)
	require.NoError(t, compactResults(p))
	again, err := os.Stat(p)
	require.NoError(t, err)
	require.Equal(t, info.ModTime(), again.ModTime())
	require.NoError(t, compactResults(filepath.Join(t.TempDir(), "none.jsonl")))
}
