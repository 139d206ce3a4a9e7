package experiment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/internal/atomicfile"
	"github.com/mirage-go/mirage/train"
)

// A sweep on Slurm keeps, besides what a local sweep writes:
//
//	DIR/slurm/spec.json         the spec every task plans from
//	DIR/slurm/rows/ID.json      each row's result, written by its task
//	DIR/slurm/record.json       the rows and every submission's job ids
//	DIR/slurm/sweep-N.sh        the job scripts (and sweep-N-report.sh)
//	DIR/slurm/logs, state/      the tasks' logs, start times and exit codes
//
// Tasks never append to results.jsonl: many nodes appending to one file on
// a network file system can interleave. Each writes its row to its own
// file by rename, and the report job (or --wait, or --report-only) merges
// the rows into results.jsonl.

const slurmSpecFile = "spec.json"

func rowResultPath(out, id string) string {
	return filepath.Join(slurmDir(out), "rows", id+".json")
}

// planSweep validates the sweep exactly as [Sweep] does before its first
// run: every row's configuration, and each distinct data set and model
// opened once. It returns the rows (made on demand), the digest of their
// IDs, and the class count per data key.
func planSweep(cfg SweepConfig, log io.Writer) (Rows, string, map[string]int, error) {
	grid, digest, err := planGrid(context.Background(), cfg.Spec, cfg.Registries)
	if err != nil {
		return nil, "", nil, err
	}
	rows := sweepRows{grid, cfg}
	classes, err := checkData(context.Background(), rows, cfg.Registries, false, log)
	if err != nil {
		return nil, "", nil, err
	}
	return rows, digest, classes, nil
}

