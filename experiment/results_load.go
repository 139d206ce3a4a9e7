package experiment

// This file is the first of the results document's three steps: load. It
// reads the typed outputs of finished experiments — a comparison's
// report.json, a sweep's plan.json and results.jsonl, a planned
// comparison's run directories (summary.json, metrics.jsonl) — and checks
// them, before anything is analysed (results_analyse*.go) or rendered
// (results_render.go). It also notes which plots exist, so that rendering
// reads no file. Every problem is an error naming the directory, what is
// missing, and the command that makes it.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/train"
)

type compareInput struct {
	dir string
	cmp *Comparison
	// hasAccuracyPlot: dir holds accuracy.png.
	hasAccuracyPlot bool
}

type sweepInput struct {
	dir  string
	spec *Spec
	res  *SweepResult
	// stale counts results of rows that plan.json no longer has (the spec
	// changed); partial reports an unfinished last line of results.jsonl.
	stale   int
	partial bool
	// plots are the accuracy-vs-*.png files in dir, sorted.
	plots []string
}

// checkDir returns an error unless dir is an existing directory.
func checkDir(dir, makeIt string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: no such directory; %s", dir, makeIt)
	case err != nil:
		return fmt.Errorf("%s: %v", dir, err)
	case !fi.IsDir():
		return fmt.Errorf("%s is a file, not an experiment output directory", dir)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// loadCompareInput reads a comparison's report and notes its plot.
func loadCompareInput(dir string) (compareInput, error) {
	c, err := loadCompareDir(dir)
	if err != nil {
		return compareInput{}, err
	}
	return compareInput{dir: dir, cmp: c, hasAccuracyPlot: exists(filepath.Join(dir, "accuracy.png"))}, nil
}

func loadCompareDir(dir string) (*Comparison, error) {
	makeIt := fmt.Sprintf("run mirage compare --out %s first", dir)
	if err := checkDir(dir, makeIt); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if errors.Is(err, fs.ErrNotExist) {
		if exists(filepath.Join(dir, "plan.json")) {
			return nil, fmt.Errorf("%s: no report.json; it holds a sweep (plan.json): pass it with --sweep, not --compare", dir)
		}
		return nil, fmt.Errorf("%s: no report.json; %s (an interrupted compare writes its report only at the end: run the same command again)", dir, makeIt)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read report.json: %v", dir, err)
	}
	var c Comparison
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: report.json is not a comparison report (%v); run mirage compare again to rewrite it", dir, err)
	}
	if len(c.Arms) == 0 {
		return nil, fmt.Errorf("%s: report.json lists no arms; run mirage compare again to rewrite it", dir)
	}
	return &c, nil
}

func loadSweepDir(dir string, reg mirage.Registries) (*sweepInput, error) {
	makeIt := fmt.Sprintf("run mirage sweep --spec FILE --out %s first", dir)
	if err := checkDir(dir, makeIt); err != nil {
		return nil, err
	}
	spec, rows, err := readPlan(dir, reg)
	if errors.Is(err, fs.ErrNotExist) {
		if exists(filepath.Join(dir, "report.json")) {
			return nil, fmt.Errorf("%s: no plan.json; it holds a comparison (report.json): pass it with --compare, not --sweep", dir)
		}
		return nil, fmt.Errorf("%s: no plan.json; %s", dir, makeIt)
	}
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return nil, fmt.Errorf("%s: cannot read plan.json: %v", dir, pathErr.Err)
	}
	if err != nil {
		return nil, err
	}
	in := &sweepInput{dir: dir, spec: spec, res: &SweepResult{Rows: rows, Results: map[string]*ResultRow{}}, plots: plotsIn(dir)}
	results, partial, err := readResults(filepath.Join(dir, "results.jsonl"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no results.jsonl: none of the sweep's %d runs has finished; run mirage sweep --spec FILE --out %s (again) to run them", dir, rows.Len(), dir)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %v", dir, err)
	}
	in.partial = partial
	for r := range All(rows) {
		if got := results[r.ID]; got != nil {
			in.res.Results[r.ID] = got
		}
	}
	// Row IDs are distinct (planning refuses duplicates), so the results
	// of no row are those of rows the plan no longer has.
	in.stale = len(results) - len(in.res.Results)
	if len(in.res.Results) == 0 {
		return nil, fmt.Errorf("%s: results.jsonl holds no result of the %d runs in plan.json; run mirage sweep --spec FILE --out %s (again) to run them", dir, rows.Len(), dir)
	}
	return in, nil
}

// plotsIn lists the sweep plots (accuracy-vs-*.png) in dir by name,
// sorted.
func plotsIn(dir string) []string {
	paths, _ := filepath.Glob(filepath.Join(dir, "accuracy-vs-*.png"))
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = filepath.Base(p)
	}
	sort.Strings(names)
	return names
}

// readResults reads results.jsonl like loadResults, the last line per row
// winning, but never changes the file: a partial last line (a sweep
// interrupted while appending) is ignored and reported, not cut off.
func readResults(path string) (map[string]*ResultRow, bool, error) {
	out := map[string]*ResultRow{}
	partial, err := scanWholeResults(path, func(r *ResultRow) { out[r.ID] = r })
	if err != nil {
		return nil, false, err
	}
	return out, partial, nil
}

