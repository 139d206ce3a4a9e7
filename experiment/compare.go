package experiment

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/checkpoint"
	"github.com/mirage-go/mirage/internal/atomicfile"
	"github.com/mirage-go/mirage/internal/outdir"
	"github.com/mirage-go/mirage/layers"
	"github.com/mirage-go/mirage/train"
)

// CompareConfig describes an A/B comparison.
type CompareConfig struct {
	// Base is the training configuration every arm shares; each arm
	// replaces its Backend and BackendOptions. Base.OutDir is ignored.
	Base train.Config
	// Arms are the backends to compare, in report order.
	Arms []Arm
	// Out is the output directory: one run directory per arm (named by
	// the arm's label) and the report files.
	Out string
	// ProbeBatch is the number of test examples the per-layer error probe
	// runs on; 0 means Base.BatchSize.
	ProbeBatch int
	// Command is the command line that produced the comparison, recorded in
	// the report so it can be regenerated.
	Command string
	// ReportOnly builds the report from the arms' finished runs and
	// trains nothing: an arm without one is reported as failed (the
	// arms of a comparison run on Slurm are trained by the array's tasks).
	ReportOnly bool
	// Registries are the models, data sets and backends the comparison's
	// names are looked up in (usually mirage.Default()).
	Registries mirage.Registries
}

// Comparison is the result of Compare, also written to report.json.
type Comparison struct {
	Command string       `json:"command,omitempty"`
	Created string       `json:"created"`
	Config  train.Config `json:"config"`
	Classes int          `json:"classes"`
	// InitialWeights is the SHA-256 of the initial weights and buffers,
	// the same for every arm.
	InitialWeights string      `json:"initial_weights_sha256"`
	Reference      string      `json:"reference_arm"`
	Arms           []ArmResult `json:"arms"`
	// Probes measure each backend against FP32 per layer and role: at the
	// initial weights, and at the FP32 arm's trained weights when there
	// is one and its weights file is kept.
	Probes []*ProbeReport `json:"probes"`
	// Warnings name diverged, collapsed and failed arms, and a probe
	// skipped for want of weights, in plain words.
	Warnings []string `json:"warnings,omitempty"`
}

