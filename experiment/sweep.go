package experiment

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/bfpengine"
	"github.com/mirage-go/mirage/internal/atomicfile"
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
	Rows []Row
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
	rows, err := Plan(cfg.Spec, cfg.Registries)
	if err != nil {
		return nil, err
	}
	for i := range rows {
		rows[i].Config.Progress = cfg.Progress
		rows[i].Config.CheckpointEvery = cfg.CheckpointEvery
		if cfg.DataDir != "" {
			rows[i].Config.DataDir = cfg.DataDir
		}
	}
	// Open each distinct data set and model once, so missing data or a
	// model that does not fit it is reported before the first run.
	classes := map[string]int{}
	layers := map[string][]string{}
	for _, r := range rows {
		key := dataKey(r.Config)
		if _, ok := classes[key]; !ok {
			env, err := train.Setup(r.Config, cfg.Registries, log)
			if err != nil {
				return nil, fmt.Errorf("row %d (%s): %w", r.Index+1, r.Label(), err)
			}
			classes[key], layers[key] = len(env.Train.Classes()), env.Layers()
		}
		if err := train.CheckFP32Layers(r.Config, layers[key]); err != nil {
			return nil, fmt.Errorf("row %d (%s): %w", r.Index+1, r.Label(), err)
		}
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
	plan, err := json.MarshalIndent(struct {
		Spec *Spec `json:"spec"`
		Rows []Row `json:"rows"`
	}{cfg.Spec, rows}, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(cfg.Out, "plan.json"), append(plan, '\n')); err != nil {
		return nil, err
	}
	resultsPath := filepath.Join(cfg.Out, "results.jsonl")
	results, err := loadResults(resultsPath, log)
	if err != nil {
		return nil, err
	}
	res := &SweepResult{Rows: rows, Results: map[string]*ResultRow{}}
	failed := 0
	for _, r := range rows {
		if prev := results[r.ID]; prev != nil && prev.Status != Failed {
			res.Results[r.ID] = prev
			res.Skipped++
			continue
		}
		if cfg.MaxRuns > 0 && res.Ran >= cfg.MaxRuns {
			res.Remaining++
			continue
		}
		fmt.Fprintf(log, "experiment: sweep row %d/%d: %s (backend %s)\n", r.Index+1, len(rows), r.Label(), r.Config.Backend)
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
		res.Results[r.ID] = row
		res.Ran++
	}
	// A row that failed and then succeeded has two lines; keep the last
	// line of each row so the file says what the report says.
	if err := compactResults(resultsPath); err != nil {
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

// loadResults reads results.jsonl, the last line per row ID winning. A
// partial last line (the process died while appending) is cut off; any
// other bad line is an error that names it.
func loadResults(path string, log io.Writer) (map[string]*ResultRow, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]*ResultRow{}, nil
	}
	if err != nil {
		return nil, err
	}
	if n := len(data); n > 0 && data[n-1] != '\n' {
		keep := bytes.LastIndexByte(data, '\n') + 1
		fmt.Fprintf(log, "experiment: %s ends in a partial line (an interrupted write); removing it\n", path)
		if err := os.Truncate(path, int64(keep)); err != nil {
			return nil, err
		}
		data = data[:keep]
	}
	return parseResultRows(data, path)
}

// parseResultRows parses the lines of a results.jsonl (named name in
// errors), the last line of a row winning.
func parseResultRows(data []byte, name string) (map[string]*ResultRow, error) {
	out := map[string]*ResultRow{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 1<<16), 1<<26)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var r ResultRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s line %d is not a result row (%v); fix or delete that line", name, line, err)
		}
		if r.ID == "" {
			return nil, fmt.Errorf("%s line %d has no id; fix or delete that line", name, line)
		}
		out[r.ID] = &r
	}
	return out, sc.Err()
}
