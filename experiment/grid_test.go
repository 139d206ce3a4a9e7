package experiment

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// The committed sweeps' plan.json files either list the rows that the
// eager planner (every row held) made of their specs, or (written lazily)
// give the row count and a digest of the row IDs. A grid makes each row
// from its index alone; it must make the same rows, the same IDs, in the
// same order.
func TestGridMakesTheRowsOfCommittedPlans(t *testing.T) {
	plans, err := filepath.Glob("../results/sweep-*/plan.json")
	require.NoError(t, err)
	require.NotEmpty(t, plans)
	for _, path := range plans {
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		var plan struct {
			Spec     *Spec           `json:"spec"`
			Rows     json.RawMessage `json:"rows"`
			RowCount int             `json:"row_count"`
			RowIDs   string          `json:"row_ids_sha256"`
		}
		require.NoError(t, json.Unmarshal(data, &plan))
		g, err := PlanGrid(plan.Spec, testReg())
		require.NoError(t, err, path)
		var rows []Row
		if json.Unmarshal(plan.Rows, &rows) != nil {
			// Written lazily: the rows are described, not listed.
			require.NotEmpty(t, plan.RowIDs, path)
			require.Equal(t, plan.RowCount, g.Len(), path)
			d := newRowDigest()
			for i := range g.Len() {
				d.add(g.Row(i))
			}
			require.Equal(t, plan.RowIDs, d.String(), "%s: row IDs", path)
			continue
		}
		require.Equal(t, len(rows), g.Len(), path)
		for i, want := range rows {
			got := g.Row(i)
			require.Equal(t, want.ID, got.ID, "%s row %d", path, i)
			require.Equal(t, want.Knobs, got.Knobs, "%s row %d", path, i)
			require.Equal(t, want.Group, got.Group, "%s row %d", path, i)
			require.Equal(t, i, got.Index)
		}
	}
}

// A sweep interrupted while its rows are still being checked stops there,
// having run and written nothing.
func TestSweepInterruptedWhilePlanningWritesNothing(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := SweepContext(ctx, SweepConfig{Spec: parseTiny(t), Out: out, Registries: testReg()}, io.Discard)
	require.EqualError(t, err, "interrupted while checking the sweep's rows; nothing was run or written")
	require.NoDirExists(t, out)
}
