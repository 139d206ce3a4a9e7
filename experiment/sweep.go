package experiment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/bfpengine"
	"github.com/mirage-go/mirage/internal/outdir"
	"github.com/mirage-go/mirage/train"
)

// SweepConfig describes a sweep invocation.
type SweepConfig struct {
	Spec *Spec
	// Out is the output directory: results.jsonl, plan.json, the report,
	// and runs/ID/ with each row's run files.
	Out string
	// DataDir, when set, is where every row reads its data set from.
	DataDir string
	// MaxRuns stops the sweep after this many rows were trained by this
	// invocation (0 = no limit); run the same command again to continue.
	MaxRuns int
	// Progress draws progress bars during training.
	Progress bool
	// CheckpointEvery saves each row's resumable state every N steps
	// within an epoch as well as at its end (see train.Config).
	CheckpointEvery int
	// Command is the command line recorded in the report.
	Command string
	// Registries are the models, data sets and backends the spec's names
	// are looked up in (usually mirage.Default()).
	Registries mirage.Registries
}

// ResultRow is one line of results.jsonl: a finished (or failed) row.
type ResultRow struct {
	ID      string          `json:"id"`
	Index   int             `json:"index"`
	Group   string          `json:"group,omitempty"`
	Backend string          `json:"backend"`
	Knobs   []Knob          `json:"knobs"`
	Options backend.Options `json:"options,omitempty"`
	Status  Status          `json:"status"`
	Why     string          `json:"why,omitempty"`
	Error   string          `json:"error,omitempty"`
	// Accuracies are fractions (0.98, not 98). Non-finite numbers (a
	// diverged run) are written as null.
	FinalTestAcc   jsonFloat   `json:"final_test_acc"`
	BestTestAcc    jsonFloat   `json:"best_test_acc"`
	FinalTestLoss  jsonFloat   `json:"final_test_loss"`
	FinalTrainLoss jsonFloat   `json:"final_train_loss"`
	TestAccCurve   []jsonFloat `json:"test_acc_per_epoch"`
	TrainLossCurve []jsonFloat `json:"train_loss_per_epoch"`
	WallSeconds    jsonFloat   `json:"wall_seconds"`
	ImagesPerSec   jsonFloat   `json:"images_per_sec"`
	// BackendStats is the total of the backend's own statistics, when it
	// keeps any.
	BackendStats *bfpengine.Counters `json:"backend_stats,omitempty"`
	// Cost is what the run's GEMMs would have cost (from its cost.json).
	Cost     *CostColumns `json:"cost,omitempty"`
	Dir      string       `json:"dir"`
	Finished string       `json:"finished"`
	Config   train.Config `json:"config"`
}

// jsonFloat writes NaN and ±Inf as null and reads null as NaN.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	if !finite(float64(f)) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = jsonFloat(math.NaN())
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	*f = jsonFloat(v)
	return err
}

// SweepResult is what Sweep did and found.
type SweepResult struct {
	// Rows are the sweep's rows, made on demand (see Rows).
	Rows Rows
	// Results holds the result of each row of Rows that has one, by ID.
	Results map[string]*ResultRow
	// Ran counts rows trained (or loaded from a finished run directory)
	// by this call; Skipped counts rows already in results.jsonl;
	// Remaining counts rows still to run (MaxRuns reached).
	Ran, Skipped, Remaining int
}

// Sweep expands and validates cfg.Spec, then runs every row that is not
// yet in cfg.Out/results.jsonl, appending one line per row as it finishes,
// and writes report.md and the plots. See the package documentation for
// how resuming works. A row that fails is recorded as failed (and retried
// by the next invocation); Sweep then returns an error after the report.
func Sweep(cfg SweepConfig, log io.Writer) (*SweepResult, error) {
	return SweepContext(context.Background(), cfg, log)
}

