package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/experiment"
	"github.com/mirage-go/mirage/train"
)

// The tests here that submit jobs need a running Slurm (scripts/slurm-up.sh
// starts a single-node one; .ci/run does so before the tests) and skip with
// a message otherwise. They build the mirage binary, because Slurm's tasks
// run it.

func requireSlurm(t *testing.T) {
	t.Helper()
	out, err := exec.Command("scontrol", "ping").CombinedOutput()
	if err != nil || !strings.Contains(string(out), " is UP") {
		t.Skipf("SKIPPED: Slurm is not running here (scontrol ping: %v %s); start it with scripts/slurm-up.sh", err, strings.TrimSpace(string(out)))
	}
	// Other jobs on the (single-node) test cluster would hold its CPUs and
	// leave this test's jobs pending until go test's timeout: say so at
	// once instead.
	out, err = exec.Command("squeue", "-h", "-t", "RUNNING,PENDING", "-o", "%i %j").CombinedOutput()
	require.NoError(t, err, "squeue: %s", out)
	if jobs := strings.TrimSpace(string(out)); jobs != "" {
		t.Fatalf("the Slurm cluster is busy with other jobs, which this test's jobs would wait behind:\n%s\nrun it when they are done (or cancel them)", jobs)
	}
}

func buildMirage(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mirage")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// mirageCmd runs the binary and returns its stdout, stderr and exit code.
func mirageCmd(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		require.True(t, ok, "running mirage: %v", err)
		code = ee.ExitCode()
	}
	return stdout.String(), stderr.String(), code
}

// tinyLeNetSweep is four LeNet rows on 320 MNIST images, one epoch each:
// an FP32 baseline and block floating point at three widths.
const tinyLeNetSweep = `
name: tiny-lenet
base: {model: lenet, dataset: mnist, epochs: 1, batch_size: 32, train_limit: 320, test_limit: 200}
groups:
  - name: baseline
    backend: fp32
  - name: bfp
    backend: bfp
    grid: {bfp-bits: [4, 6, 8]}
`

