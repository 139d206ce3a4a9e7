package experiment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mirage-go/mirage/internal/atomicfile"
)

// SlurmOptions are the sbatch settings of an experiment run on a Slurm
// cluster as a job array (see [SubmitSweep] and [SubmitCompare]).
type SlurmOptions struct {
	// Partition, Time (sbatch --time: "30", "2:00:00", "1-00:00:00"), Mem
	// (--mem: "4G") and Account are passed to sbatch when set.
	Partition, Time, Mem, Account string
	// CPUsPerTask is --cpus-per-task (0 = the cluster's default).
	CPUsPerTask int
	// SbatchArgs are further sbatch options, each one argument such as
	// "--qos=long" or "--constraint=avx512".
	SbatchArgs []string
	// MaxParallel caps how many tasks of the array run at once (the %K of
	// --array=…%K); 0 = no cap.
	MaxParallel int
	// Executable is the mirage binary the tasks run; it must be reachable
	// at this path from the compute nodes.
	Executable string
}

// Validate checks the options before anything is written or submitted.
func (o SlurmOptions) Validate() error {
	if o.MaxParallel < 0 {
		return fmt.Errorf("invalid --max-parallel %d: must be ≥ 1 (or 0 for no cap)", o.MaxParallel)
	}
	if o.CPUsPerTask < 0 {
		return fmt.Errorf("invalid --slurm-cpus-per-task %d: must be ≥ 1 (or 0 for the cluster's default)", o.CPUsPerTask)
	}
	for _, f := range []struct{ name, v string }{
		{"--slurm-partition", o.Partition}, {"--slurm-time", o.Time}, {"--slurm-mem", o.Mem}, {"--slurm-account", o.Account},
	} {
		if f.v != "" && !slurmWordPattern.MatchString(f.v) {
			return fmt.Errorf("invalid %s %q: use letters, digits and - _ . : , = + @ only", f.name, f.v)
		}
	}
	if o.Time != "" && !slurmTimePattern.MatchString(o.Time) {
		return fmt.Errorf("invalid --slurm-time %q: use minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS", o.Time)
	}
	if o.Mem != "" && !slurmMemPattern.MatchString(o.Mem) {
		return fmt.Errorf("invalid --slurm-mem %q: use a size such as 4000, 4G or 512M", o.Mem)
	}
	for _, a := range o.SbatchArgs {
		if !strings.HasPrefix(a, "-") || strings.ContainsAny(a, "\r\n") {
			return fmt.Errorf("invalid --sbatch-arg %q: must be one sbatch option starting with '-', e.g. --qos=long", a)
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch name {
		case "array", "a", "output", "o", "error", "e", "parsable", "dependency", "d", "wrap":
			return fmt.Errorf("invalid --sbatch-arg %q: mirage sets --%s itself", a, name)
		}
	}
	if o.Executable == "" {
		return fmt.Errorf("no mirage executable for the Slurm tasks")
	}
	return nil
}

var (
	slurmTimePattern = regexp.MustCompile(`^(\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d+|\d+-\d+:\d{1,2}|\d+-\d+:\d{1,2}:\d{1,2}|UNLIMITED|INFINITE)$`)
	slurmMemPattern  = regexp.MustCompile(`^\d+[KMGT]?$`)
	slurmWordPattern = regexp.MustCompile(`^[A-Za-z0-9_.:,=+@-]+$`)
)

// unsafePathChars may not appear in an output directory run through Slurm:
// job scripts name it in #SBATCH lines, which have no quoting, and % starts
// a file-name pattern there.
const unsafePathChars = " \t\r\n'\"\\$`%;&|<>*?#"

// slurmDir is where the Slurm executor keeps its files in an output
// directory: the plan the tasks read, the submitted job scripts, the jobs
// submitted, the tasks' logs and the exit codes their job scripts wrote.
func slurmDir(out string) string { return filepath.Join(out, "slurm") }

// slurmRecord is DIR/slurm/record.json: what was planned and submitted.
type slurmRecord struct {
	// Kind is "sweep" or "compare".
	Kind string `json:"kind"`
	// Command is the latest submitting command line, which the report
	// names as the command that generated it.
	Command string `json:"command,omitempty"`
	// Tasks are the rows or arms, by array index.
	Tasks []slurmTask `json:"tasks"`
	// Jobs are the submissions, oldest first.
	Jobs []slurmJob `json:"jobs"`
}

type slurmTask struct {
	Index int    `json:"index"`
	ID    string `json:"id"`
	Label string `json:"label"`
}

// slurmJob is one submission: the array and the dependent report job.
type slurmJob struct {
	Array     string `json:"array_job"`
	Report    string `json:"report_job,omitempty"`
	Indices   []int  `json:"indices"`
	Script    string `json:"script"`
	Submitted string `json:"submitted"`
}

func readSlurmRecord(out string) (*slurmRecord, error) {
	path := filepath.Join(slurmDir(out), "record.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s has no Slurm submission (no %s); submit with --executor slurm first", out, path)
	}
	if err != nil {
		return nil, err
	}
	var r slurmRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s is unreadable (%v); it is rewritten by the next submission", path, err)
	}
	return &r, nil
}

