package experiment

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestArrayListFormatAndParse(t *testing.T) {
	for _, tc := range []struct {
		indices []int
		k       int
		want    string
	}{
		{[]int{0}, 0, "0"},
		{[]int{0, 1, 2, 3}, 0, "0-3"},
		{[]int{0, 1, 2, 3}, 1, "0-3%1"},
		{[]int{1, 3, 4, 5, 9}, 2, "1,3-5,9%2"},
		{[]int{7, 8, 10, 11}, 0, "7-8,10-11"},
	} {
		got := formatArrayList(tc.indices, tc.k)
		require.Equal(t, tc.want, got)
		back, k, err := parseArrayList(got)
		require.NoError(t, err)
		require.Equal(t, tc.indices, back)
		require.Equal(t, tc.k, k)
	}
	got, k, err := parseArrayList("0-6:3,10%4")
	require.NoError(t, err)
	require.Equal(t, []int{0, 3, 6, 10}, got, "steps as squeue may print them")
	require.Equal(t, 4, k)
	for _, bad := range []string{"", "-1", "3-1", "1,,2", "a", "1%0", "1%x", "0-9999999", "1:2", "0-4:0", "0-4000000,0-4000000"} {
		_, _, err := parseArrayList(bad)
		require.Error(t, err, "%q", bad)
	}
}

func FuzzParseArrayList(f *testing.F) {
	for _, s := range []string{"0-3%1", "1,3-5,9%2", "0-6:3", "[4-7%2]", "12"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		indices, k, err := parseArrayList(s)
		if err != nil {
			return
		}
		// Whatever parses formats back to a list with the same indices.
		sorted := append([]int(nil), indices...)
		sort.Ints(sorted)
		uniq := sorted[:0]
		for i, v := range sorted {
			if i == 0 || v != sorted[i-1] {
				uniq = append(uniq, v)
			}
		}
		again, k2, err := parseArrayList(formatArrayList(uniq, k))
		if err != nil {
			t.Fatalf("%q: formatted list does not parse: %v", s, err)
		}
		if fmt.Sprint(again) != fmt.Sprint(uniq) || k2 != k {
			t.Fatalf("%q: round trip gave %v%%%d, want %v%%%d", s, again, k2, uniq, k)
		}
	})
}

func TestParseSqueue(t *testing.T) {
	out := "12_3|RUNNING\n12_[4-6%2]|PENDING\n13|PENDING\n\n12_0|COMPLETED\n"
	got, err := parseSqueue(out, nil)
	require.NoError(t, err)
	require.Equal(t, map[queueKey]queueState{
		{"12", 3}: "RUNNING", {"12", 4}: "PENDING", {"12", 5}: "PENDING", {"12", 6}: "PENDING",
		{"13", -1}: "PENDING", {"12", 0}: "COMPLETED",
	}, got)
	only13, err := parseSqueue(out, func(job string) bool { return job == "13" })
	require.NoError(t, err)
	require.Equal(t, map[queueKey]queueState{{"13", -1}: "PENDING"}, only13)
	for _, bad := range []string{"12_3", "x_1|RUNNING", "12_a|RUNNING", "|RUNNING", "12|", "12_[1-|PENDING", "12|RUN NING"} {
		_, err := parseSqueue(bad, nil)
		require.Error(t, err, "%q", bad)
	}
}

func FuzzParseSqueue(f *testing.F) {
	f.Add("12_3|RUNNING\n12_[4-6%2]|PENDING\n13|PENDING\n")
	f.Add("5_0|COMPLETED")
	f.Fuzz(func(t *testing.T, s string) {
		// Keep only short jobs' ids, as the executor keeps only its own.
		states, err := parseSqueue(s, func(job string) bool { return len(job) < 3 })
		if err != nil {
			return
		}
		// Every state parsed can be written back and parses the same.
		var b strings.Builder
		for k, v := range states {
			if k.Task < 0 {
				fmt.Fprintf(&b, "%s|%s\n", k.Job, v)
			} else {
				fmt.Fprintf(&b, "%s_%d|%s\n", k.Job, k.Task, v)
			}
		}
		again, err := parseSqueue(b.String(), nil)
		require.NoError(t, err)
		require.Equal(t, len(states), len(again))
	})
}