func writeSpec(t *testing.T, text string) string {
	path := filepath.Join(t.TempDir(), "spec.yaml")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

func readResults(t *testing.T, dir string) map[string]experiment.ResultRow {
	data, err := os.ReadFile(filepath.Join(dir, "results.jsonl"))
	require.NoError(t, err)
	rows := map[string]experiment.ResultRow{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r experiment.ResultRow
		require.NoError(t, json.Unmarshal([]byte(line), &r))
		rows[r.ID] = r // the last line of a row wins, as for the sweep
	}
	return rows
}

type slurmRecordView struct {
	Jobs []struct {
		Array   string `json:"array_job"`
		Indices []int  `json:"indices"`
	} `json:"jobs"`
}

func readRecord(t *testing.T, dir string) slurmRecordView {
	data, err := os.ReadFile(filepath.Join(dir, "slurm", "record.json"))
	require.NoError(t, err)
	var r slurmRecordView
	require.NoError(t, json.Unmarshal(data, &r))
	return r
}

// stamps reads the start and end times the job script of each task of
// array job job recorded.
func stamps(t *testing.T, dir, job string, n int) (start, end []float64) {
	for i := 0; i < n; i++ {
		var s, e float64
		var code int
		data, err := os.ReadFile(filepath.Join(dir, "slurm", "state", strconv.Itoa(i)+"."+job+".start"))
		require.NoError(t, err)
		_, err = fmt.Sscan(string(data), &s)
		require.NoError(t, err)
		data, err = os.ReadFile(filepath.Join(dir, "slurm", "state", strconv.Itoa(i)+"."+job+".exit"))
		require.NoError(t, err)
		_, err = fmt.Sscan(string(data), &code, &e)
		require.NoError(t, err)
		require.Equal(t, 0, code)
		start, end = append(start, s), append(end, e)
	}
	return start, end
}

func TestSlurmSweep(t *testing.T) {
	requireSlurm(t)
	bin := buildMirage(t)
	const poll = "--poll=300ms"

	t.Run("rows equal the local executor's, one task at a time", func(t *testing.T) {
		spec := writeSpec(t, tinyLeNetSweep)
		dir := filepath.Join(t.TempDir(), "slurm")
		stdout, stderr, code := mirageCmd(t, bin, "sweep", "--spec", spec, "--out", dir, "--executor", "slurm", "--max-parallel", "1", "--wait", poll)
		require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		require.Contains(t, stdout, "4 rows: 4 done, 0 failed, 0 running, 0 pending")
		md, err := os.ReadFile(filepath.Join(dir, "report.md"))
		require.NoError(t, err)
		require.Contains(t, string(md), "--executor slurm --max-parallel 1", "the report names the submitting command")
		script, err := os.ReadFile(filepath.Join(dir, "slurm", "sweep-1.sh"))
		require.NoError(t, err, "the submitted script is kept")
		require.Contains(t, string(script), "#SBATCH --array=0-3%1\n")

		local := t.TempDir()
		data, err := os.ReadFile(spec)
		require.NoError(t, err)
		parsed, err := experiment.ParseSpec(data, spec)
		require.NoError(t, err)
		_, err = experiment.Sweep(experiment.SweepConfig{Registries: testReg(), Spec: parsed, Out: local}, io.Discard)
		require.NoError(t, err)
		want, got := readResults(t, local), readResults(t, dir)
		require.Len(t, got, 4)
		for id, w := range want {
			g, ok := got[id]
			require.True(t, ok, "row %s ran on Slurm", id)
			require.Equal(t, w.Status, g.Status, "row %s", id)
			require.Equal(t, w.Knobs, g.Knobs)
			require.Equal(t, w.Config, g.Config)
			// Same seeds and initial weights: the same numbers, bit for bit.
			require.Equal(t, w.FinalTestAcc, g.FinalTestAcc, "row %s (%v)", id, w.Knobs)
			require.Equal(t, w.FinalTestLoss, g.FinalTestLoss)
			require.Equal(t, w.FinalTrainLoss, g.FinalTrainLoss)
			require.Equal(t, w.TestAccCurve, g.TestAccCurve)
		}

		// --max-parallel 1: each task started after the previous ended.
		rec := readRecord(t, dir)
		require.Len(t, rec.Jobs, 1)
		start, end := stamps(t, dir, rec.Jobs[0].Array, 4)
		order := []int{0, 1, 2, 3}
		sort.Slice(order, func(a, b int) bool { return start[order[a]] < start[order[b]] })
		for k := 1; k < 4; k++ {
			require.GreaterOrEqual(t, start[order[k]], end[order[k-1]], "task %d started before task %d ended", order[k], order[k-1])
		}

		stdout, _, code = mirageCmd(t, bin, "sweep", "--spec", spec, "--out", dir, "--executor", "slurm")
		require.Equal(t, 0, code)
		require.Contains(t, stdout, "nothing to submit")
		stdout, _, code = mirageCmd(t, bin, "sweep", "status", dir)
		require.Equal(t, 0, code)
		require.Equal(t, 4, strings.Count(stdout, " done "), stdout)
	})

	t.Run("a row that fails is reported and resubmitted alone", func(t *testing.T) {
		spec := writeSpec(t, "name: two\nbase: {model: lenet, epochs: 1, batch_size: 32, train_limit: 320, test_limit: 200}\nbackend: bfp\ngrid: {bfp-bits: [6, 8]}\n")
		dir := filepath.Join(t.TempDir(), "s")
		data, err := os.ReadFile(spec)
		require.NoError(t, err)
		parsed, err := experiment.ParseSpec(data, spec)
		require.NoError(t, err)
		rows, err := experiment.Plan(parsed, testReg())
		require.NoError(t, err)
		// Row 2's run directory holds a finished run of another
		// configuration: the row is valid but fails when it runs.
		other := rows[1].Config
		other.Seed = 99
		poisoned := filepath.Join(dir, "runs", rows[1].ID)
		require.NoError(t, os.MkdirAll(poisoned, 0o755))
		summary, err := json.Marshal(train.Summary{Config: other})
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(poisoned, "summary.json"), summary, 0o644))

		stdout, stderr, code := mirageCmd(t, bin, "sweep", "--spec", spec, "--out", dir, "--executor", "slurm", "--wait", poll)
		require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		require.Contains(t, stdout, "2 rows: 1 done, 1 failed")
		require.Contains(t, stdout, "row 2 (bfp-bits=8) failed:")
		require.Contains(t, stdout, "different configuration")
		require.Contains(t, stdout, "| mirage sweep: row 2 failed", "the tail of the task's log")
		require.Contains(t, stderr, "1 of 2 rows failed or did not run")
		status, _, code := mirageCmd(t, bin, "sweep", "status", dir)
		require.Equal(t, 0, code)
		require.Regexp(t, `\n +2 +\w+ +failed +FAILED +\d+ +1 +bfp-bits=8\n`, status, "state, Slurm state and exit code")

		done := filepath.Join(dir, "runs", rows[0].ID, "summary.json")
		before, err := os.Stat(done)
		require.NoError(t, err)
		require.NoError(t, os.RemoveAll(poisoned))
		stdout, stderr, code = mirageCmd(t, bin, "sweep", "--spec", spec, "--out", dir, "--executor", "slurm", "--wait", poll)
		require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		require.Contains(t, stdout, "(1 rows,")
		rec := readRecord(t, dir)
		require.Len(t, rec.Jobs, 2)
		require.Equal(t, []int{1}, rec.Jobs[1].Indices, "only the failed row is resubmitted")
		after, err := os.Stat(done)
		require.NoError(t, err)
		require.Equal(t, before.ModTime(), after.ModTime(), "the finished row did not run again")
		res := readResults(t, dir)
		require.Len(t, res, 2)
		for _, r := range res {
			require.NotEqual(t, experiment.Failed, r.Status)
		}
	})

	t.Run("a task cancelled mid-row leaves no row and runs again", func(t *testing.T) {
		spec := writeSpec(t, "name: long\nbase: {model: lenet, epochs: 3, batch_size: 32, train_limit: 4000, test_limit: 200}\nbackend: fp32\n")
		dir := filepath.Join(t.TempDir(), "c")
		stdout, stderr, code := mirageCmd(t, bin, "sweep", "--spec", spec, "--out", dir, "--executor", "slurm")
		require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		require.Contains(t, stdout, "follow it with: mirage sweep status")
		job := readRecord(t, dir).Jobs[0].Array
		// While it is queued or runs, the same spec submits nothing, and a
		// changed spec is refused: the task reads its row from the saved plan.
		stdout, stderr, code = mirageCmd(t, bin, "sweep", "--spec", spec, "--out", dir, "--executor", "slurm")
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stdout, "nothing to submit")
		require.Contains(t, stderr, "row 1 is still queued or running in job "+job)
		changed := writeSpec(t, "name: long\nbase: {model: lenet, epochs: 2, batch_size: 32, train_limit: 4000, test_limit: 200}\nbackend: fp32\n")
		_, stderr, code = mirageCmd(t, bin, "sweep", "--spec", changed, "--out", dir, "--executor", "slurm")
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "array job "+job+" of "+dir+" is still queued or running with another plan")

		metrics, err := filepath.Glob(filepath.Join(dir, "runs", "*", "metrics.jsonl"))
		require.NoError(t, err)
		// Cancel once the row is training (its first epoch is written).
		deadline := time.Now().Add(60 * time.Second)
		for len(metrics) == 0 {
			require.True(t, time.Now().Before(deadline), "the row did not start training within a minute")
			time.Sleep(100 * time.Millisecond)
			metrics, _ = filepath.Glob(filepath.Join(dir, "runs", "*", "metrics.jsonl"))
		}
		stdout, _, code = mirageCmd(t, bin, "sweep", "cancel", dir)
		require.Equal(t, 0, code)
		require.Contains(t, stdout, "cancelled job(s) "+job)
		// The wait for the task to end has a deadline of its own: on a
		// loaded machine the wait for its first epoch can use most of the
		// minute above.
		deadline = time.Now().Add(2 * time.Minute)
		var status string
		for {
			// On a timeout, say what Slurm and the files said last.
			require.True(t, time.Now().Before(deadline), "the task did not end within 2 minutes of scancel; last status:\n%s", status)
			status, _, _ = mirageCmd(t, bin, "sweep", "status", dir)
			if strings.Contains(status, "1 failed") {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		require.Contains(t, status, "exit code 143 (killed by signal 15)")
		rowFiles, err := filepath.Glob(filepath.Join(dir, "slurm", "rows", "*"))
		require.NoError(t, err)
		require.Empty(t, rowFiles, "no half-written row")
		require.NoFileExists(t, filepath.Join(filepath.Dir(metrics[0]), "summary.json"))

		stdout, stderr, code = mirageCmd(t, bin, "sweep", "--spec", spec, "--out", dir, "--executor", "slurm", "--wait", poll)
		require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		require.Contains(t, stdout, "1 rows: 1 done")
		res := readResults(t, dir)
		require.Len(t, res, 1)
		for _, r := range res {
			require.Len(t, r.TestAccCurve, 3, "the rerun trained all three epochs")
		}
	})

	t.Run("compare: one task per arm, report by the dependent job, as the local one", func(t *testing.T) {
		flags := []string{"--model", "lenet", "--epochs", "1", "--batch-size", "32", "--train-limit", "320", "--test-limit", "200",
			"--backends", "fp32,bfp:bfp-bits=6"}
		dir := filepath.Join(t.TempDir(), "ab")
		stdout, stderr, code := mirageCmd(t, bin, append([]string{"compare", "--out", dir, "--executor", "slurm", "--wait", poll}, flags...)...)
		require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		require.Contains(t, stdout, "2 arms: 2 done")
		require.Contains(t, stdout, "completed")
		local := t.TempDir()
		var lout, lerr bytes.Buffer
		require.NoError(t, compareCommand(testReg(), append([]string{"--out", local}, flags...), &lout, &lerr), lerr.String())
		read := func(dir string) experiment.Comparison {
			data, err := os.ReadFile(filepath.Join(dir, "report.json"))
			require.NoError(t, err)
			var c experiment.Comparison
			require.NoError(t, json.Unmarshal(data, &c))
			return c
		}
		want, got := read(local), read(dir)
		require.Equal(t, want.InitialWeights, got.InitialWeights)
		require.Len(t, got.Arms, 2)
		for i := range want.Arms {
			require.Equal(t, want.Arms[i].Label, got.Arms[i].Label)
			require.Equal(t, want.Arms[i].Outcome.Summary.FinalTestAcc, got.Arms[i].Outcome.Summary.FinalTestAcc)
			require.Equal(t, want.Arms[i].Outcome.Summary.FinalTestLoss, got.Arms[i].Outcome.Summary.FinalTestLoss)
		}
		// --report-only rebuilds the report from the arms, training nothing.
		stdout, stderr, code = mirageCmd(t, bin, "compare", "--out", dir, "--report-only")
		require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		require.Contains(t, stderr, "is finished, reusing it")
	})

	t.Run("unreachable controller: one line, nothing written", func(t *testing.T) {
		confPath := os.Getenv("SLURM_CONF")
		if confPath == "" {
			confPath = "/etc/slurm/slurm.conf"
		}
		conf, err := os.ReadFile(confPath)
		require.NoError(t, err)
		var lines []string
		for _, l := range strings.Split(string(conf), "\n") {
			if !strings.HasPrefix(l, "SlurmctldPort") {
				lines = append(lines, l)
			}
		}
		bad := filepath.Join(t.TempDir(), "slurm.conf")
		require.NoError(t, os.WriteFile(bad, []byte(strings.Join(lines, "\n")+"\nSlurmctldPort=1\n"), 0o644))
		t.Setenv("SLURM_CONF", bad)
		dir := filepath.Join(t.TempDir(), "u")
		stdout, stderr, code := mirageCmd(t, bin, "sweep", "--spec", writeSpec(t, tinyLeNetSweep), "--out", dir, "--executor", "slurm")
		require.Equal(t, 1, code, stdout)
		require.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
		require.Contains(t, stderr, "the Slurm controller does not answer")
		require.NoDirExists(t, dir)
	})
}

