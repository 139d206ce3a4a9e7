package experiment

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// A sweep's Slurm record keeps the number of rows, not the rows; status
// makes task i from the saved spec, and must name the same row as the
// eager plan does. A record that lists its rows (written before) is read
// as it is.
func TestSweepTasksAreMadeFromTheSavedSpec(t *testing.T) {
	out := t.TempDir()
	spec := parseTiny(t)
	rows, err := Plan(spec, testReg())
	require.NoError(t, err)
	data, err := json.Marshal(spec)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(slurmDir(out), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(slurmDir(out), slurmSpecFile), data, 0o644))

	tasks, err := sweepTasks(out, testReg())(&slurmRecord{Kind: "sweep", TaskCount: len(rows)})
	require.NoError(t, err)
	require.Equal(t, len(rows), tasks.Len())
	for i, r := range rows {
		require.Equal(t, slurmTask{Index: i, ID: r.ID, Label: r.Label()}, tasks.Task(i))
	}

	old := []slurmTask{{Index: 0, ID: "abc", Label: "old"}}
	tasks, err = sweepTasks(out, testReg())(&slurmRecord{Kind: "sweep", Tasks: old})
	require.NoError(t, err)
	require.Equal(t, listedTasks(old), tasks)

	_, err = sweepTasks(out, testReg())(&slurmRecord{Kind: "sweep", TaskCount: len(rows) + 1})
	require.ErrorContains(t, err, "plans 4 rows but 5 were submitted")

	require.NoError(t, os.Remove(filepath.Join(slurmDir(out), slurmSpecFile)))
	_, err = sweepTasks(out, testReg())(&slurmRecord{Kind: "sweep", TaskCount: len(rows)})
	require.ErrorContains(t, err, "submit the sweep again")
}

// lastJob finds the latest submission of a task among sorted indices, and
// readSlurmRecord sorts indices a hand-edited record has out of order.
func TestLastJobIsTheLatestSubmissionOfTheTask(t *testing.T) {
	out := t.TempDir()
	require.NoError(t, os.MkdirAll(slurmDir(out), 0o755))
	require.NoError(t, writeSlurmRecord(out, &slurmRecord{Kind: "sweep", TaskCount: 10, Jobs: []slurmJob{
		{Array: "1", Indices: []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{Array: "2", Indices: []int{7, 3, 5}},
	}}))
	rec, err := readSlurmRecord(out)
	require.NoError(t, err)
	for i, want := range []string{"1", "1", "1", "2", "1", "2", "1", "2", "1", "1"} {
		require.Equal(t, want, rec.lastJob(i).Array, "task %d", i)
	}
	require.Nil(t, rec.lastJob(10))
}
