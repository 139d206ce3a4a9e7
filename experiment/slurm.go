package experiment

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
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
	// Tasks are a comparison's arms, by array index. A sweep lists none:
	// its task i is row i of DIR/slurm/spec.json, made when needed (a
	// record written before sweeps were planned lazily lists its rows).
	Tasks []slurmTask `json:"tasks,omitempty"`
	// TaskCount is the number of tasks when Tasks does not list them.
	TaskCount int `json:"task_count,omitempty"`
	// Jobs are the submissions of this plan, oldest first.
	Jobs []slurmJob `json:"jobs"`
	// Submissions counts every submission into the directory; it numbers
	// the job scripts.
	Submissions int `json:"submissions"`
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
	// lastJob searches each job's indices, which submissions record in
	// increasing order; a record edited by hand may not have them so.
	for _, j := range r.Jobs {
		slices.Sort(j.Indices)
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

// lastJob returns the latest submission that ran task i, or nil. It
// searches each job's sorted indices: asking for every task of a sweep of
// 100,000 rows must not take 100,000² steps.
func (r *slurmRecord) lastJob(i int) *slurmJob {
	for j := len(r.Jobs) - 1; j >= 0; j-- {
		if _, found := slices.BinarySearch(r.Jobs[j].Indices, i); found {
			return &r.Jobs[j]
		}
	}
	return nil
}

// taskList is the tasks of a submission by array index: a comparison's
// arms held in the record, or a sweep's rows made from its spec.
type taskList interface {
	Len() int
	Task(i int) slurmTask
}

// listedTasks are tasks held in memory.
type listedTasks []slurmTask

func (l listedTasks) Len() int             { return len(l) }
func (l listedTasks) Task(i int) slurmTask { return l[i] }

// submission is one experiment to put on Slurm: the tasks still to run
// and the commands that run a task and build the report.
type submission struct {
	kind    string
	command string
	out     string
	// tasks are the arms of a comparison; a sweep's are its rows, of
	// which the record keeps only the number, count.
	tasks []slurmTask
	count int
	// todo are the indices to submit.
	todo []int
	// task is the command of one task, with "$SLURM_ARRAY_TASK_ID" for
	// its index; report builds the report once the array has ended.
	task, report []string
	// files are written into DIR/slurm before submitting: the plan the
	// tasks read.
	files map[string][]byte
	// fresh starts the record of submissions anew (the plan changed).
	fresh bool
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
	defer func() {
		if err != nil {
			for i := len(created) - 1; i >= 0; i-- {
				os.Remove(created[i])
			}
		}
	}()
	sdir := slurmDir(s.out)
	for _, d := range []string{filepath.Join(sdir, "logs"), filepath.Join(sdir, "state")} {
		if err := mkdirAllCreated(d, &created); err != nil {
			return nil, fmt.Errorf("cannot create %s: %w", d, err)
		}
	}
	rec, err := readSlurmRecord(s.out)
	if err != nil {
		rec = &slurmRecord{}
	}
	if s.fresh {
		rec.Jobs = nil
	}
	rec.Kind, rec.Tasks, rec.TaskCount, rec.Command = s.kind, s.tasks, s.count, s.command
	rec.Submissions++
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
	n := rec.Submissions
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

// mkdirAllCreated is os.MkdirAll that appends each directory it creates
// to created, parents first.
func mkdirAllCreated(dir string, created *[]string) error {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		*created = append(*created, missing[i])
	}
	return nil
}

// prepareSubmit is what every submission checks before it plans anything:
// an output directory that a job script can name (made absolute, see
// checkOutDir), valid Slurm options, and Slurm commands that answer. It
// returns the absolute directory, and io.Discard for a nil log.
func prepareSubmit(out string, o SlurmOptions, log io.Writer) (string, io.Writer, error) {
	if log == nil {
		log = io.Discard
	}
	if out == "" {
		return "", nil, fmt.Errorf("no output directory given (--out)")
	}
	if err := o.Validate(); err != nil {
		return "", nil, err
	}
	abs, err := checkOutDir(out)
	if err != nil {
		return "", nil, err
	}
	if err := (slurmCLI{}).check(); err != nil {
		return "", nil, err
	}
	return abs, log, nil
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

// activeTasks returns the tasks queued or running from previous
// submissions, which a new one must not submit again, and whether the
// record of those submissions still applies. Tasks find their row or arm
// by index in the plan saved in DIR/slurm, so a plan that changed (a spec
// edited between submissions) makes the old submissions' indices
// meaningless: then no earlier job may still be queued or running (its
// tasks would read the new plan), and the record starts afresh.
func activeTasks(out string, plan map[string][]byte) (active map[int]string, fresh bool, err error) {
	rec, err := readSlurmRecord(out)
	if err != nil {
		return nil, true, nil // nothing submitted before
	}
	changed := false
	for name, data := range plan {
		old, err := os.ReadFile(filepath.Join(slurmDir(out), name))
		if err != nil || !bytes.Equal(old, data) {
			changed = true
		}
	}
	var jobs []string
	for _, j := range rec.Jobs {
		jobs = append(jobs, j.Array)
	}
	queue, err := slurmCLI{}.queue(jobs)
	if err != nil {
		return nil, false, err
	}
	active = map[int]string{}
	for k, st := range queue {
		if st.active() && k.Task >= 0 {
			if job := rec.lastJob(k.Task); job != nil && job.Array == k.Job {
				active[k.Task] = k.Job
			}
		}
	}
	if !changed {
		return active, false, nil
	}
	for _, job := range active {
		return nil, false, fmt.Errorf("array job %s of %s is still queued or running with another plan (the spec or flags changed since it was submitted); wait for it, or cancel it with mirage %s cancel %s, before submitting the changed one", job, out, rec.Kind, out)
	}
	return nil, true, nil
}