// Without Slurm's commands on PATH: one line, and nothing written to DIR.
func TestSlurmExecutorWithoutSbatch(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	dir := t.TempDir()
	keep := filepath.Join(dir, "keep.txt")
	require.NoError(t, os.WriteFile(keep, []byte("x"), 0o644))
	var stdout, stderr bytes.Buffer
	err := sweepCommand(testReg(), []string{"--spec", writeSpec(t, tinyLeNetSweep), "--out", dir, "--executor", "slurm"}, &stdout, &stderr)
	require.ErrorContains(t, err, "sbatch is not on PATH")
	require.NotContains(t, err.Error(), "\n")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "DIR holds what it held")
	err = compareCommand(testReg(), []string{"--backends", "fp32", "--out", filepath.Join(dir, "c"), "--executor", "slurm"}, &stdout, &stderr)
	require.ErrorContains(t, err, "sbatch is not on PATH")
	require.NoDirExists(t, filepath.Join(dir, "c"))
}

func TestExecutorFlagErrors(t *testing.T) {
	spec := writeSpec(t, tinyLeNetSweep)
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--executor", "pbs"}, `invalid --executor "pbs"`},
		{[]string{"--max-parallel", "2"}, "--max-parallel only apply with --executor slurm"},
		{[]string{"--executor", "slurm", "--max-parallel", "-1"}, "invalid --max-parallel -1"},
		{[]string{"--executor", "slurm", "--slurm-time", "tomorrow"}, `invalid --slurm-time "tomorrow"`},
		{[]string{"--executor", "slurm", "--sbatch-arg", "--array=1-9"}, "mirage sets --array itself"},
		{[]string{"--executor", "slurm", "--max-runs", "2"}, "--max-runs applies to the local executor only"},
	} {
		var stdout, stderr bytes.Buffer
		err := sweepCommand(testReg(), append([]string{"--spec", spec, "--out", dir}, tc.args...), &stdout, &stderr)
		require.ErrorContains(t, err, tc.want)
	}
	var stdout bytes.Buffer
	err := sweepCommand(testReg(), []string{"status", dir}, &stdout, &stdout)
	require.ErrorContains(t, err, "has no Slurm submission")
	err = sweepCommand(testReg(), []string{"status"}, &stdout, &stdout)
	require.ErrorContains(t, err, "exactly one output directory")
}

// --report-only builds a local comparison's report from its finished arms
// and trains nothing; an arm without a finished run is reported as failed.
func TestCompareReportOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ab")
	flags := []string{"--model", "mlp", "--epochs", "1", "--train-limit", "256", "--test-limit", "128", "--backends", "fp32,bfp:bfp-bits=5", "--out", dir}
	var stdout, stderr bytes.Buffer
	require.NoError(t, compareCommand(testReg(), flags, &stdout, &stderr), stderr.String())
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "bfp_bfp-bits=5")))
	stdout.Reset()
	stderr.Reset()
	err := compareCommand(testReg(), append(flags, "--report-only"), &stdout, &stderr)
	require.ErrorContains(t, err, "1 of 2 arms failed")
	require.Contains(t, stdout.String(), "bfp_bfp-bits=5           failed: no finished run in")
	require.NoDirExists(t, filepath.Join(dir, "bfp_bfp-bits=5"), "nothing was trained")
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	require.NoError(t, err)
	require.Contains(t, string(md), "bfp_bfp-bits=5 FAILED")
}