// scanWholeResults calls fn with each result row of results.jsonl in file
// order, leaving the file as it is: a partial last line is skipped, and
// reported as partial.
func scanWholeResults(path string, fn func(*ResultRow)) (partial bool, err error) {
	keep, size, err := completeLines(path)
	if err != nil {
		return false, err
	}
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if keep < size {
		// A last line without its newline may still be whole.
		last := make([]byte, size-keep)
		if _, err := f.ReadAt(last, keep); err != nil {
			return false, err
		}
		var r ResultRow
		if json.Unmarshal(last, &r) != nil || r.ID == "" {
			size, partial = keep, true
		}
	}
	return partial, scanResultRows(io.LimitReader(f, size), "results.jsonl", fn)
}

// fullInput is a planned comparison and what its directory holds.
type fullInput struct {
	plan   CompareConfig
	exists bool
	arms   []armProgress
	// report is the comparison's report.json when it has one (written
	// when a compare command finishes; it may cover fewer arms than the
	// plan when an earlier command compared fewer backends).
	report *Comparison
	// hasAccuracyPlot: the directory holds accuracy.png.
	hasAccuracyPlot bool
}

// loadFull reads a planned comparison's directory without changing it.
func loadFull(plan CompareConfig) (*fullInput, error) {
	in := &fullInput{plan: plan}
	fi, err := os.Stat(plan.Out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		for _, a := range plan.Arms {
			in.arms = append(in.arms, armProgress{Arm: a, Epochs: plan.Base.Epochs})
		}
		return in, nil
	case err != nil:
		return nil, fmt.Errorf("%s: %v", plan.Out, err)
	case !fi.IsDir():
		return nil, fmt.Errorf("%s is a file, not a comparison's output directory", plan.Out)
	}
	in.exists = true
	if data, err := os.ReadFile(filepath.Join(plan.Out, "report.json")); err == nil {
		var c Comparison
		if err := json.Unmarshal(data, &c); err != nil {
			return nil, fmt.Errorf("%s: report.json is not a comparison report (%v); run the comparison's command again to rewrite it", plan.Out, err)
		}
		in.report = &c
	}
	in.hasAccuracyPlot = exists(filepath.Join(plan.Out, "accuracy.png"))
	classes := 0
	if in.report != nil {
		classes = in.report.Classes
	}
	for _, a := range plan.Arms {
		p, err := loadArm(plan.Base, a, filepath.Join(plan.Out, a.Label), classes, plan.Registries)
		if err != nil {
			return nil, err
		}
		in.arms = append(in.arms, p)
	}
	return in, nil
}

// loadArm reads one arm's run directory. classes is the data set's number
// of classes (0 when unknown: a collapse is then not detected).
func loadArm(base train.Config, a Arm, dir string, classes int, regs mirage.Registries) (armProgress, error) {
	cfg := armConfig(base, a)
	p := armProgress{Arm: a, Epochs: cfg.Epochs, StateSaved: exists(filepath.Join(dir, "state.safetensors"))}
	metrics, err := readMetrics(filepath.Join(dir, "metrics.jsonl"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return p, fmt.Errorf("%s: unreadable metrics.jsonl (%v)", dir, err)
	}
	p.EpochsDone = len(metrics)
	prev, err := readSummary(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if p.StateSaved || p.EpochsDone > 0 {
			p.State = armUnfinished
		}
		if p.StateSaved {
			// The run resumes from this state only if it has the planned
			// settings; one of other settings would be refused.
			diff, err := train.ResumeDiff(dir, cfg, regs)
			switch {
			case err != nil:
				p.Note = fmt.Sprintf("its resumable state is unreadable (%v)", err)
			case len(diff) > 0:
				p.State, p.Note = armOther, fmt.Sprintf("%s holds an unfinished run with other settings (%s)", dir, strings.Join(diff, "; "))
			}
		}
		return p, nil
	case err != nil:
		return p, err
	}
	if diff := runDiff(prev, cfg, regs); diff != "" {
		p.State, p.Note = armOther, fmt.Sprintf("%s holds a run with other settings (%s)", dir, diff)
		return p, nil
	}
	out := &Outcome{Dir: dir, Reused: true, Summary: *prev, Metrics: metrics}
	out.Summary.Metrics = nil
	for _, m := range metrics {
		out.ImagesPerSec += m.ImagesPerSec / float64(len(metrics))
	}
	out.Status, out.Why = Classify(&out.Summary, metrics, classes)
	p.State, p.Outcome = armFinished, out
	return p, nil
}

// widthInput is a short converter-width sweep, or its absence.
type widthInput struct {
	dir    string
	sweep  *sweepInput // nil: not run yet
	runs   []widthRun
	fp32   float64
	fp32OK bool
	choice widthChoice
}

// loadWidthSweep reads a sweep over analog adc-bits and applies the width
// rule; a directory that does not exist is "not run yet", not an error.
func loadWidthSweep(dir string, reg mirage.Registries, model modelOf) (*widthInput, error) {
	in := &widthInput{dir: dir, fp32: math.NaN()}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		in.choice = widthChoice{Why: "the sweep has not been run yet"}
		return in, nil
	}
	s, err := loadSweepDir(dir, reg)
	if err != nil {
		if exists(filepath.Join(dir, "plan.json")) && !exists(filepath.Join(dir, "results.jsonl")) {
			in.choice = widthChoice{Why: "none of the sweep's runs has finished yet"}
			return in, nil
		}
		return nil, err
	}
	in.sweep = s
	if err := in.analyse(model); err != nil {
		return nil, err
	}
	return in, nil
}
