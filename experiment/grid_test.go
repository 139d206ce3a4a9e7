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

// The committed sweeps' plan.json files list the rows that the eager
// planner (every row held) made of their specs. A grid makes each row from
// its index alone; it must make the same rows, the same IDs, in the same
// order.
func TestGridMakesTheRowsOfCommittedPlans(t *testing.T) {
	plans, err := filepath.Glob("../results/sweep-*/plan.json")
	require.NoError(t, err)
	require.NotEmpty(t, plans)
	for _, path := range plans {
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		var plan struct {
			Spec *Spec `json:"spec"`
			Rows []Row `json:"rows"`
		}
		require.NoError(t, json.Unmarshal(data, &plan))
		if len(plan.Rows) == 0 {
			continue // a plan written lazily lists no rows
		}
		g, err := PlanGrid(plan.Spec, testReg())
		require.NoError(t, err, path)
		require.Equal(t, len(plan.Rows), g.Len(), path)
		for i, want := range plan.Rows {
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
