package experiment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/train"
)

// A comparison on Slurm is one array task per arm, each training its arm
// into DIR/LABEL exactly as [Compare] would, and a job that depends on the
// array (afterany) and writes the report with [CompareConfig.ReportOnly].
// The plan every job reads is DIR/slurm/compare.json.

const slurmCompareFile = "compare.json"

// comparePlan is DIR/slurm/compare.json.
type comparePlan struct {
	Base       train.Config `json:"base"`
	Arms       []Arm        `json:"arms"`
	ProbeBatch int          `json:"probe_batch,omitempty"`
	// CheckpointEvery is Base.CheckpointEvery, which a run's
	// configuration leaves out of its JSON (it is not part of what a
	// resumed run must match), but every task must honour.
	CheckpointEvery int `json:"checkpoint_every,omitempty"`
}

// marshalComparePlan returns DIR/slurm/compare.json for cfg.
func marshalComparePlan(cfg CompareConfig) ([]byte, error) {
	base := cfg.Base
	base.OutDir, base.Progress = "", false
	plan, err := json.MarshalIndent(comparePlan{Base: base, Arms: cfg.Arms, ProbeBatch: cfg.ProbeBatch, CheckpointEvery: base.CheckpointEvery}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(plan, '\n'), nil
}

// finishedRun loads an arm's finished run, without training one: the run
// of a report built with ReportOnly.
func finishedRun(cfg train.Config, reg mirage.Registries, dir string, classes int, log io.Writer) (*Outcome, error) {
	if _, err := readSummary(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no finished run in %s (its training failed or has not run; run the comparison again to train it)", dir)
		}
		return nil, err
	}
	return runOrReuse(context.Background(), cfg, reg, dir, classes, log)
}

