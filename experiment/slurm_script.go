package experiment

// The job script of a Slurm array, and the files it writes for each task.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// taskFiles are what a task's job script wrote: when it started and with
// which exit code it ended.
type taskFiles struct {
	Started, Ended bool
	Start, End     time.Time
	ExitCode       int
}

// parseStampFile reads a start or exit file: "UNIXTIME" or "CODE UNIXTIME"
// (with exitCode), seconds with a fractional part.
func parseStampFile(data string, exitCode bool) (code int, at time.Time, err error) {
	fields := strings.Fields(data)
	want := 1
	if exitCode {
		want = 2
	}
	if len(fields) != want {
		return 0, time.Time{}, fmt.Errorf("want %d fields, got %q", want, data)
	}
	if exitCode {
		code, err = strconv.Atoi(fields[0])
		if err != nil || code < 0 || code > 255 {
			return 0, time.Time{}, fmt.Errorf("bad exit code %q", fields[0])
		}
	}
	secText := fields[len(fields)-1]
	whole, frac, _ := strings.Cut(secText, ".")
	sec, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || sec < 0 || sec > 1<<40 {
		return 0, time.Time{}, fmt.Errorf("bad time %q", secText)
	}
	var nsec int64
	if frac != "" {
		if len(frac) > 9 || strings.TrimLeft(frac, "0123456789") != "" {
			return 0, time.Time{}, fmt.Errorf("bad time %q", secText)
		}
		nsec, _ = strconv.ParseInt((frac + "000000000")[:9], 10, 64)
	}
	return code, time.Unix(sec, nsec).UTC(), nil
}

// stampPrefix is the path prefix of task i's files for array job job.
func stampPrefix(out string, i int, job string) string {
	return filepath.Join(slurmDir(out), "state", fmt.Sprintf("%d.%s", i, job))
}

func logPath(out string, i int, job string) string {
	return filepath.Join(slurmDir(out), "logs", fmt.Sprintf("%d.%s.log", i, job))
}

func readTaskFiles(out string, i int, job string) taskFiles {
	var f taskFiles
	prefix := stampPrefix(out, i, job)
	if data, err := os.ReadFile(prefix + ".start"); err == nil {
		if _, at, err := parseStampFile(string(data), false); err == nil {
			f.Started, f.Start = true, at
		}
	}
	if data, err := os.ReadFile(prefix + ".exit"); err == nil {
		if code, at, err := parseStampFile(string(data), true); err == nil {
			f.Ended, f.End, f.ExitCode = true, at, code
		}
	}
	return f
}

// jobScript is the text of a submitted job script. Every task records when
// it started and its exit code in DIR/slurm/state (written by rename, so a
// reader never sees half a file), which is how failures are told apart
// without an accounting database; a task cancelled or timed out gets
// SIGTERM, passes it on to mirage and records 143.
func jobScript(o SlurmOptions, name, out, array string, command []string) string {
	var b strings.Builder
	b.WriteString("#!/bin/bash\n")
	b.WriteString("# Submitted by mirage and kept for reading; to resubmit what is missing or\n# failed, run the same mirage command again (it records the jobs it submits).\n")
	fmt.Fprintf(&b, "#SBATCH --job-name=%s\n", name)
	if array != "" {
		fmt.Fprintf(&b, "#SBATCH --array=%s\n", array)
		fmt.Fprintf(&b, "#SBATCH --output=%s\n", filepath.Join(slurmDir(out), "logs", "%a.%A.log"))
	} else {
		fmt.Fprintf(&b, "#SBATCH --output=%s\n", filepath.Join(slurmDir(out), "logs", "report.%j.log"))
	}
	writeSbatchOptions(&b, o)
	b.WriteString("\nset -u\n")
	// Without cgroups a task sees every core of its node; use the ones it
	// was given (results do not depend on the thread count).
	b.WriteString("if [ -n \"${SLURM_CPUS_PER_TASK:-}\" ]; then export GOMAXPROCS=\"$SLURM_CPUS_PER_TASK\"; fi\n")
	if array == "" {
		fmt.Fprintf(&b, "exec %s\n", shellJoin(command))
		return b.String()
	}
	fmt.Fprintf(&b, "state=%s/$SLURM_ARRAY_TASK_ID.$SLURM_ARRAY_JOB_ID\n", shellQuote(filepath.Join(slurmDir(out), "state")))
	b.WriteString(`stamp() { printf '%s\n' "$2" >"$1.tmp" && mv -f "$1.tmp" "$1"; }
finish() { stamp "$state.exit" "$1 $(date +%s.%N)"; exit "$1"; }
child=
trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; [ -n "$child" ] && wait "$child"; finish 143' TERM INT
stamp "$state.start" "$(date +%s.%N)"
echo "mirage: task $SLURM_ARRAY_TASK_ID of array job $SLURM_ARRAY_JOB_ID (job $SLURM_JOB_ID) on $(hostname)"
`)
	fmt.Fprintf(&b, "%s &\n", shellJoin(command))
	b.WriteString("child=$!\nwait \"$child\"\nfinish $?\n")
	return b.String()
}

func writeSbatchOptions(b *strings.Builder, o SlurmOptions) {
	for _, f := range []struct{ name, v string }{
		{"partition", o.Partition}, {"time", o.Time}, {"mem", o.Mem}, {"account", o.Account},
	} {
		if f.v != "" {
			fmt.Fprintf(b, "#SBATCH --%s=%s\n", f.name, f.v)
		}
	}
	if o.CPUsPerTask > 0 {
		fmt.Fprintf(b, "#SBATCH --cpus-per-task=%d\n", o.CPUsPerTask)
	}
	for _, a := range o.SbatchArgs {
		fmt.Fprintf(b, "#SBATCH %s\n", a)
	}
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

// shellQuote quotes s for a POSIX shell; "$SLURM_ARRAY_TASK_ID" is left
// for the shell to expand.
func shellQuote(s string) string {
	if s == "$SLURM_ARRAY_TASK_ID" {
		return `"$SLURM_ARRAY_TASK_ID"`
	}
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
