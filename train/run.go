package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/checkpoint"
	"github.com/mirage-go/mirage/datasets"
	"github.com/mirage-go/mirage/internal/atomicfile"
	"github.com/mirage-go/mirage/internal/outdir"
	"github.com/mirage-go/mirage/layers"
	"github.com/mirage-go/mirage/optim"
)

// EpochMetrics is one line of metrics.jsonl.
type EpochMetrics struct {
	Epoch        int     `json:"epoch"`
	TrainLoss    float64 `json:"train_loss"`
	TrainAcc     float64 `json:"train_acc"`
	TestLoss     float64 `json:"test_loss"`
	TestAcc      float64 `json:"test_acc"`
	LR           float64 `json:"lr"`
	Seconds      float64 `json:"seconds"`
	ImagesPerSec float64 `json:"images_per_sec"`
	Diverged     bool    `json:"diverged,omitempty"`
}

// Summary is the content of summary.json.
type Summary struct {
	Model         string  `json:"model"`
	Dataset       string  `json:"dataset"`
	Backend       string  `json:"backend"`
	BackendConfig any     `json:"backend_config,omitempty"`
	BackendStats  any     `json:"backend_stats,omitempty"`
	Epochs        int     `json:"epochs"`
	Seed          uint64  `json:"seed"`
	Params        int     `json:"params"`
	FinalTestAcc  float64 `json:"final_test_acc"`
	FinalTestLoss float64 `json:"final_test_loss"`
	BestTestAcc   float64 `json:"best_test_acc"`
	Diverged      bool    `json:"diverged"`
	WallSeconds   float64 `json:"wall_seconds"`
	// GOMAXPROCS are the core counts the run trained with, in order (one
	// value unless a resume changed it): runs are bit for bit equal only
	// at the same count.
	GOMAXPROCS []int          `json:"gomaxprocs,omitempty"`
	Config     Config         `json:"config"`
	Skipped    []string       `json:"data_skipped,omitempty"`
	Metrics    []EpochMetrics `json:"-"`
}

// Result is what Run returns.
type Result struct {
	Summary
	Model layers.Module
}

// Run trains the model described by cfg and returns the final metrics; it
// is RunContext without cancellation.
func Run(cfg Config, reg mirage.Registries, log io.Writer) (*Result, error) {
	return RunContext(context.Background(), cfg, reg, log)
}