// ArmResult is one arm's run.
type ArmResult struct {
	Arm
	Outcome *Outcome `json:"outcome,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// status is the arm's status, Failed when it has no outcome.
func (a *ArmResult) status() Status {
	if a.Outcome == nil {
		return Failed
	}
	return a.Outcome.Status
}

// Compare trains cfg.Base once per arm, one after another, then measures
// every backend against FP32 layer by layer and writes the report files to
// cfg.Out: report.md, report.json, accuracy.png and loss.png.
//
// Everything that can be checked before training is checked first: the
// training configuration, every arm's backend options, the data and model,
// and that no arm directory holds a finished run of another configuration.
// An arm that fails while training is reported as failed and the others
// still run; Compare then returns the comparison and an error saying which
// arms failed.
func Compare(cfg CompareConfig, log io.Writer) (*Comparison, error) {
	return CompareContext(context.Background(), cfg, log)
}

// CompareContext is Compare with cancellation: when ctx is cancelled, the
// arm in training finishes its step, saves its state and CompareContext
// returns its *train.InterruptedError; running the same comparison again
// reuses the finished arms and resumes that one where it stopped.
func CompareContext(ctx context.Context, cfg CompareConfig, log io.Writer) (*Comparison, error) {
	if log == nil {
		log = io.Discard
	}
	if len(cfg.Arms) == 0 {
		return nil, fmt.Errorf("no backends to compare")
	}
	if cfg.Out == "" {
		return nil, fmt.Errorf("no output directory given (--out)")
	}
	base := cfg.Base
	base.OutDir = ""
	if err := base.Validate(cfg.Registries); err != nil {
		return nil, err
	}
	reg := cfg.Registries.Backends
	labels := map[string]bool{}
	for _, a := range cfg.Arms {
		if a.Label == "" || sanitizeLabel(a.Label) != a.Label {
			return nil, fmt.Errorf("arm label %q must be a non-empty file name (letters, digits, - . = _)", a.Label)
		}
		if labels[a.Label] {
			return nil, fmt.Errorf("two arms are labelled %q; labels name run directories and must differ", a.Label)
		}
		labels[a.Label] = true
		if _, err := reg.New(a.Backend, a.Options); err != nil {
			return nil, fmt.Errorf("arm %s: %w", a.Label, err)
		}
		if prev, err := readSummary(filepath.Join(cfg.Out, a.Label)); err == nil {
			if diff := runDiff(prev, armConfig(base, a), cfg.Registries); diff != "" {
				return nil, fmt.Errorf("%s holds a finished run with a different configuration (%s); use another --out directory or delete that one", filepath.Join(cfg.Out, a.Label), diff)
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		} else if err := checkSavedState(filepath.Join(cfg.Out, a.Label), armConfig(base, a), cfg.Registries); err != nil {
			return nil, err
		}
	}
	env, err := train.Setup(armConfig(base, cfg.Arms[0]), cfg.Registries, log)
	if err != nil {
		return nil, err
	}
	cmp := &Comparison{
		Command: cfg.Command, Created: time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		Config: base, Classes: len(env.Train.Classes()),
		InitialWeights: fingerprint(env.Model),
		Reference:      referenceArm(cfg.Arms),
	}
	cmp.Config.Backend, cmp.Config.BackendOptions = "", nil
	probeBatch := cfg.ProbeBatch
	if probeBatch == 0 {
		probeBatch = base.BatchSize
	}
	if err := env.CheckBatch("--probe-batch", probeBatch); err != nil {
		return nil, err
	}
	for _, a := range cfg.Arms {
		if err := train.CheckFP32Layers(armConfig(base, a), env.Layers()); err != nil {
			return nil, fmt.Errorf("arm %s: %w", a.Label, err)
		}
	}
	// Probe at the initial weights now, so that a backend that cannot run
	// the model's GEMMs shows before hours of training, and so this copy of
	// the data set is garbage by the time the arms load theirs.
	probe, err := Probe(env, cfg.Arms, probeBatch,
		fmt.Sprintf("the initial weights (seed %d), which every arm starts from", base.Seed))
	if err != nil {
		return nil, fmt.Errorf("error probe at the initial weights: %w", err)
	}
	cmp.Probes = append(cmp.Probes, probe)
	// One writer per directory: a second compare on the same --out would
	// train every arm again and race on the report.
	lock, err := outdir.Acquire(cfg.Out, "mirage compare")
	if err != nil {
		return nil, err
	}
	defer lock.Release()

	for i, a := range cfg.Arms {
		fmt.Fprintf(log, "experiment: arm %d/%d: %s (backend %s)\n", i+1, len(cfg.Arms), a.Label, a.Backend)
		r := ArmResult{Arm: a}
		var out *Outcome
		var err error
		if cfg.ReportOnly {
			out, err = finishedRun(armConfig(base, a), cfg.Registries, filepath.Join(cfg.Out, a.Label), cmp.Classes, log)
		} else {
			out, err = runOrReuse(ctx, armConfig(base, a), cfg.Registries, filepath.Join(cfg.Out, a.Label), cmp.Classes, log)
			if errors.As(err, new(*train.InterruptedError)) {
				return nil, fmt.Errorf("arm %s: %w", a.Label, err)
			}
		}
		if err != nil {
			r.Error = err.Error()
			fmt.Fprintf(log, "experiment: arm %s failed: %v\n", a.Label, err)
		}
		r.Outcome = out
		cmp.Arms = append(cmp.Arms, r)
	}

	probe, skipped, err := probeTrained(cmp.trainedFP32(), base, cfg, probeBatch, log)
	if err != nil {
		return nil, err
	}
	if probe != nil {
		cmp.Probes = append(cmp.Probes, probe)
	}
	cmp.Warnings = cmp.warnings()
	if skipped != "" {
		cmp.Warnings = append(cmp.Warnings, skipped)
	}
	if err := writeComparison(cfg.Out, cmp); err != nil {
		return nil, err
	}
	if others := otherFinishedArms(cfg.Out, cfg.Arms); len(others) > 0 {
		fmt.Fprintf(log, "experiment: the report covers the arms given; %s also holds the finished arms %s: name them in --backends too to compare them in one report\n",
			cfg.Out, strings.Join(others, ", "))
	}
	var failed []string
	for _, a := range cmp.Arms {
		if a.Outcome == nil {
			failed = append(failed, a.Label)
		}
	}
	if len(failed) > 0 {
		return cmp, fmt.Errorf("%d of %d arms failed (%v); see %s", len(failed), len(cmp.Arms), failed, filepath.Join(cfg.Out, "report.md"))
	}
	return cmp, nil
}

// otherFinishedArms lists the subdirectories of out that hold a finished
// run (a summary.json) and are not among arms: arms of the same comparison
// run by other commands, which a report of arms alone leaves out.
func otherFinishedArms(out string, arms []Arm) []string {
	entries, err := os.ReadDir(out)
	if err != nil {
		return nil
	}
	named := map[string]bool{}
	for _, a := range arms {
		named[a.Label] = true
	}
	var others []string
	for _, e := range entries {
		if e.IsDir() && !named[e.Name()] && exists(filepath.Join(out, e.Name(), "summary.json")) {
			others = append(others, e.Name())
		}
	}
	return others
}

// checkSavedState refuses a run directory whose resumable state belongs to
// another configuration, before anything is trained.
func checkSavedState(dir string, cfg train.Config, reg mirage.Registries) error {
	if _, err := os.Stat(filepath.Join(dir, train.StateFile)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	diff, err := train.ResumeDiff(dir, cfg, reg)
	if err != nil {
		return err
	}
	if len(diff) > 0 {
		return fmt.Errorf("%s holds an unfinished run with other settings (%s); use another --out directory or delete that one", dir, strings.Join(diff, "; "))
	}
	return nil
}

// armConfig is base with the arm's backend.
// probeTrained probes every arm at the trained weights of the FP32 arm
// ref (nil when no FP32 arm trained). A reused arm whose weights were not
// kept (results/ in the repository keeps no weights files) is not probed:
// the report is still worth writing, and skipped says why it lacks the
// probe.
func probeTrained(ref *ArmResult, base train.Config, cfg CompareConfig, probeBatch int, log io.Writer) (probe *ProbeReport, skipped string, err error) {
	if ref == nil {
		return nil, "", nil
	}
	path := filepath.Join(ref.Outcome.Dir, "model.safetensors")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		skipped = fmt.Sprintf("no error probe at the trained weights: %s is missing (delete %s to train arm %s again and probe)", path, ref.Outcome.Dir, ref.Label)
		fmt.Fprintf(log, "experiment: %s\n", skipped)
		return nil, skipped, nil
	}
	env, err := train.Setup(armConfig(base, ref.Arm), cfg.Registries, io.Discard)
	if err != nil {
		return nil, "", err
	}
	if err := checkpoint.LoadInto(path, layers.StateDict(env.Model)); err != nil {
		return nil, "", fmt.Errorf("error probe: %w", err)
	}
	probe, err = Probe(env, cfg.Arms, probeBatch,
		fmt.Sprintf("the trained weights of arm %s after epoch %d (%s)", ref.Label, len(ref.Outcome.Metrics), path))
	if err != nil {
		return nil, "", fmt.Errorf("error probe at the trained weights: %w", err)
	}
	return probe, "", nil
}

func armConfig(base train.Config, a Arm) train.Config {
	c := base
	c.Backend, c.BackendOptions = a.Backend, a.Options
	return c
}

// referenceArm is the first plain FP32 arm, against which differences are
// reported; without one, the first arm.
func referenceArm(arms []Arm) string {
	for _, a := range arms {
		if a.Backend == "fp32" && len(a.Options) == 0 {
			return a.Label
		}
	}
	return arms[0].Label
}

// trainedFP32 returns the reference arm when it is an FP32 arm that trained
// normally, so its final weights are a realistic point to probe at.
func (c *Comparison) trainedFP32() *ArmResult {
	for i := range c.Arms {
		a := &c.Arms[i]
		if a.Label == c.Reference && a.Backend == "fp32" && a.status() == OK {
			return a
		}
	}
	return nil
}

func (c *Comparison) reference() *ArmResult {
	for i := range c.Arms {
		if c.Arms[i].Label == c.Reference {
			return &c.Arms[i]
		}
	}
	return nil
}

func (c *Comparison) warnings() []string {
	var w []string
	for _, a := range c.Arms {
		switch a.status() {
		case Failed:
			w = append(w, fmt.Sprintf("%s FAILED: %s", a.Label, a.Error))
		case Diverged:
			w = append(w, fmt.Sprintf("%s DIVERGED: %s. Its numbers are shown as measured, not averaged with the other arms.", a.Label, a.Outcome.Why))
		case Collapsed:
			w = append(w, fmt.Sprintf("%s COLLAPSED: %s; the network did not learn.", a.Label, a.Outcome.Why))
		}
	}
	return w
}

// fingerprint hashes a model's parameters and buffers (names, shapes and
// values), so two runs can show that they started from the same weights.
func fingerprint(m layers.Module) string {
	h := sha256.New()
	var buf [4]byte
	for _, t := range layers.StateDict(m) {
		fmt.Fprintf(h, "%s%v;", t.Name, t.Shape())
		for _, v := range t.Data() {
			binary.LittleEndian.PutUint32(buf[:], math.Float32bits(v))
			h.Write(buf[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func writeComparison(dir string, c *Comparison) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("report.json: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "report.json"), append(data, '\n')); err != nil {
		return err
	}
	var labels []string
	var runs [][]train.EpochMetrics
	for _, a := range c.Arms {
		if a.Outcome != nil {
			labels = append(labels, a.Label)
			runs = append(runs, a.Outcome.Metrics)
		}
	}
	title := fmt.Sprintf("%s on %s", c.Config.Model, c.Config.Dataset)
	acc, loss := epochCharts(title, labels, runs)
	for name, ch := range map[string]chart{"accuracy.png": acc, "loss.png": loss} {
		img, err := ch.png()
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(filepath.Join(dir, name), img); err != nil {
			return err
		}
	}
	if err := writeEnergyChart(dir, c); err != nil { // see cost.go
		return err
	}
	md, err := compareMarkdown(c, c.armCosts())
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "report.md"), []byte(md))
}
