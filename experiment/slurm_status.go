package experiment

// The state of each task of an experiment on Slurm, from squeue and the
// files its job script wrote; cancelling and waiting.

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

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
// state; tasks gives the tasks of the record (see taskList). An unreachable
// Slurm is not an error: the files alone still tell what finished (Slurm
// states are then left empty).
func slurmStatus(out string, tasks func(*slurmRecord) (taskList, error), result taskResult) (*ArrayStatus, error) {
	rec, err := readSlurmRecord(out)
	if err != nil {
		return nil, err
	}
	list, err := tasks(rec)
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
	st.Tasks = make([]TaskStatus, 0, list.Len())
	for i := range list.Len() {
		t := list.Task(i)
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