// SweepRow runs row index (from 0) of the sweep — the work one Slurm array
// task does — through the same code as [Sweep] runs each row with, and
// writes the row's result to DIR/slurm/rows/ID.json by rename. A row that
// fails is written as failed, and SweepRow returns its error. Only that
// row is made from the spec (the submission validated them all).
func SweepRow(ctx context.Context, cfg SweepConfig, index int, log io.Writer) (*ResultRow, error) {
	if log == nil {
		log = io.Discard
	}
	grid, err := NewGrid(cfg.Spec, cfg.Registries)
	if err != nil {
		return nil, err
	}
	if index < 0 || index >= grid.Len() {
		return nil, fmt.Errorf("row %d does not exist: the sweep has rows 0 to %d", index, grid.Len()-1)
	}
	r := sweepRows{grid, cfg}.Row(index)
	if err := validateRow(grid.k, grid.reg, r); err != nil {
		return nil, fmt.Errorf("row %d (%s, backend %s): %w", r.Index+1, r.Label(), r.Config.Backend, err)
	}
	env, err := train.Setup(r.Config, cfg.Registries, log)
	if err != nil {
		return nil, fmt.Errorf("row %d (%s): %w", r.Index+1, r.Label(), err)
	}
	classes := len(env.Train.Classes())
	env = nil
	if err := os.MkdirAll(filepath.Join(cfg.Out, "runs"), 0o755); err != nil {
		return nil, fmt.Errorf("cannot create output directory: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(slurmDir(cfg.Out), "rows"), 0o755); err != nil {
		return nil, fmt.Errorf("cannot create output directory: %w", err)
	}
	fmt.Fprintf(log, "experiment: sweep row %d/%d: %s (backend %s)\n", r.Index+1, grid.Len(), r.Label(), r.Config.Backend)
	dir := filepath.Join(cfg.Out, "runs", r.ID)
	out, runErr := runOrReuse(ctx, r.Config, cfg.Registries, dir, classes, log)
	if errors.As(runErr, new(*train.InterruptedError)) {
		// Stopped (scancel sends SIGTERM): the state is saved and no row
		// is written, so the row counts as unfinished and resubmitting
		// resumes it.
		return nil, fmt.Errorf("row %d: %w", r.Index+1, runErr)
	}
	row := newResultRow(r, dir, out, runErr)
	data, err := json.Marshal(row)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(rowResultPath(cfg.Out, r.ID), append(data, '\n')); err != nil {
		return nil, err
	}
	if runErr != nil {
		return row, fmt.Errorf("row %d failed: %w", r.Index+1, runErr)
	}
	return row, nil
}

// readRowResult reads a row file written by SweepRow; nil when there is
// none or it is unreadable (the row then runs again).
func readRowResult(out, id string) *ResultRow {
	data, err := os.ReadFile(rowResultPath(out, id))
	if err != nil {
		return nil
	}
	var r ResultRow
	if json.Unmarshal(data, &r) != nil || r.ID != id {
		return nil
	}
	return &r
}

// finishedRows merges results.jsonl and the row files: for each row ID,
// the status of the newer of the two (statuses, not results: a submission
// needs only to know which rows to skip).
func finishedRows(out string, rows Rows, log io.Writer) (map[string]rowStatus, error) {
	results, err := loadStatuses(filepath.Join(out, "results.jsonl"), log)
	if err != nil {
		return nil, err
	}
	for r := range All(rows) {
		if f := readRowResult(out, r.ID); f != nil {
			if prev, ok := results[r.ID]; !ok || prev.replacedBy(statusOf(f)) {
				results[r.ID] = statusOf(f)
			}
		}
	}
	return results, nil
}

// SubmitSweep validates the whole sweep, then submits one Slurm job array
// with a task per row that is not finished (missing from results.jsonl and
// the row files, or failed) and not still queued or running from an
// earlier submission, and a job that writes the report when the array has
// ended. It returns nil and no error when there is nothing to submit.
//
// When the Slurm commands are missing or the controller does not answer,
// it returns one error and writes nothing.
func SubmitSweep(cfg SweepConfig, o SlurmOptions, log io.Writer) (*SlurmSubmission, error) {
	out, log, err := prepareSubmit(cfg.Out, o, log)
	if err != nil {
		return nil, err
	}
	cfg.Out = out
	rows, digest, _, err := planSweep(cfg, log)
	if err != nil {
		return nil, err
	}
	spec, err := json.MarshalIndent(cfg.Spec, "", "  ")
	if err != nil {
		return nil, err
	}
	// The tasks plan from the saved spec: it must give the same rows.
	saved, err := ParseSpec(spec, slurmSpecFile)
	if err != nil {
		return nil, fmt.Errorf("the spec does not survive saving as JSON (%v); please report this", err)
	}
	again, err := NewGrid(saved, cfg.Registries)
	if err != nil || again.Len() != rows.Len() {
		return nil, fmt.Errorf("the saved spec plans differently (%v); please report this", err)
	}
	for i := range rows.Len() {
		if again.Row(i).ID != rows.Row(i).ID {
			return nil, fmt.Errorf("the saved spec plans row %d differently; please report this", i+1)
		}
	}
	finished, err := finishedRows(out, rows, io.Discard)
	if err != nil {
		return nil, err
	}
	s := &submission{kind: "sweep", command: cfg.Command, out: out, files: map[string][]byte{slurmSpecFile: append(spec, '\n')}}
	active, fresh, err := activeTasks(out, s.files)
	if err != nil {
		return nil, err
	}
	s.fresh = fresh
	// The record keeps the number of rows, not the rows: status makes
	// each from the saved spec (see sweepTasks).
	s.count = rows.Len()
	for r := range All(rows) {
		if f, ok := finished[r.ID]; ok && f.Status != Failed {
			continue
		}
		if job, ok := active[r.Index]; ok {
			fmt.Fprintf(log, "experiment: row %d is still queued or running in job %s; not submitting it again\n", r.Index+1, job)
			continue
		}
		s.todo = append(s.todo, r.Index)
	}
	if len(s.todo) == 0 {
		return nil, nil
	}
	common, err := sweepTaskArgs(o, out, cfg)
	if err != nil {
		return nil, err
	}
	s.task = append(append([]string{}, common...), "--row", "$SLURM_ARRAY_TASK_ID")
	s.report = append(append([]string{}, common...), "--report-only")
	sub, err := s.submit(o)
	if err != nil {
		return nil, err
	}
	// plan.json is what a local sweep writes too; written after submitting,
	// so a refused submission leaves the directory as it was.
	if err := writePlan(out, cfg.Spec, rows.Len(), digest); err != nil {
		return sub, err
	}
	return sub, nil
}

// SweepReport merges the rows that tasks wrote into results.jsonl and
// writes the report, as a local sweep does at its end; it trains nothing.
// It returns an error naming the rows that failed or are missing.
func SweepReport(cfg SweepConfig, log io.Writer) (*SweepResult, error) {
	if log == nil {
		log = io.Discard
	}
	grid, err := PlanGrid(cfg.Spec, cfg.Registries)
	if err != nil {
		return nil, err
	}
	rows := sweepRows{grid, cfg}
	if rec, err := readSlurmRecord(cfg.Out); err == nil && rec.Command != "" {
		cfg.Command = rec.Command // the report names the submitting command
	}
	resultsPath := filepath.Join(cfg.Out, "results.jsonl")
	inFile, err := loadResults(resultsPath, log)
	if err != nil {
		return nil, err
	}
	res := &SweepResult{Rows: rows, Results: map[string]*ResultRow{}}
	failed, missing := 0, 0
	for r := range All(rows) {
		got := inFile[r.ID]
		if f := readRowResult(cfg.Out, r.ID); f != nil && (got == nil || statusOf(got).replacedBy(statusOf(f))) {
			if err := appendResult(resultsPath, f); err != nil {
				return nil, err
			}
			got = f
		}
		switch {
		case got == nil:
			missing++
			res.Remaining++
			continue
		case got.Status == Failed:
			failed++
		}
		res.Results[r.ID] = got
		res.Skipped++
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, err
	}
	if err := writeSweepReport(cfg, res); err != nil {
		return nil, err
	}
	if failed+missing > 0 {
		return res, fmt.Errorf("%d row(s) failed and %d have no result; see mirage sweep status %s (submitting again reruns them)", failed, missing, cfg.Out)
	}
	return res, nil
}

// SweepStatus reports every row of a sweep submitted to Slurm, from squeue
// and from the files in out. When Slurm cannot be asked, the states come
// from the files alone and the error says so.
func SweepStatus(out string, reg mirage.Registries) (*ArrayStatus, error) {
	// Read-only, a line at a time, keeping each row's status and error: a
	// partial last line of results.jsonl is left for the report to cut,
	// and a file that does not read is as good as missing (the row files
	// still tell).
	type outcome struct {
		rowStatus
		err string
	}
	results := map[string]outcome{}
	if _, err := scanWholeResults(filepath.Join(out, "results.jsonl"), func(r *ResultRow) {
		results[r.ID] = outcome{statusOf(r), r.Error}
	}); err != nil {
		clear(results)
	}
	return slurmStatus(out, sweepTasks(out, reg), func(t slurmTask) (bool, string) {
		r, ok := results[t.ID]
		if f := readRowResult(out, t.ID); f != nil && (!ok || r.replacedBy(statusOf(f))) {
			r, ok = outcome{statusOf(f), f.Error}, true
		}
		switch {
		case !ok:
			return false, ""
		case r.Status == Failed:
			return false, r.err
		}
		return true, ""
	})
}

// sweepTasks returns the tasks of a sweep's Slurm record: the rows it
// lists (a record written before sweeps were planned lazily), or else its
// rows made one at a time from the spec the tasks read, DIR/slurm/spec.json.
func sweepTasks(out string, reg mirage.Registries) func(*slurmRecord) (taskList, error) {
	return func(rec *slurmRecord) (taskList, error) {
		if len(rec.Tasks) > 0 {
			return listedTasks(rec.Tasks), nil
		}
		path := filepath.Join(slurmDir(out), slurmSpecFile)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: cannot read the spec the tasks plan from (%v); submit the sweep again", out, err)
		}
		spec, err := ParseSpec(data, slurmSpecFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %v; submit the sweep again", path, err)
		}
		grid, err := NewGrid(spec, reg)
		if err != nil {
			return nil, fmt.Errorf("%s no longer plans (%v); use the mirage that submitted it", path, err)
		}
		if grid.Len() != rec.TaskCount {
			return nil, fmt.Errorf("%s plans %d rows but %d were submitted; use the mirage that submitted it", path, grid.Len(), rec.TaskCount)
		}
		return gridTasks{grid}, nil
	}
}