func writeSlurmRecord(out string, r *slurmRecord) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(slurmDir(out), "record.json"), append(data, '\n'))
}

// lastJob returns the latest submission that ran task i, or nil.
func (r *slurmRecord) lastJob(i int) *slurmJob {
	for j := len(r.Jobs) - 1; j >= 0; j-- {
		for _, k := range r.Jobs[j].Indices {
			if k == i {
				return &r.Jobs[j]
			}
		}
	}
	return nil
}

// formatArrayList writes sorted, distinct indices as sbatch's --array
// value: runs of consecutive indices as ranges ("0-3,5,7-9"), then "%K"
// when at most K tasks may run at once.
func formatArrayList(indices []int, maxParallel int) string {
	var b strings.Builder
	for i := 0; i < len(indices); {
		j := i
		for j+1 < len(indices) && indices[j+1] == indices[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(indices[i]))
		if j > i {
			b.WriteString("-" + strconv.Itoa(indices[j]))
		}
		i = j + 1
	}
	if maxParallel > 0 {
		b.WriteString("%" + strconv.Itoa(maxParallel))
	}
	return b.String()
}

// maxArrayIndex bounds the indices parseArrayList accepts; Slurm's own
// MaxArraySize is at most 4,000,001.
const maxArrayIndex = 4_000_000

// parseArrayList reads an array index list as sbatch and squeue write it
// ("0-3,5,7-9:2%4"), returning the indices in order and the %K limit (0
// when there is none).
func parseArrayList(s string) ([]int, int, error) {
	list, limit, hasLimit := strings.Cut(s, "%")
	k := 0
	if hasLimit {
		v, err := strconv.Atoi(limit)
		if err != nil || v < 1 {
			return nil, 0, fmt.Errorf("array list %q: bad task limit %q", s, limit)
		}
		k = v
	}
	var out []int
	for _, part := range strings.Split(list, ",") {
		rng, stepText, hasStep := strings.Cut(part, ":")
		lo, hi, isRange := strings.Cut(rng, "-")
		a, err := parseIndex(lo)
		if err != nil {
			return nil, 0, fmt.Errorf("array list %q: %v", s, err)
		}
		b := a
		if isRange {
			if b, err = parseIndex(hi); err != nil {
				return nil, 0, fmt.Errorf("array list %q: %v", s, err)
			}
			if b < a {
				return nil, 0, fmt.Errorf("array list %q: range %s runs backwards", s, rng)
			}
		}
		step := 1
		if hasStep {
			if step, err = strconv.Atoi(stepText); err != nil || step < 1 || !isRange {
				return nil, 0, fmt.Errorf("array list %q: bad step in %q", s, part)
			}
		}
		if (b-a)/step+1+len(out) > maxArrayIndex+1 {
			return nil, 0, fmt.Errorf("array list %q has more than %d indices", s, maxArrayIndex+1)
		}
		for v := a; v <= b; v += step {
			out = append(out, v)
		}
	}
	return out, k, nil
}

func parseIndex(s string) (int, error) {
	if s == "" || len(s) > 7 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("bad array index %q", s)
	}
	v, _ := strconv.Atoi(s)
	if v > maxArrayIndex {
		return 0, fmt.Errorf("array index %d is above %d", v, maxArrayIndex)
	}
	return v, nil
}