// RunContext trains the model described by cfg, whose names are looked up
// in reg, and returns the final metrics. Progress and the end-of-run report go to log.
//
// With cfg.OutDir set it writes metrics.jsonl, summary.json and
// model.safetensors there, and keeps a resumable state (StateFile) from
// which an interrupted run continues: at the end of every epoch, every
// cfg.CheckpointEvery steps, and when ctx is cancelled. A directory that
// holds a resumable state of the same configuration is resumed; one of
// another configuration, or one that holds a finished run, is refused
// unless cfg.Overwrite. A resumed run ends with the same weights, metrics
// (timings aside) and summary as one that was never interrupted.
//
// When ctx is cancelled, the step in progress finishes, the state is
// written and an *InterruptedError is returned (without OutDir, an error
// saying that nothing was saved).
func RunContext(ctx context.Context, cfg Config, reg mirage.Registries, log io.Writer) (*Result, error) {
	sessionStart := time.Now()
	if err := cfg.Validate(reg); err != nil {
		return nil, err
	}
	if cfg.CheckpointEvery < 0 {
		return nil, fmt.Errorf("invalid --checkpoint-every %d: must be ≥ 0 (0 saves at the end of each epoch only)", cfg.CheckpointEvery)
	}
	if cfg.CheckpointEvery > 0 && cfg.OutDir == "" {
		return nil, fmt.Errorf("--checkpoint-every needs --out (the directory the state is saved in)")
	}
	var saved *savedState
	if cfg.OutDir != "" {
		var err error
		if saved, err = prepareOutDir(cfg, reg); err != nil {
			return nil, err
		}
	}
	env, err := Setup(cfg, reg, log)
	if err != nil {
		return nil, err
	}
	if cfg.OutDir != "" {
		// Find out now, not after the first epoch, that nothing can be saved.
		if err := outdir.CheckWritable(cfg.OutDir); err != nil {
			return nil, err
		}
		if cfg.Overwrite {
			if err := clearForOverwrite(cfg.OutDir); err != nil {
				return nil, err
			}
		}
	}
	tr, loader, sched, err := newTrainer(cfg, env)
	if err != nil {
		return nil, err
	}
	model, params, opt, trainBackend := tr.model, tr.params, tr.opt, tr.backend
	stepsPerEpoch := loader.Len()
	snap := snapshot{pos: datasets.Position{Epoch: 1}}
	if saved != nil {
		if snap, err = tr.restore(saved, stepsPerEpoch); err != nil {
			return nil, err
		}
	}
	tape := autograd.NewTape(trainBackend)
	shape := append([]int{0}, env.Train.Shape()...)

	res := &Result{Model: model}
	res.Summary = Summary{
		Model: cfg.Model, Dataset: cfg.Dataset, Backend: cfg.Backend, Epochs: cfg.Epochs,
		Seed: cfg.Seed, Params: layers.CountParams(model), Config: cfg, Skipped: env.Skipped,
	}
	if c, ok := trainBackend.(backend.Configurer); ok {
		res.BackendConfig = c.Config()
	}
	fmt.Fprintf(log, "mirage: %s on %s (%d train / %d test), backend %s, %d parameters, %s\n",
		cfg.Model, cfg.Dataset, env.Train.Len(), env.Test.Len(), trainBackend.Name(), res.Params, plural(cfg.Epochs, "epoch"))

	costs, err := newCostLog(trainBackend, cfg, int64(res.Params), snap.pos.Epoch) // cost.json, see cost.go
	if err != nil {
		return nil, err
	}
	var metricsLines []byte
	for _, m := range snap.metrics {
		if metricsLines, err = appendMetrics(metricsLines, m); err != nil {
			return nil, err
		}
		res.Metrics = append(res.Metrics, m)
		res.BestTestAcc = math.Max(res.BestTestAcc, m.TestAcc)
		res.Diverged = res.Diverged || m.Diverged
	}
	cores, coresChanged := coresFrom(snap.cores, runtime.GOMAXPROCS(0))
	snap.cores, res.GOMAXPROCS = cores, cores
	if saved != nil {
		fmt.Fprintf(log, "resuming %s from epoch %d step %d (of %d)\n", cfg.OutDir, snap.pos.Epoch, snap.pos.Batch, stepsPerEpoch)
		if coresChanged {
			fmt.Fprintf(log, "warning: the run so far used GOMAXPROCS %d, this process has %d: from here it goes on as a run with %d cores would, not bit for bit as the uninterrupted run (set GOMAXPROCS=%d to keep that)\n",
				cores[len(cores)-2], cores[len(cores)-1], cores[len(cores)-1], cores[len(cores)-2])
		}
		// The state is written before metrics.jsonl; rewrite the file in
		// case the run stopped between the two.
		if err := atomicfile.WriteFile(filepath.Join(cfg.OutDir, "metrics.jsonl"), metricsLines); err != nil {
			return nil, fmt.Errorf("cannot write metrics: %w", err)
		}
	} else if cfg.OutDir != "" {
		// Lines of an earlier attempt that left no state would be
		// mistaken for this run's.
		if err := os.Remove(filepath.Join(cfg.OutDir, "metrics.jsonl")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	elapsed := func() float64 { return snap.elapsed + time.Since(sessionStart).Seconds() }
	step := snap.step
	for epoch := snap.pos.Epoch; epoch <= cfg.Epochs; epoch++ {
		var lossSum float64
		var correct, seen, first int
		var epochOffset time.Duration
		diverged := false
		if epoch == snap.pos.Epoch {
			first, lossSum, correct, seen, diverged = snap.pos.Batch, snap.lossSum, snap.correct, snap.seen, snap.diverged
			epochOffset = time.Duration(snap.epochSeconds * float64(time.Second))
		}
		epochStart := time.Now().Add(-epochOffset)
		model.SetTraining(true)
		bar := newBar(cfg, log, env.Train.Len(), epoch)
		if bar != nil && seen > 0 {
			_ = bar.Add(seen)
		}
		it, err := loader.Resume(datasets.Position{Epoch: epoch - 1, Batch: first})
		if err != nil {
			return nil, err
		}
		for {
			batch, ok := it.Next()
			if !ok {
				break
			}
			opt.SetLR(sched(step))
			shape[0] = batch.N
			x := autograd.New(batch.X[:batch.N*env.exampleSize], shape...)
			tape.Reset()
			logits := model.Forward(tape, x)
			loss := tape.CrossEntropy(logits, batch.Labels[:batch.N], float32(cfg.LabelSmoothing))
			opt.ZeroGrad()
			if err := tape.Backward(loss); err != nil {
				it.Close()
				return nil, fmt.Errorf("epoch %d: %w", epoch, err)
			}
			if cfg.ClipGradNorm > 0 {
				optim.ClipGradNorm(params, cfg.ClipGradNorm)
			}
			opt.Step()
			step++
			l := float64(loss.Item())
			if math.IsNaN(l) || math.IsInf(l, 0) {
				diverged = true
			}
			lossSum += l * float64(batch.N)
			correct += countCorrect(logits, batch.Labels[:batch.N])
			seen += batch.N
			if bar != nil {
				bar.Describe(fmt.Sprintf("epoch %d/%d loss %.4f acc %.2f%%", epoch, cfg.Epochs, lossSum/float64(seen), 100*float64(correct)/float64(seen)))
				_ = bar.Add(batch.N)
			}
			// Within the epoch, save on request and when interrupted; the
			// end of the epoch is saved below, after the evaluation.
			done := batch.Index + 1
			stop := ctx.Err() != nil
			if stop && cfg.OutDir == "" {
				it.Close()
				return nil, fmt.Errorf("interrupted at epoch %d step %d; nothing saved (no output directory)", epoch, done)
			}
			if cfg.OutDir == "" || done == stepsPerEpoch || !stop && (cfg.CheckpointEvery == 0 || step%cfg.CheckpointEvery != 0) {
				continue
			}
			err = tr.save(cfg.OutDir, snapshot{
				pos: datasets.Position{Epoch: epoch, Batch: done}, cores: cores, step: step, metrics: res.Metrics,
				lossSum: lossSum, correct: correct, seen: seen, diverged: diverged,
				epochSeconds: time.Since(epochStart).Seconds(), elapsed: elapsed(),
			})
			if err != nil {
				it.Close()
				return nil, err
			}
			if stop {
				it.Close()
				if bar != nil {
					_ = bar.Exit()
				}
				return nil, &InterruptedError{Dir: cfg.OutDir, Epoch: epoch, Step: done, Steps: stepsPerEpoch}
			}
		}
		it.Close()
		trainSeconds := time.Since(epochStart).Seconds()
		if err := costs.epochDone(epoch, step, cfg.OutDir); err != nil {
			return nil, err
		}
		if bar != nil {
			_ = bar.Finish()
		}
		testLoss, testAcc, err := env.Evaluate(model, cfg.EvalBatchSize)
		if err != nil {
			return nil, fmt.Errorf("epoch %d evaluation: %w", epoch, err)
		}
		m := EpochMetrics{
			Epoch: epoch, TrainLoss: lossSum / float64(seen), TrainAcc: float64(correct) / float64(seen),
			TestLoss: testLoss, TestAcc: testAcc, LR: opt.LR(),
			Seconds: time.Since(epochStart).Seconds(), ImagesPerSec: float64(seen) / trainSeconds,
			Diverged: diverged || math.IsNaN(testLoss),
		}
		res.Metrics = append(res.Metrics, m)
		res.BestTestAcc = math.Max(res.BestTestAcc, testAcc)
		res.Diverged = res.Diverged || m.Diverged
		fmt.Fprintf(log, "epoch %d/%d  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  %.1fs  %.0f img/s\n",
			epoch, cfg.Epochs, m.TrainLoss, 100*m.TrainAcc, m.TestLoss, 100*m.TestAcc, m.Seconds, m.ImagesPerSec)
		if cfg.OutDir != "" {
			// The state first: it holds these metrics too, and a resumed
			// run rewrites metrics.jsonl from it.
			err := tr.save(cfg.OutDir, snapshot{pos: datasets.Position{Epoch: epoch + 1}, cores: cores, step: step, metrics: res.Metrics, elapsed: elapsed()})
			if err != nil {
				return nil, err
			}
			// Rewritten whole after every epoch so that an interrupted run
			// leaves a complete file with the epochs finished so far.
			if metricsLines, err = appendMetrics(metricsLines, m); err != nil {
				return nil, err
			}
			if err := atomicfile.WriteFile(filepath.Join(cfg.OutDir, "metrics.jsonl"), metricsLines); err != nil {
				return nil, fmt.Errorf("cannot write metrics: %w", err)
			}
			if ctx.Err() != nil && epoch < cfg.Epochs {
				return nil, &InterruptedError{Dir: cfg.OutDir, Epoch: epoch + 1, Step: 0, Steps: stepsPerEpoch}
			}
		}
	}
	last := res.Metrics[len(res.Metrics)-1]
	res.FinalTestAcc, res.FinalTestLoss = last.TestAcc, last.TestLoss
	res.WallSeconds = elapsed()
	if s, ok := trainBackend.(backend.StatsReporter); ok {
		res.BackendStats = s.Stats()
		fmt.Fprintln(log, s.Summary())
	}
	if res.Diverged {
		fmt.Fprintln(log, "warning: training diverged (a loss was NaN or infinite)")
	}
	fmt.Fprintf(log, "final test accuracy %.2f%% (%s, %s backend, %.1fs)\n", 100*res.FinalTestAcc, cfg.Model, cfg.Backend, res.WallSeconds)
	if cfg.OutDir != "" {
		if err := writeRun(cfg.OutDir, model, &res.Summary); err != nil {
			return nil, err
		}
		// summary.json marks the run finished; the state is of no further
		// use and is as large as the model and its optimizer together.
		if err := os.Remove(filepath.Join(cfg.OutDir, StateFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return res, nil
}

// newTrainer builds the training backend, the loader and the optimizer
// with its learning-rate schedule for env's model.
func newTrainer(cfg Config, env *Env) (*trainer, *datasets.Loader, func(step int) float64, error) {
	b, err := env.NewBackend()
	if err != nil {
		return nil, nil, nil, err
	}
	params := env.Model.Params()
	loader := datasets.NewLoader(env.Train, cfg.BatchSize, true, cfg.Augment, cfg.Seed)
	opt, sched, err := newOptimizer(cfg, params, cfg.Epochs*loader.Len())
	if err != nil {
		return nil, nil, nil, err
	}
	return &trainer{cfg: cfg, env: env, model: env.Model, params: params, opt: opt, backend: b}, loader, sched, nil
}

func appendMetrics(lines []byte, m EpochMetrics) ([]byte, error) {
	line, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return append(append(lines, line...), '\n'), nil
}

func writeRun(dir string, model layers.Module, s *Summary) error {
	meta, err := checkpointMetadata(s.Config)
	if err != nil {
		return err
	}
	if err := checkpoint.Save(filepath.Join(dir, "model.safetensors"), layers.StateDict(model), meta); err != nil {
		return fmt.Errorf("cannot write checkpoint: %w", err)
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "summary.json"), append(data, '\n'))
}

func newBar(cfg Config, log io.Writer, total, epoch int) *progressbar.ProgressBar {
	if !cfg.Progress {
		return nil
	}
	return progressbar.NewOptions(total,
		progressbar.OptionSetWriter(log),
		progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", epoch, cfg.Epochs)),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("img"),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(20),
	)
}

// countCorrect counts rows of logits whose arg-max equals the label.
func countCorrect(logits *autograd.Tensor, labels []int) int {
	c := logits.Dim(-1)
	data := logits.Data()
	n := 0
	for i, want := range labels {
		row := data[i*c : (i+1)*c]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if best == want {
			n++
		}
	}
	return n
}

// plural returns "1 epoch", "3 epochs".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
