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
	"sort"
	"strings"
	"time"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/bfpengine"
	"github.com/mirage-go/mirage/internal/atomicfile"
	"github.com/mirage-go/mirage/train"
)

// Status says whether a run trained normally.
type Status string

const (
	// OK: the run finished with finite losses and better than chance.
	OK Status = "ok"
	// Diverged: a training or test loss was NaN or infinite.
	Diverged Status = "diverged"
	// Collapsed: the final test accuracy is within CollapseMargin of chance.
	Collapsed Status = "collapsed"
	// Failed: the run stopped with an error (see the report for it).
	Failed Status = "failed"
)

// CollapseMargin is how far above chance (1/classes) the final test
// accuracy must be for a run not to count as collapsed: 5 points, so on
// 10 classes anything at or below 15% is collapsed. A network that learned
// nothing lands near chance; one that learned a little is well above it
// after an epoch on any of mirage's data sets.
const CollapseMargin = 0.05

// Classify returns the status of a finished run on a data set with the
// given number of classes, and a sentence explaining it ("" for OK).
func Classify(s *train.Summary, metrics []train.EpochMetrics, classes int) (Status, string) {
	for _, m := range metrics {
		if m.Diverged || !finite(m.TrainLoss) || !finite(m.TestLoss) {
			return Diverged, fmt.Sprintf("loss became NaN or infinite in epoch %d", m.Epoch)
		}
	}
	if s.Diverged || !finite(s.FinalTestLoss) {
		return Diverged, "training diverged: a loss or a GEMM operand became NaN or infinite"
	}
	if classes > 0 {
		chance := 1 / float64(classes)
		if s.FinalTestAcc <= chance+CollapseMargin {
			return Collapsed, fmt.Sprintf("final test accuracy %.1f%% is at chance level (%.1f%% for %d classes)", 100*s.FinalTestAcc, 100*chance, classes)
		}
	}
	return OK, ""
}

// stoppedByDivergence reports whether a training error is the backend
// refusing NaN or infinite operands, which happens when training diverges
// on a quantising backend (block floating point has no NaN). The backends
// report it only in the message, so the message is what is checked.
func stoppedByDivergence(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "NaN") || strings.Contains(msg, "Inf or")
}

