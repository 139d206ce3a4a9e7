package experiment

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mirage-go/mirage/train"
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

// --checkpoint-every reaches every Slurm task: a comparison's plan keeps
// it (a run's configuration leaves it out of its JSON), and a sweep's task
// command passes it on. Without it the tasks saved their state only at the
// end of each epoch.
func TestSlurmTasksKeepTheCheckpointInterval(t *testing.T) {
	for _, every := range []int{0, 100} {
		out := t.TempDir()
		cfg := CompareConfig{
			Base: train.Config{Model: "lenet", Dataset: "mnist", Backend: "fp32", Epochs: 1, BatchSize: 32, CheckpointEvery: every},
			Arms: []Arm{{Label: "fp32", Backend: "fp32"}},
		}
		plan, err := marshalComparePlan(cfg)
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(slurmDir(out), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(slurmDir(out), slurmCompareFile), plan, 0o644))
		got, err := ComparePlan(out, testReg())
		require.NoError(t, err)
		require.Equal(t, every, got.Base.CheckpointEvery)

		args, err := sweepTaskArgs(SlurmOptions{Executable: "/opt/mirage"}, out, SweepConfig{CheckpointEvery: every})
		require.NoError(t, err)
		if every > 0 {
			require.Contains(t, strings.Join(args, " "), " --checkpoint-every 100")
		} else {
			require.NotContains(t, args, "--checkpoint-every")
		}
	}
}