// parseSbatchID reads the output of sbatch --parsable: "JOBID" or
// "JOBID;CLUSTER".
func parseSbatchID(out string) (string, error) {
	line := strings.TrimSpace(out)
	if i := strings.LastIndexByte(line, '\n'); i >= 0 {
		line = strings.TrimSpace(line[i+1:]) // warnings come first
	}
	id, _, _ := strings.Cut(line, ";")
	if id == "" || len(id) > 20 || strings.TrimLeft(id, "0123456789") != "" {
		return "", fmt.Errorf("sbatch printed %q where a job id was expected", strings.TrimSpace(out))
	}
	return id, nil
}

// queueState is what squeue says about one array task or job: PENDING,
// RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, ...
type queueState string

// active reports whether the task has yet to finish.
func (s queueState) active() bool {
	switch s {
	case "PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD":
		return true
	}
	return false
}

// queueKey names an array task ("12", 3) or a plain job ("13", -1).
type queueKey struct {
	Job  string
	Task int
}

// parseSqueue reads `squeue -h -r -t all -o %i|%T` output: one line per
// job or array task ("12_3|RUNNING", "13|PENDING"), or per group of array
// tasks not yet started ("12_[4-7%2]|PENDING"). Only jobs for which keep
// returns true are kept (nil keeps all), so other users' huge arrays are
// never expanded.
func parseSqueue(out string, keep func(job string) bool) (map[queueKey]queueState, error) {
	states := map[queueKey]queueState{}
	for n, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		id, state, ok := strings.Cut(line, "|")
		if !ok || state == "" || strings.ContainsAny(state, " |") {
			return nil, fmt.Errorf("squeue line %d is not JOBID|STATE: %q", n+1, line)
		}
		job, task, isTask := strings.Cut(id, "_")
		if job == "" || strings.TrimLeft(job, "0123456789") != "" {
			return nil, fmt.Errorf("squeue line %d: bad job id %q", n+1, id)
		}
		if keep != nil && !keep(job) {
			continue
		}
		if !isTask {
			states[queueKey{job, -1}] = queueState(state)
			continue
		}
		list := task
		if strings.HasPrefix(task, "[") && strings.HasSuffix(task, "]") {
			list = task[1 : len(task)-1]
		}
		indices, _, err := parseArrayList(list)
		if err != nil {
			return nil, fmt.Errorf("squeue line %d: %v", n+1, err)
		}
		for _, i := range indices {
			states[queueKey{job, i}] = queueState(state)
		}
	}
	return states, nil
}

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

// tail returns the last n lines of a file, or "" when it cannot be read.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const window = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > window {
		if _, err := f.Seek(fi.Size()-window, io.SeekStart); err != nil {
			return ""
		}
	}
	data, _ := io.ReadAll(f)
	// Progress bars redraw with \r; keep what the last redraw left.
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	for i, l := range lines {
		if j := strings.LastIndexByte(strings.TrimRight(l, "\r"), '\r'); j >= 0 {
			lines[i] = l[j+1:]
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// slurmCLI runs Slurm's client commands.
type slurmCLI struct{}

// timeout bounds every Slurm command: a controller that does not answer
// within it counts as unreachable.
const slurmTimeout = 60 * time.Second

func (slurmCLI) run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), slurmTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("%s: %s", name, msg)
	}
	return stdout.String(), nil
}