// SweepContext is Sweep with cancellation: when ctx is cancelled, the row
// in training finishes its step, saves its state and SweepContext returns
// its *train.InterruptedError without recording the row; running the same
// sweep again resumes that row where it stopped.
func SweepContext(ctx context.Context, cfg SweepConfig, log io.Writer) (*SweepResult, error) {
	if log == nil {
		log = io.Discard
	}
	if cfg.Out == "" {
		return nil, fmt.Errorf("no output directory given (--out)")
	}
	// Rows are made from the spec when needed, one at a time: validated
	// in one pass, checked against their data in another, and trained in
	// a third, never all held.
	grid, digest, err := planGrid(ctx, cfg.Spec, cfg.Registries)
	if err != nil {
		return nil, interruptedPlanning(err)
	}
	rows := sweepRows{grid, cfg}
	classes, err := checkData(ctx, rows, cfg.Registries, true, log)
	if err != nil {
		return nil, interruptedPlanning(err)
	}
	// One writer per directory: a second sweep on the same --out would
	// train the same rows again and append duplicate results.
	lock, err := outdir.Acquire(cfg.Out, "mirage sweep")
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	if err := os.MkdirAll(filepath.Join(cfg.Out, "runs"), 0o755); err != nil {
		return nil, fmt.Errorf("cannot create output directory: %w", err)
	}
	if err := writePlan(cfg.Out, cfg.Spec, grid.Len(), digest); err != nil {
		return nil, err
	}
	resultsPath := filepath.Join(cfg.Out, "results.jsonl")
	done, err := loadStatuses(resultsPath, log)
	if err != nil {
		return nil, err
	}
	res := &SweepResult{Rows: rows}
	failed := 0
	for i := range rows.Len() {
		r := rows.Row(i)
		if st, ok := done[r.ID]; ok && st.Status != Failed {
			res.Skipped++
			continue
		}
		if cfg.MaxRuns > 0 && res.Ran >= cfg.MaxRuns {
			res.Remaining++
			continue
		}
		fmt.Fprintf(log, "experiment: sweep row %d/%d: %s (backend %s)\n", r.Index+1, rows.Len(), r.Label(), r.Config.Backend)
		dir := filepath.Join(cfg.Out, "runs", r.ID)
		out, err := runOrReuse(ctx, r.Config, cfg.Registries, dir, classes[dataKey(r.Config)], log)
		if errors.As(err, new(*train.InterruptedError)) {
			return nil, fmt.Errorf("row %d (%s): %w", r.Index+1, r.Label(), err)
		}
		row := newResultRow(r, dir, out, err)
		if err != nil {
			failed++
			fmt.Fprintf(log, "experiment: row %d failed: %v\n", r.Index+1, err)
		}
		if err := appendResult(resultsPath, row); err != nil {
			return nil, err
		}
		res.Ran++
	}
	done = nil
	// A row that failed and then succeeded has two lines; keep the last
	// line of each row so the file says what the report says.
	if err := compactResults(resultsPath); err != nil {
		return nil, err
	}
	// The report is the one place that holds every row's result.
	if res.Results, err = plannedResults(resultsPath, rows, log); err != nil {
		return nil, err
	}
	if err := writeSweepReport(cfg, res); err != nil {
		return nil, err
	}
	if failed > 0 {
		return res, fmt.Errorf("%d row(s) failed; see %s (they run again when the sweep is resumed)", failed, filepath.Join(cfg.Out, "report.md"))
	}
	return res, nil
}

// planGrid validates a spec (see Grid.Walk) and returns its grid and the
// digest of its row IDs that plan.json records.
func planGrid(ctx context.Context, spec *Spec, reg mirage.Registries) (*Grid, string, error) {
	grid, err := NewGrid(spec, reg)
	if err != nil {
		return nil, "", err
	}
	digest := newRowDigest()
	if err := grid.walk(ctx, digest.add); err != nil {
		return nil, "", err
	}
	return grid, digest.String(), nil
}

// interruptedPlanning words a cancellation that came before any row ran.
func interruptedPlanning(err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("interrupted while checking the sweep's rows; nothing was run or written")
	}
	return err
}

// sweepRows are a sweep's rows with the invocation's settings that are not
// part of a row's identity: progress bars, checkpoint interval, data
// directory.
type sweepRows struct {
	Rows
	cfg SweepConfig
}