// checkCompare validates a comparison as [Compare] does before training:
// the configuration, every arm's label and backend options, and no arm
// directory holding a finished run of another configuration. It returns
// the number of classes of the data set, after opening it and building the
// model.
func checkCompare(cfg CompareConfig, log io.Writer) (int, error) {
	if len(cfg.Arms) == 0 {
		return 0, fmt.Errorf("no backends to compare")
	}
	base := cfg.Base
	base.OutDir = ""
	if err := base.Validate(cfg.Registries); err != nil {
		return 0, err
	}
	reg := cfg.Registries.Backends
	labels := map[string]bool{}
	for _, a := range cfg.Arms {
		if a.Label == "" || sanitizeLabel(a.Label) != a.Label {
			return 0, fmt.Errorf("arm label %q must be a non-empty file name (letters, digits, - . = _)", a.Label)
		}
		if labels[a.Label] {
			return 0, fmt.Errorf("two arms are labelled %q; labels name run directories and must differ", a.Label)
		}
		labels[a.Label] = true
		if _, err := reg.New(a.Backend, a.Options); err != nil {
			return 0, fmt.Errorf("arm %s: %w", a.Label, err)
		}
		if prev, err := readSummary(filepath.Join(cfg.Out, a.Label)); err == nil {
			if diff := runDiff(prev, armConfig(base, a), cfg.Registries); diff != "" {
				return 0, fmt.Errorf("%s holds a finished run with a different configuration (%s); use another --out directory or delete that one", filepath.Join(cfg.Out, a.Label), diff)
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return 0, err
		}
	}
	env, err := train.Setup(armConfig(base, cfg.Arms[0]), cfg.Registries, log)
	if err != nil {
		return 0, err
	}
	return len(env.Train.Classes()), nil
}

// ComparePlan reads the comparison an output directory was submitted to
// Slurm with, for its tasks and for building its report; its names are
// looked up in reg.
func ComparePlan(out string, reg mirage.Registries) (CompareConfig, error) {
	path := filepath.Join(slurmDir(out), slurmCompareFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return CompareConfig{}, fmt.Errorf("%s has no Slurm comparison plan (%v)", out, err)
	}
	var p comparePlan
	if err := json.Unmarshal(data, &p); err != nil {
		return CompareConfig{}, fmt.Errorf("%s is unreadable (%v); submit the comparison again", path, err)
	}
	cfg := CompareConfig{Base: p.Base, Arms: p.Arms, Out: out, ProbeBatch: p.ProbeBatch, Registries: reg}
	cfg.Base.CheckpointEvery = p.CheckpointEvery
	if rec, err := readSlurmRecord(out); err == nil {
		cfg.Command = rec.Command // the report names the submitting command
	}
	return cfg, nil
}

// CompareArm trains arm index (from 0) of a comparison — the work of one
// Slurm array task — with the same code as [Compare] trains each arm with.
func CompareArm(ctx context.Context, cfg CompareConfig, index int, log io.Writer) (*Outcome, error) {
	if log == nil {
		log = io.Discard
	}
	if index < 0 || index >= len(cfg.Arms) {
		return nil, fmt.Errorf("arm %d does not exist: the comparison has arms 0 to %d", index, len(cfg.Arms)-1)
	}
	classes, err := checkCompare(cfg, log)
	if err != nil {
		return nil, err
	}
	base := cfg.Base
	base.OutDir = ""
	a := cfg.Arms[index]
	fmt.Fprintf(log, "experiment: arm %d/%d: %s (backend %s)\n", index+1, len(cfg.Arms), a.Label, a.Backend)
	out, err := runOrReuse(ctx, armConfig(base, a), cfg.Registries, filepath.Join(cfg.Out, a.Label), classes, log)
	if err != nil {
		return nil, fmt.Errorf("arm %s failed: %w", a.Label, err)
	}
	return out, nil
}

// SubmitCompare validates the comparison, then submits one Slurm array
// task per arm without a finished run (and not still queued or running),
// and a job that builds the report when the array has ended. It returns
// nil and no error when every arm is finished.
//
// When the Slurm commands are missing or the controller does not answer,
// it returns one error and writes nothing.
func SubmitCompare(cfg CompareConfig, o SlurmOptions, log io.Writer) (*SlurmSubmission, error) {
	out, log, err := prepareSubmit(cfg.Out, o, log)
	if err != nil {
		return nil, err
	}
	cfg.Out = out
	if _, err := checkCompare(cfg, log); err != nil {
		return nil, err
	}
	plan, err := marshalComparePlan(cfg)
	if err != nil {
		return nil, err
	}
	s := &submission{kind: "compare", command: cfg.Command, out: out, files: map[string][]byte{slurmCompareFile: plan}}
	active, fresh, err := activeTasks(out, s.files)
	if err != nil {
		return nil, err
	}
	s.fresh = fresh
	for i, a := range cfg.Arms {
		s.tasks = append(s.tasks, slurmTask{Index: i, ID: a.Label, Label: a.Backend})
		if _, err := readSummary(filepath.Join(out, a.Label)); err == nil {
			continue
		}
		if job, ok := active[i]; ok {
			fmt.Fprintf(log, "experiment: arm %s is still queued or running in job %s; not submitting it again\n", a.Label, job)
			continue
		}
		s.todo = append(s.todo, i)
	}
	if len(s.todo) == 0 {
		return nil, nil
	}
	s.task = []string{o.Executable, "compare", "--out", out, "--no-progress", "--arm", "$SLURM_ARRAY_TASK_ID"}
	s.report = []string{o.Executable, "compare", "--out", out, "--no-progress", "--report-only"}
	return s.submit(o)
}

// CompareStatus reports every arm of a comparison submitted to Slurm.
func CompareStatus(out string) (*ArrayStatus, error) {
	arms := func(rec *slurmRecord) (taskList, error) { return listedTasks(rec.Tasks), nil }
	return slurmStatus(out, arms, func(t slurmTask) (bool, string) {
		_, err := readSummary(filepath.Join(out, t.ID))
		return err == nil, ""
	})
}

// WaitCompare polls every poll until no arm is queued or running and the
// report job has ended, printing progress to w.
func WaitCompare(out string, poll time.Duration, w io.Writer) (*ArrayStatus, error) {
	return waitSlurm(poll, w, func() (*ArrayStatus, error) { return CompareStatus(out) })
}