// check fails with one line when the Slurm commands are missing or the
// controller does not answer.
func (c slurmCLI) check() error {
	for _, name := range []string{"sbatch", "squeue", "scancel", "scontrol"} {
		if _, err := exec.LookPath(name); err != nil {
			return fmt.Errorf("--executor slurm needs Slurm's commands, and %s is not on PATH (install slurm-client, or load your cluster's Slurm module)", name)
		}
	}
	out, err := c.run("scontrol", "ping")
	if err != nil || !strings.Contains(out, " is UP") {
		why := strings.TrimSpace(out)
		if err != nil {
			why = err.Error()
		}
		return fmt.Errorf("the Slurm controller does not answer (%s); nothing was submitted", firstLine(why))
	}
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// queue returns the states of the given jobs' tasks. Jobs Slurm has
// forgotten are absent.
func (c slurmCLI) queue(jobs []string) (map[queueKey]queueState, error) {
	args := []string{"-h", "-r", "-t", "all", "-o", "%i|%T"}
	if u, err := user.Current(); err == nil {
		args = append(args, "-u", u.Username)
	}
	out, err := c.run("squeue", args...)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, j := range jobs {
		want[j] = true
	}
	return parseSqueue(out, func(job string) bool { return want[job] })
}

// TaskState is a row's or arm's state as Slurm and the files in the output
// directory tell it.
type TaskState string

const (
	TaskDone    TaskState = "done"
	TaskFailed  TaskState = "failed"
	TaskRunning TaskState = "running"
	TaskPending TaskState = "pending"
	// TaskMissing: never submitted, or submitted but gone without a trace
	// (Slurm forgot it and no file says it ran).
	TaskMissing TaskState = "missing"
)

// TaskStatus is one row's or arm's state.
type TaskStatus struct {
	Index int
	ID    string
	Label string
	State TaskState
	// Job is the array job of the latest submission that ran the task;
	// Slurm is what squeue says about it ("" when Slurm has forgotten it).
	Job   string
	Slurm string
	// Files: the start and end times and the exit code the job script
	// recorded (ExitCode -1 when it recorded none).
	Start, End time.Time
	ExitCode   int
	// Error is why a failed task failed; Log and LogTail are its log.
	Error   string
	Log     string
	LogTail string
}

// ArrayStatus is the state of every task of an experiment submitted to
// Slurm.
type ArrayStatus struct {
	Kind  string
	Out   string
	Tasks []TaskStatus
	// Jobs are the array and report jobs of the latest submission.
	Array, Report string
	// ReportState is what squeue says about the report job.
	ReportState string
}

// Count returns how many tasks are in state s.
func (a *ArrayStatus) Count(s TaskState) int {
	n := 0
	for _, t := range a.Tasks {
		if t.State == s {
			n++
		}
	}
	return n
}

// Active reports whether any task or the report job is still queued or
// running.
func (a *ArrayStatus) Active() bool {
	return a.Count(TaskRunning)+a.Count(TaskPending) > 0 || queueState(a.ReportState).active()
}

// Progress is a one-line summary: "4 rows: 2 done, 0 failed, 1 running, 1 pending".
func (a *ArrayStatus) Progress() string {
	unit := "rows"
	if a.Kind == "compare" {
		unit = "arms"
	}
	s := fmt.Sprintf("%d %s: %d done, %d failed, %d running, %d pending", len(a.Tasks), unit,
		a.Count(TaskDone), a.Count(TaskFailed), a.Count(TaskRunning), a.Count(TaskPending))
	if m := a.Count(TaskMissing); m > 0 {
		s += fmt.Sprintf(", %d not submitted", m)
	}
	if a.Report != "" && a.ReportState != "" {
		s += fmt.Sprintf("; report job %s %s", a.Report, strings.ToLower(a.ReportState))
	}
	return s
}

// taskResult says whether a task's result is in the output directory:
// done, or failed with the error the task recorded, or neither.
type taskResult func(t slurmTask) (done bool, failure string)

// slurmStatus combines the record, squeue and the files into every task's
// state. An unreachable Slurm is not an error: the files alone still tell
// what finished (Slurm states are then left empty).
func slurmStatus(out string, result taskResult) (*ArrayStatus, error) {
	rec, err := readSlurmRecord(out)
	if err != nil {
		return nil, err
	}
	st := &ArrayStatus{Kind: rec.Kind, Out: out}
	var jobs []string
	for _, j := range rec.Jobs {
		jobs = append(jobs, j.Array)
		if j.Report != "" {
			jobs = append(jobs, j.Report)
		}
	}
	if n := len(rec.Jobs); n > 0 {
		st.Array, st.Report = rec.Jobs[n-1].Array, rec.Jobs[n-1].Report
	}
	queue, qerr := slurmCLI{}.queue(jobs)
	if qerr != nil {
		queue = nil
	}
	if st.Report != "" {
		st.ReportState = string(queue[queueKey{st.Report, -1}])
	}
	for _, t := range rec.Tasks {
		done, failure := result(t)
		var ts TaskStatus
		if job := rec.lastJob(t.Index); job != nil {
			ts = taskState(t, job.Array, queue[queueKey{job.Array, t.Index}], readTaskFiles(out, t.Index, job.Array), done, failure)
			ts.Log = logPath(out, t.Index, job.Array)
			if ts.State == TaskFailed {
				ts.LogTail = tail(ts.Log, 10)
			}
		} else {
			ts = taskState(t, "", "", taskFiles{}, done, failure)
		}
		st.Tasks = append(st.Tasks, ts)
	}
	if qerr != nil {
		return st, fmt.Errorf("cannot ask Slurm about the jobs (%v); states are from the files alone", qerr)
	}
	return st, nil
}

// taskState decides a task's state from its result in the output
// directory (done, or the failure it recorded), what squeue says about it
// in its latest array job (q, "" when Slurm does not know it) and the
// files its job script wrote. A result wins over everything; a task Slurm
// still runs is running or pending; anything else that has no result
// failed, with the most specific reason known.
func taskState(t slurmTask, job string, q queueState, files taskFiles, done bool, failure string) TaskStatus {
	ts := TaskStatus{Index: t.Index, ID: t.ID, Label: t.Label, Job: job, Slurm: string(q),
		Start: files.Start, End: files.End, ExitCode: -1, State: TaskMissing}
	if files.Ended {
		ts.ExitCode = files.ExitCode
	}
	switch {
	case done:
		ts.State = TaskDone
	case job == "":
		// never submitted
	case q.active() && !files.Ended:
		ts.State = TaskPending
		if q != "PENDING" {
			ts.State = TaskRunning
		}
	case failure != "":
		ts.State, ts.Error = TaskFailed, failure
	case files.Ended && files.ExitCode != 0:
		ts.State, ts.Error = TaskFailed, fmt.Sprintf("exit code %d", files.ExitCode)
		if files.ExitCode > 128 {
			ts.Error += fmt.Sprintf(" (killed by signal %d)", files.ExitCode-128)
		}
	case files.Ended:
		ts.State, ts.Error = TaskFailed, "exited 0 without writing a result"
	case q != "":
		ts.State, ts.Error = TaskFailed, "Slurm ended it ("+string(q)+") before its job script recorded an exit code"
	case files.Started:
		ts.State, ts.Error = TaskFailed, "started but recorded no exit code (killed, or its node failed)"
	}
	return ts
}

// WriteStatus prints every task's state and, for failed ones, the tail of
// their log.
func (a *ArrayStatus) WriteStatus(w io.Writer) {
	unit, idName, labelName := "row", "id", "knobs"
	if a.Kind == "compare" {
		unit, idName, labelName = "arm", "label", "backend"
	}
	ids := make([]string, len(a.Tasks))
	width := len(idName)
	for i, t := range a.Tasks {
		ids[i] = t.ID
		if a.Kind == "sweep" && len(ids[i]) > 12 {
			ids[i] = ids[i][:12]
		}
		width = max(width, len(ids[i]))
	}
	fmt.Fprintf(w, "%4s  %-*s %-8s %-10s %-8s %-5s %s\n", unit, width, idName, "state", "slurm", "job", "exit", labelName)
	for i, t := range a.Tasks {
		exit, slurm, job := "", t.Slurm, t.Job
		if t.ExitCode >= 0 {
			exit = strconv.Itoa(t.ExitCode)
		}
		if slurm == "" {
			slurm = "-"
		}
		if job == "" {
			job = "-"
		}
		fmt.Fprintf(w, "%4d  %-*s %-8s %-10s %-8s %-5s %s\n", t.Index+1, width, ids[i], t.State, slurm, job, exit, t.Label)
	}
	for _, t := range a.Tasks {
		if t.State != TaskFailed {
			continue
		}
		fmt.Fprintf(w, "\n%s %d (%s) failed: %s\n", unit, t.Index+1, t.Label, t.Error)
		if t.LogTail != "" {
			fmt.Fprintf(w, "  last lines of %s:\n", t.Log)
			for _, l := range strings.Split(t.LogTail, "\n") {
				fmt.Fprintf(w, "  | %s\n", l)
			}
		}
	}
	fmt.Fprintln(w, a.Progress())
}

// slurmCancel cancels the array and report jobs of every submission that
// still has something queued or running, and returns their ids.
func slurmCancel(out string) ([]string, error) {
	rec, err := readSlurmRecord(out)
	if err != nil {
		return nil, err
	}
	cli := slurmCLI{}
	if err := cli.check(); err != nil {
		return nil, err
	}
	var jobs []string
	for _, j := range rec.Jobs {
		jobs = append(jobs, j.Array)
		if j.Report != "" {
			jobs = append(jobs, j.Report)
		}
	}
	queue, err := cli.queue(jobs)
	if err != nil {
		return nil, err
	}
	activeJobs := map[string]bool{}
	for k, s := range queue {
		if s.active() {
			activeJobs[k.Job] = true
		}
	}
	var cancel []string
	for _, j := range jobs {
		if activeJobs[j] {
			cancel = append(cancel, j)
		}
	}
	if len(cancel) == 0 {
		return nil, nil
	}
	if _, err := cli.run("scancel", cancel...); err != nil {
		return nil, err
	}
	return cancel, nil
}

// jobScript is the text of a submitted job script. Every task records when
// it started and its exit code in DIR/slurm/state (written by rename, so a
// reader never sees half a file), which is how failures are told apart
// without an accounting database; a task cancelled or timed out gets
// SIGTERM, passes it on to mirage and records 143.
func jobScript(o SlurmOptions, name, out, array string, command []string) string {
	var b strings.Builder
	b.WriteString("#!/bin/bash\n")
	b.WriteString("# Submitted by mirage; kept for reading and resubmitting by hand (sbatch THIS).\n")
	fmt.Fprintf(&b, "#SBATCH --job-name=%s\n", name)
	if array != "" {
		fmt.Fprintf(&b, "#SBATCH --array=%s\n", array)
		fmt.Fprintf(&b, "#SBATCH --output=%s\n", filepath.Join(slurmDir(out), "logs", "%a.%A.log"))
	} else {
		fmt.Fprintf(&b, "#SBATCH --output=%s\n", filepath.Join(slurmDir(out), "logs", "report.%j.log"))
	}
	writeSbatchOptions(&b, o)
	b.WriteString("\nset -u\n")
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

// submission is one experiment to put on Slurm: the tasks still to run
// and the commands that run a task and build the report.
type submission struct {
	kind    string
	command string
	out     string
	tasks   []slurmTask
	// todo are the indices to submit.
	todo []int
	// task is the command of one task, with "$SLURM_ARRAY_TASK_ID" for
	// its index; report builds the report once the array has ended.
	task, report []string
	// files are written into DIR/slurm before submitting: the plan the
	// tasks read.
	files map[string][]byte
}

// SlurmSubmission is what a submission did.
type SlurmSubmission struct {
	// Array and Report are the job ids of the array and of the dependent
	// job that writes the report.
	Array, Report string
	// Indices are the rows or arms submitted; Script is the array's job
	// script, kept in the output directory.
	Indices []int
	Script  string
}

// submit writes the job scripts and the plan into DIR/slurm and submits
// the array and the report job. The caller has checked that Slurm answers
// and that everything is valid; if sbatch still refuses, the files this
// call created are removed again, so DIR holds what it held before.
func (s *submission) submit(o SlurmOptions) (sub *SlurmSubmission, err error) {
	cli := slurmCLI{}
	var created []string // files and directories to remove if submitting fails
	mkdir := func(dir string) error {
		if _, err := os.Stat(dir); err == nil {
			return nil
		}
		parent := filepath.Dir(dir)
		if _, err := os.Stat(parent); errors.Is(err, fs.ErrNotExist) {
			if err := mkdirCreated(parent, &created); err != nil {
				return err
			}
		}
		return mkdirCreated(dir, &created)
	}
	defer func() {
		if err != nil {
			for i := len(created) - 1; i >= 0; i-- {
				os.Remove(created[i])
			}
		}
	}()
	sdir := slurmDir(s.out)
	for _, d := range []string{s.out, sdir, filepath.Join(sdir, "logs"), filepath.Join(sdir, "state")} {
		if err := mkdir(d); err != nil {
			return nil, fmt.Errorf("cannot create %s: %w", d, err)
		}
	}
	rec, err := readSlurmRecord(s.out)
	if err != nil {
		rec = &slurmRecord{}
	}
	rec.Kind, rec.Tasks, rec.Command = s.kind, s.tasks, s.command
	names := make([]string, 0, len(s.files))
	for name := range s.files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		path := filepath.Join(sdir, name)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			created = append(created, path)
		}
		if err := atomicfile.WriteFile(path, s.files[name]); err != nil {
			return nil, err
		}
	}
	n := len(rec.Jobs) + 1
	script := filepath.Join(sdir, fmt.Sprintf("%s-%d.sh", s.kind, n))
	reportScript := filepath.Join(sdir, fmt.Sprintf("%s-%d-report.sh", s.kind, n))
	jobName := "mirage-" + s.kind
	array := formatArrayList(s.todo, o.MaxParallel)
	for path, text := range map[string]string{
		script:       jobScript(o, jobName, s.out, array, s.task),
		reportScript: jobScript(o, jobName+"-report", s.out, "", s.report),
	} {
		created = append(created, path)
		if err := atomicfile.WriteFile(path, []byte(text)); err != nil {
			return nil, err
		}
		if err := os.Chmod(path, 0o755); err != nil {
			return nil, err
		}
	}
	// Submit held, so the array is queued only with its report job.
	outText, err := cli.run("sbatch", "--parsable", "--hold", script)
	if err != nil {
		return nil, fmt.Errorf("submitting %s: %v", script, err)
	}
	arrayID, err := parseSbatchID(outText)
	if err != nil {
		return nil, err
	}
	outText, err = cli.run("sbatch", "--parsable", "--dependency=afterany:"+arrayID, reportScript)
	var reportID string
	if err == nil {
		reportID, err = parseSbatchID(outText)
	}
	if err != nil {
		cli.run("scancel", arrayID)
		return nil, fmt.Errorf("submitting the report job %s: %v (the array %s was cancelled)", reportScript, err, arrayID)
	}
	if _, err := cli.run("scontrol", "release", arrayID); err != nil {
		cli.run("scancel", arrayID, reportID)
		return nil, fmt.Errorf("releasing array job %s: %v (cancelled it)", arrayID, err)
	}
	rec.Jobs = append(rec.Jobs, slurmJob{Array: arrayID, Report: reportID, Indices: s.todo,
		Script: script, Submitted: time.Now().UTC().Format(time.RFC3339)})
	created = nil // submitted: keep everything, even if the record cannot be written
	if err := writeSlurmRecord(s.out, rec); err != nil {
		return nil, fmt.Errorf("submitted array job %s, but cannot record it: %w", arrayID, err)
	}
	return &SlurmSubmission{Array: arrayID, Report: reportID, Indices: s.todo, Script: script}, nil
}