func zeroIfNaN(x float64) float64 {
	if math.IsNaN(x) {
		return 0
	}
	return x
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// Outcome is one training run as reports see it: its summary and per-epoch
// metrics, whether it was reused from an earlier invocation, and its status.
type Outcome struct {
	Dir     string               `json:"dir"`
	Reused  bool                 `json:"reused"`
	Summary train.Summary        `json:"summary"`
	Metrics []train.EpochMetrics `json:"metrics"`
	Status  Status               `json:"status"`
	// Why explains a status other than OK.
	Why string `json:"why,omitempty"`
	// ImagesPerSec is the mean training throughput over the epochs.
	ImagesPerSec float64 `json:"images_per_sec"`
}

// runOrReuse trains cfg in dir, unless dir already holds a finished run of
// the same configuration, which it loads instead. A finished run of a
// different configuration is an error: silently replacing someone's result
// would be worse than asking them to pick another directory. An unfinished
// run that saved its state (train.StateFile) continues from it, through
// train.RunContext. When ctx is cancelled the run saves its state and a
// *train.InterruptedError is returned, which callers pass on rather than
// record as a failure.
func runOrReuse(ctx context.Context, cfg train.Config, reg mirage.Registries, dir string, classes int, log io.Writer) (*Outcome, error) {
	cfg.OutDir = dir
	out := &Outcome{Dir: dir}
	prev, err := readSummary(dir)
	switch {
	case err == nil:
		if diff := runDiff(prev, cfg, reg); diff != "" {
			return nil, fmt.Errorf("%s holds a finished run with a different configuration (%s); use another --out directory or delete that one", dir, diff)
		}
		metrics, err := readMetrics(filepath.Join(dir, "metrics.jsonl"))
		if errors.Is(err, fs.ErrNotExist) && prev.Diverged {
			metrics, err = nil, nil // it diverged before finishing an epoch
		}
		if err != nil {
			return nil, fmt.Errorf("%s is finished but its metrics are unreadable (%v); delete the directory to rerun it", dir, err)
		}
		out.Reused, out.Summary, out.Metrics = true, *prev, metrics
		fmt.Fprintf(log, "experiment: %s is finished, reusing it\n", dir)
	case errors.Is(err, fs.ErrNotExist):
		// Not started, or interrupted. An interrupted run that saved its
		// state resumes from it (train.RunContext does that); files of an
		// attempt that left no state are removed so none can be mistaken
		// for this run's.
		if _, err := os.Stat(filepath.Join(dir, train.StateFile)); errors.Is(err, fs.ErrNotExist) {
			for _, f := range []string{"metrics.jsonl", "model.safetensors"} {
				if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return nil, err
				}
			}
		}
		start := time.Now()
		res, err := train.RunContext(ctx, cfg, reg, log)
		if err != nil {
			if errors.As(err, new(*train.InterruptedError)) || !stoppedByDivergence(err) {
				return nil, err
			}
			// The backend refused to go on with NaN or infinite values:
			// that is a result (the run diverged), not a failure of the
			// experiment. Keep the epochs that finished.
			metrics, _ := readMetrics(filepath.Join(dir, "metrics.jsonl"))
			out.Metrics = metrics
			out.Summary = train.Summary{Model: cfg.Model, Dataset: cfg.Dataset, Backend: cfg.Backend, Epochs: cfg.Epochs,
				Seed: cfg.Seed, Config: cfg, Diverged: true, FinalTestAcc: math.NaN(), FinalTestLoss: math.NaN(), BestTestAcc: math.NaN()}
			for _, m := range metrics {
				out.Summary.FinalTestAcc, out.Summary.FinalTestLoss = m.TestAcc, m.TestLoss
				out.Summary.BestTestAcc = max(m.TestAcc, zeroIfNaN(out.Summary.BestTestAcc))
			}
			out.Summary.WallSeconds = time.Since(start).Seconds()
			out.Status, out.Why = Diverged, fmt.Sprintf("training stopped after %d of %d epochs: %v", len(metrics), cfg.Epochs, err)
			// Record the run as finished, so resuming does not train it
			// again only to diverge the same way (runs are deterministic).
			data, err := json.MarshalIndent(&out.Summary, "", "  ")
			if err != nil {
				return nil, err
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
			if err := atomicfile.WriteFile(filepath.Join(dir, "summary.json"), append(data, '\n')); err != nil {
				return nil, err
			}
			if err := os.Remove(filepath.Join(dir, train.StateFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			return out, nil
		}
		out.Summary, out.Metrics = res.Summary, res.Metrics
	default:
		return nil, err
	}
	out.Summary.Metrics = nil
	for _, m := range out.Metrics {
		out.ImagesPerSec += m.ImagesPerSec / float64(len(out.Metrics))
	}
	out.Status, out.Why = Classify(&out.Summary, out.Metrics, classes)
	return out, nil
}

func readSummary(dir string) (*train.Summary, error) {
	data, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		return nil, err
	}
	var s train.Summary
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: unreadable summary.json (%v); delete the directory to rerun it", dir, err)
	}
	// backend_stats is whatever the backend's Stats returned. The BFP
	// backends' report is read back as the typed *bfpengine.Report their
	// Stats returns in a live run, so that a reused run's statistics read
	// the same; anything else stays as decoded.
	var stats struct {
		Report *bfpengine.Report `json:"backend_stats"`
	}
	if json.Unmarshal(data, &stats) == nil && stats.Report != nil && stats.Report.Backend != "" {
		s.BackendStats = stats.Report
	}
	return &s, nil
}

func readMetrics(path string) ([]train.EpochMetrics, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []train.EpochMetrics
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var m train.EpochMetrics
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// runDiff names what makes the finished run prev another run than cfg
// would train, or returns "" when it is the same run: the same settings,
// and in this mirage a backend with the effective settings prev recorded
// (summary.json's backend_config). Backend options spelled differently
// that give the same effective settings (an option set to its default, or
// left out) are the same run; the same options whose effective settings
// differ from those prev ran with (this mirage's defaults are not that
// run's) are not.
func runDiff(prev *train.Summary, cfg train.Config, regs mirage.Registries) string {
	diff := configDiff(prev.Config, cfg)
	if regs.Backends == nil {
		return diff // no backends to compare settings with
	}
	b, recorded, err := settingsThenAndNow(prev, cfg, regs)
	if err != nil {
		if diff != "" {
			return diff
		}
		return fmt.Sprintf("its backend cannot be built (%v)", err)
	}
	switch {
	case diff == "backend_options differ" && prev.Config.Backend == cfg.Backend && train.SameBackendSettings(recorded, b):
		return ""
	case diff != "":
		return diff
	}
	if d := train.BackendSettingsDiff(recorded, b); len(d) > 0 {
		return fmt.Sprintf("its backend ran with other effective settings than the same options give now (%s): this mirage's defaults are not that run's, so give its values as options", strings.Join(d, "; "))
	}
	return ""
}

// settingsThenAndNow returns the backend cfg gives in this mirage, whose
// effective settings are today's, and the effective settings the finished
// run prev recorded, encoded as summary.json holds them (nil when there are
// none), for train.SameBackendSettings and train.BackendSettingsDiff.
func settingsThenAndNow(prev *train.Summary, cfg train.Config, regs mirage.Registries) (backend.Backend, json.RawMessage, error) {
	b, err := train.NewBackend(cfg, regs)
	if err != nil {
		return nil, nil, err
	}
	if prev.BackendConfig == nil {
		return b, nil, nil
	}
	recorded, err := json.Marshal(prev.BackendConfig)
	if err != nil {
		return b, nil, nil
	}
	return b, recorded, nil
}

// configDiff names the settings in which two configurations differ, or
// returns "" when they describe the same run. Where the data is read from
// (DataDir) does not change the run and is ignored.
func configDiff(a, b train.Config) string {
	ma, mb := configMap(a), configMap(b)
	var diff []string
	for k := range ma {
		if _, ok := mb[k]; !ok {
			diff = append(diff, k)
		}
	}
	for k, v := range mb {
		if w, ok := ma[k]; !ok || !bytes.Equal(v, w) {
			diff = append(diff, k)
		}
	}
	sort.Strings(diff)
	diff = dedupe(diff)
	if len(diff) == 0 {
		return ""
	}
	return strings.Join(diff, ", ") + " differ"
}

func configMap(c train.Config) map[string]json.RawMessage { return train.Settings(c) }

func dedupe(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// errorStatser is the capability of a backend's statistics report that
// experiment puts into its tables: error totals in the counters the BFP
// backends share (bfpengine.Report has it; a backend of one's own can
// return any report with this method).
type errorStatser interface {
	ErrorStats() *bfpengine.Counters
}

// backendTotals returns the error totals of a summary's backend_stats, or
// nil when the backend keeps no statistics (fp32) or reports none this
// package knows how to read.
func backendTotals(stats any) *bfpengine.Counters {
	if r, ok := stats.(errorStatser); ok {
		return r.ErrorStats()
	}
	return nil
}

// statsText renders a backend's own error statistics for a table cell.
func statsText(t *bfpengine.Counters) string {
	if t == nil {
		return "—"
	}
	var parts []string
	if t.Samples > 0 {
		parts = append(parts, fmt.Sprintf("rel. err %.2g (max %.2g, %d sampled GEMMs)", t.RelErrMean, t.RelErrMax, t.Samples))
	}
	if t.ResidueErrors > 0 || t.Readouts > 0 && t.TilesHit > 0 {
		parts = append(parts, fmt.Sprintf("%d residue errors in %d tiles", t.ResidueErrors, t.TilesHit))
	}
	if t.Detected > 0 {
		parts = append(parts, fmt.Sprintf("RRNS %d detected, %d corrected, %d miscorrected", t.Detected, t.Corrected, t.Miscorrected))
	}
	if t.Undetected > 0 {
		parts = append(parts, fmt.Sprintf("%d undetected", t.Undetected))
	}
	if t.ADCClipped > 0 {
		parts = append(parts, fmt.Sprintf("%d ADC clips", t.ADCClipped))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%d GEMMs, no errors recorded", t.Calls)
	}
	return strings.Join(parts, "; ")
}