// gridTasks are a sweep's rows as Slurm tasks, made on demand.
type gridTasks struct{ rows Rows }

func (g gridTasks) Len() int { return g.rows.Len() }

func (g gridTasks) Task(i int) slurmTask {
	r := g.rows.Row(i)
	return slurmTask{Index: r.Index, ID: r.ID, Label: r.Label()}
}

// WaitSweep polls every poll until no row of the latest submission is
// queued or running and its report job has ended, printing progress to w.
func WaitSweep(out string, reg mirage.Registries, poll time.Duration, w io.Writer) (*ArrayStatus, error) {
	return waitSlurm(poll, w, func() (*ArrayStatus, error) { return SweepStatus(out, reg) })
}

// CancelSlurm cancels the jobs of a sweep or comparison submitted to Slurm
// that are still queued or running, and returns their ids.
func CancelSlurm(out string) ([]string, error) { return slurmCancel(out) }

// SlurmKind returns "sweep" or "compare" for an output directory that an
// experiment was submitted to Slurm from.
func SlurmKind(out string) (string, error) {
	rec, err := readSlurmRecord(out)
	if err != nil {
		return "", err
	}
	return rec.Kind, nil
}

// sweepTaskArgs returns the command line, but for the row, that a task of
// the sweep cfg runs: the saved spec, the output directory and the
// settings of the submitting command that the spec does not hold (the
// data directory, the checkpoint interval).
func sweepTaskArgs(o SlurmOptions, out string, cfg SweepConfig) ([]string, error) {
	specPath := filepath.Join(slurmDir(out), slurmSpecFile)
	args := []string{o.Executable, "sweep", "--spec", specPath, "--out", out, "--no-progress"}
	if cfg.DataDir != "" {
		dataDir, err := filepath.Abs(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		args = append(args, "--data-dir", dataDir)
	}
	if cfg.CheckpointEvery > 0 {
		args = append(args, "--checkpoint-every", strconv.Itoa(cfg.CheckpointEvery))
	}
	return args, nil
}