func mkdirCreated(dir string, created *[]string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	*created = append(*created, dir)
	return nil
}

// checkOutDir refuses output directories that cannot be named in a job
// script's #SBATCH lines, and makes the path absolute: tasks start in
// another working directory.
func checkOutDir(out string) (string, error) {
	abs, err := filepath.Abs(out)
	if err != nil {
		return "", err
	}
	if strings.ContainsAny(abs, unsafePathChars) {
		return "", fmt.Errorf("output directory %q cannot be used with --executor slurm: its path must not contain spaces, quotes, %%, or shell characters", abs)
	}
	return abs, nil
}

// activeTasks returns the tasks queued or running in a previous
// submission, which a new one must not submit again.
func activeTasks(out string) (map[int]string, error) {
	rec, err := readSlurmRecord(out)
	if err != nil {
		return nil, nil // nothing submitted before
	}
	var jobs []string
	for _, j := range rec.Jobs {
		jobs = append(jobs, j.Array)
	}
	queue, err := slurmCLI{}.queue(jobs)
	if err != nil {
		return nil, err
	}
	active := map[int]string{}
	for k, s := range queue {
		if s.active() && k.Task >= 0 {
			if job := rec.lastJob(k.Task); job != nil && job.Array == k.Job {
				active[k.Task] = k.Job
			}
		}
	}
	return active, nil
}

// waitSlurm polls status until nothing is queued or running, printing
// progress to w whenever it changes. Slurm not answering is waited out,
// for up to maxQueueErrors polls in a row.
func waitSlurm(poll time.Duration, w io.Writer, status func() (*ArrayStatus, error)) (*ArrayStatus, error) {
	const maxQueueErrors = 30
	last, errors := "", 0
	for {
		st, err := status()
		if st == nil {
			return nil, err
		}
		if p := st.Progress(); p != last {
			fmt.Fprintf(w, "%s  %s\n", time.Now().Format("15:04:05"), p)
			last = p
		}
		switch {
		case err == nil && !st.Active():
			return st, nil
		case err == nil:
			errors = 0
		default:
			errors++
			if errors == 1 {
				fmt.Fprintf(w, "%s  %v; still waiting\n", time.Now().Format("15:04:05"), err)
			}
			if errors >= maxQueueErrors {
				return nil, fmt.Errorf("gave up waiting: %w (the jobs may still run; see mirage %s status %s)", err, st.Kind, st.Out)
			}
		}
		time.Sleep(poll)
	}
}