func (s sweepRows) Row(i int) Row {
	r := s.Rows.Row(i)
	r.Config.Progress = s.cfg.Progress
	r.Config.CheckpointEvery = s.cfg.CheckpointEvery
	if s.cfg.DataDir != "" {
		r.Config.DataDir = s.cfg.DataDir
	}
	return r
}

// checkData opens each distinct data set and model of the rows once, so
// that missing data or a model that does not fit it is reported before
// the first run, and (when layers is set) checks every row's
// --fp32-layers patterns against its model. It returns the class count per
// data key.
func checkData(ctx context.Context, rows Rows, reg mirage.Registries, layers bool, log io.Writer) (map[string]int, error) {
	classes := map[string]int{}
	names := map[string][]string{}
	for r := range All(rows) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		key := dataKey(r.Config)
		if _, ok := classes[key]; !ok {
			env, err := train.Setup(r.Config, reg, log)
			if err != nil {
				return nil, fmt.Errorf("row %d (%s): %w", r.Index+1, r.Label(), err)
			}
			classes[key], names[key] = len(env.Train.Classes()), env.Layers()
		}
		if !layers {
			continue
		}
		if err := train.CheckFP32Layers(r.Config, names[key]); err != nil {
			return nil, fmt.Errorf("row %d (%s): %w", r.Index+1, r.Label(), err)
		}
	}
	return classes, nil
}

// plannedResults reads results.jsonl (the last line of a row winning)
// keeping the results of the rows, not of rows the spec no longer has.
func plannedResults(path string, rows Rows, log io.Writer) (map[string]*ResultRow, error) {
	all, err := loadResults(path, log)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*ResultRow, len(all))
	for r := range All(rows) {
		if got := all[r.ID]; got != nil {
			out[r.ID] = got
		}
	}
	return out, nil
}

// dataKey identifies what train.Setup loads and builds for a row.
func dataKey(c train.Config) string {
	return fmt.Sprintf("%s|%s|%s|%d|%d|%d", c.Model, c.Dataset, c.DataDir, c.MaxLen, c.TrainLimit, c.TestLimit)
}

func newResultRow(r Row, dir string, out *Outcome, err error) *ResultRow {
	row := &ResultRow{
		ID: r.ID, Index: r.Index, Group: r.Group, Backend: r.Config.Backend, Knobs: r.Knobs,
		Options: r.Config.BackendOptions, Dir: dir, Config: r.Config,
		Finished: time.Now().UTC().Format(time.RFC3339),
	}
	if err != nil {
		row.Status, row.Error = Failed, err.Error()
		nan := jsonFloat(math.NaN())
		row.FinalTestAcc, row.BestTestAcc, row.FinalTestLoss, row.FinalTrainLoss = nan, nan, nan, nan
		row.WallSeconds, row.ImagesPerSec = nan, nan
		return row
	}
	s := out.Summary
	row.Status, row.Why = out.Status, out.Why
	row.FinalTestAcc, row.BestTestAcc, row.FinalTestLoss = jsonFloat(s.FinalTestAcc), jsonFloat(s.BestTestAcc), jsonFloat(s.FinalTestLoss)
	row.FinalTrainLoss = jsonFloat(lastTrainLoss(out.Metrics))
	row.WallSeconds, row.ImagesPerSec = jsonFloat(s.WallSeconds), jsonFloat(out.ImagesPerSec)
	for _, m := range out.Metrics {
		row.TestAccCurve = append(row.TestAccCurve, jsonFloat(m.TestAcc))
		row.TrainLossCurve = append(row.TrainLossCurve, jsonFloat(m.TrainLoss))
	}
	row.BackendStats = backendTotals(s.BackendStats)
	row.Cost = costColumns(dir) // see cost.go
	return row
}

// appendResult adds one line to results.jsonl durably: one write of the
// whole line to a file opened for appending, then fsync. A crash can at
// worst leave a partial last line, which loadResults removes.
func appendResult(path string, row *ResultRow) error {
	line, err := json.Marshal(row)
	if err != nil {
		return fmt.Errorf("results.jsonl: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("cannot append to %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