func TestParseSbatchID(t *testing.T) {
	for in, want := range map[string]string{"42\n": "42", "42;cluster\n": "42", "sbatch: warning: x\n7\n": "7"} {
		got, err := parseSbatchID(in)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	for _, bad := range []string{"", "Submitted batch job 42", "x;y", ";"} {
		_, err := parseSbatchID(bad)
		require.Error(t, err, "%q", bad)
	}
}

func FuzzParseSbatchID(f *testing.F) {
	f.Add("42;c\n")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := parseSbatchID(s)
		if err == nil && (id == "" || strings.Trim(id, "0123456789") != "") {
			t.Fatalf("%q gave job id %q", s, id)
		}
	})
}

func TestParseStampFile(t *testing.T) {
	code, at, err := parseStampFile("143 1700000000.250000000\n", true)
	require.NoError(t, err)
	require.Equal(t, 143, code)
	require.Equal(t, time.Unix(1700000000, 250000000).UTC(), at)
	_, at, err = parseStampFile("1700000000.5\n", false)
	require.NoError(t, err)
	require.Equal(t, time.Unix(1700000000, 500000000).UTC(), at)
	for _, bad := range []string{"", "1", "300 1", "-1 1", "x 1", "0 1.x", "0 1.1234567890", "1 2 3"} {
		_, _, err := parseStampFile(bad, true)
		require.Error(t, err, "%q", bad)
	}
}

func FuzzParseStampFile(f *testing.F) {
	f.Add("0 1700000000.123456789", true)
	f.Add("1700000000.1", false)
	f.Fuzz(func(t *testing.T, s string, exit bool) {
		code, _, err := parseStampFile(s, exit)
		if err == nil && (code < 0 || code > 255) {
			t.Fatalf("%q: exit code %d", s, code)
		}
	})
}

func TestSlurmOptionsValidate(t *testing.T) {
	ok := SlurmOptions{Executable: "/bin/mirage", Time: "1-02:00:00", Mem: "4G", CPUsPerTask: 2, MaxParallel: 3, SbatchArgs: []string{"--qos=long"}}
	require.NoError(t, ok.Validate())
	for name, bad := range map[string]SlurmOptions{
		"negative parallel": {Executable: "m", MaxParallel: -1},
		"negative cpus":     {Executable: "m", CPUsPerTask: -2},
		"bad time":          {Executable: "m", Time: "soon"},
		"bad mem":           {Executable: "m", Mem: "lots"},
		"shell in account":  {Executable: "m", Account: "a;rm"},
		"not an option":     {Executable: "m", SbatchArgs: []string{"qos=long"}},
		"newline":           {Executable: "m", SbatchArgs: []string{"--qos=a\n#SBATCH --x"}},
		"array is ours":     {Executable: "m", SbatchArgs: []string{"--array=0-3"}},
		"no executable":     {},
	} {
		require.Error(t, bad.Validate(), name)
	}
}

func TestTaskState(t *testing.T) {
	task := slurmTask{Index: 2, ID: "abc", Label: "x=1"}
	now := time.Unix(1700000000, 0).UTC()
	started := taskFiles{Started: true, Start: now}
	exited := func(code int) taskFiles {
		return taskFiles{Started: true, Start: now, Ended: true, End: now.Add(time.Second), ExitCode: code}
	}
	for _, tc := range []struct {
		name    string
		job     string
		q       queueState
		files   taskFiles
		done    bool
		failure string
		want    TaskState
		why     string
	}{
		{"never submitted", "", "", taskFiles{}, false, "", TaskMissing, ""},
		{"result from a local run", "", "", taskFiles{}, true, "", TaskDone, ""},
		{"queued", "5", "PENDING", taskFiles{}, false, "", TaskPending, ""},
		{"running", "5", "RUNNING", started, false, "", TaskRunning, ""},
		{"finished", "5", "COMPLETED", exited(0), true, "", TaskDone, ""},
		{"result file wins over a lost queue", "5", "", taskFiles{}, true, "", TaskDone, ""},
		{"row failed at run time", "5", "FAILED", exited(1), false, "different configuration", TaskFailed, "different configuration"},
		{"non-zero exit", "5", "", exited(2), false, "", TaskFailed, "exit code 2"},
		{"cancelled mid-row", "5", "CANCELLED", exited(143), false, "", TaskFailed, "killed by signal 15"},
		{"exit 0 but no result", "5", "COMPLETED", exited(0), false, "", TaskFailed, "without writing a result"},
		{"cancelled before starting", "5", "CANCELLED", taskFiles{}, false, "", TaskFailed, "CANCELLED"},
		{"killed without a trace", "5", "", started, false, "", TaskFailed, "no exit code"},
		{"submitted, Slurm forgot it, no files", "5", "", taskFiles{}, false, "", TaskMissing, ""},
		{"completing after the script ended", "5", "COMPLETING", exited(1), false, "", TaskFailed, "exit code 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := taskState(task, tc.job, tc.q, tc.files, tc.done, tc.failure)
			require.Equal(t, tc.want, ts.State)
			require.Contains(t, ts.Error, tc.why)
		})
	}
}

// The job script records start time and exit code by rename, and a task
// that Slurm cancels (SIGTERM) records 143. Run here with bash alone, with
// the variables Slurm would set.
func TestJobScriptRecordsExitCodes(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	out := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(slurmDir(out), "state"), 0o755))
	o := SlurmOptions{Executable: "x", Partition: "debug", Time: "10", CPUsPerTask: 2, Mem: "1G", SbatchArgs: []string{"--qos=low"}}
	runScript := func(index int, command []string, cancelAfter time.Duration) int {
		script := jobScript(o, "mirage-test", out, "0-3%1", command)
		cmd := exec.Command("bash", "-c", script)
		cmd.Env = append(os.Environ(), fmt.Sprintf("SLURM_ARRAY_TASK_ID=%d", index), "SLURM_ARRAY_JOB_ID=77", "SLURM_JOB_ID=78")
		require.NoError(t, cmd.Start())
		if cancelAfter > 0 {
			time.Sleep(cancelAfter)
			require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		}
		err := cmd.Wait()
		if err == nil {
			return 0
		}
		return cmd.ProcessState.ExitCode()
	}
	script := jobScript(o, "mirage-test", out, "0-3%1", []string{"/opt/mirage", "sweep", "--out", out, "--row", "$SLURM_ARRAY_TASK_ID"})
	for _, line := range []string{"#SBATCH --array=0-3%1", "#SBATCH --partition=debug", "#SBATCH --time=10", "#SBATCH --cpus-per-task=2",
		"#SBATCH --mem=1G", "#SBATCH --qos=low", "#SBATCH --output=" + filepath.Join(out, "slurm", "logs", "%a.%A.log"),
		`if [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then export GOMAXPROCS="$SLURM_CPUS_PER_TASK"; fi`,
		`/opt/mirage sweep --out ` + out + ` --row "$SLURM_ARRAY_TASK_ID" &`} {
		require.Contains(t, script, line+"\n")
	}

	require.Equal(t, 0, runScript(0, []string{"true"}, 0))
	require.Equal(t, 3, runScript(1, []string{"sh", "-c", "exit 3"}, 0))
	require.Equal(t, 143, runScript(2, []string{"sleep", "30"}, 500*time.Millisecond))
	for i, want := range []int{0, 3, 143} {
		f := readTaskFiles(out, i, "77")
		require.True(t, f.Started && f.Ended, "task %d recorded start and end", i)
		require.Equal(t, want, f.ExitCode, "task %d", i)
		require.False(t, f.End.Before(f.Start))
	}
	leftovers, err := filepath.Glob(filepath.Join(slurmDir(out), "state", "*.tmp"))
	require.NoError(t, err)
	require.Empty(t, leftovers, "stamps are renamed into place")
}

func TestTailKeepsLastLinesAndLastRedraw(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	require.NoError(t, os.WriteFile(path, []byte("a\nb\nepoch 10%\repoch 50%\repoch 100%\nerror: boom\n"), 0o644))
	require.Equal(t, "epoch 100%\nerror: boom", tail(path, 2))
	require.Equal(t, "", tail(filepath.Join(t.TempDir(), "none"), 3))
}

func TestCheckOutDir(t *testing.T) {
	_, err := checkOutDir("/tmp/a b")
	require.ErrorContains(t, err, "spaces")
	_, err = checkOutDir("/tmp/100%")
	require.Error(t, err)
	abs, err := checkOutDir("rel/dir")
	require.NoError(t, err)
	require.True(t, filepath.IsAbs(abs))
}
