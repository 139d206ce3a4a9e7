// Package train runs mirage's training and evaluation loops: it builds the
// model, data and backend a Config names, trains with the chosen optimizer
// and schedule, evaluates after every epoch, and writes the run's files.
//
// The model, data set and backend a Config names are looked up in the
// registries passed to [Run], [Setup], [Eval] and [Config.Validate]:
// mirage.Default() for what mirage ships, plus whatever a program
// registers. [Recipe] takes a model's default settings from its
// descriptor.
//
// A run directory holds
//
//	metrics.jsonl      one JSON object per epoch
//	summary.json       the configuration and the final result
//	model.safetensors  the trained weights and buffers (PyTorch state_dict names)
//	state.safetensors  while the run is unfinished: its resumable state
//
// Runs are deterministic: the same Config (seed included) gives the same
// weights, data order and metrics; only the timing fields differ.
//
// # Resuming
//
// A run with an output directory saves its complete state (weights and
// buffers, optimizer buffers and step counts, the position in the data
// stream and in the learning-rate schedule, the partial sums of the epoch
// in progress, the metrics so far, the positions of every random generator
// (dropout, backend noise, stochastic rounding) and the backend's
// statistics) at the end of every epoch and every Config.CheckpointEvery
// steps, and continues from it when run again on the same directory. The
// data order needs no generator state: the loader derives the order and
// augmentation of a batch from (seed, epoch, batch) alone (see
// datasets.Loader), so the position is enough. A resumed run therefore
// ends with the same weights, metrics.jsonl (timing fields aside) and
// summary.json as one that was never interrupted.
package train

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/backend"
)

// Config is everything a training run depends on.
type Config struct {
	Model   string `json:"model"`
	Dataset string `json:"dataset"`
	DataDir string `json:"data_dir,omitempty"`

	Backend        string          `json:"backend"`
	BackendOptions backend.Options `json:"backend_options,omitempty"`

	Epochs         int     `json:"epochs"`
	BatchSize      int     `json:"batch_size"`
	EvalBatchSize  int     `json:"eval_batch_size"`
	Optimizer      string  `json:"optimizer"` // sgd or adamw
	LR             float64 `json:"lr"`
	Momentum       float64 `json:"momentum"`
	WeightDecay    float64 `json:"weight_decay"`
	Schedule       string  `json:"schedule"` // constant, cosine, step, onecycle
	WarmupEpochs   float64 `json:"warmup_epochs"`
	LabelSmoothing float64 `json:"label_smoothing"`
	ClipGradNorm   float64 `json:"clip_grad_norm"`
	Augment        bool    `json:"augment"`
	Seed           uint64  `json:"seed"`

	// Model size knobs used by some models (0 = the model's default).
	MaxLen int `json:"max_len,omitempty"`

	// Limit the number of training/test examples (0 = all), for smoke tests
	// and quick experiments; see datasets.Subset for which examples are kept.
	TrainLimit int `json:"train_limit,omitempty"`
	TestLimit  int `json:"test_limit,omitempty"`

	OutDir   string `json:"-"`
	Progress bool   `json:"-"`

	// CheckpointEvery saves the resumable state every N optimizer steps
	// within an epoch as well as at its end (0: at the end of each epoch
	// only). It needs OutDir and does not change the run's results.
	CheckpointEvery int `json:"-"`
	// Overwrite starts afresh in an OutDir that holds a finished run or
	// the resumable state of another run, replacing them. Without it Run
	// refuses a finished run and resumes an unfinished one.
	Overwrite bool `json:"-"`
}

// Optimizers, schedules: the valid names.
var (
	optimizerNames = []string{"sgd", "adamw"}
	scheduleNames  = []string{"constant", "cosine", "step", "onecycle"}
)

// Validate checks values that do not depend on the model or data: every
// number is finite and in the range documented in limits.go, and every name is
// one of reg's. Sizes that depend on the model and data (batch
// tensors within memory) are checked by [Setup].
func (c *Config) Validate(reg mirage.Registries) error {
	if err := checkNumbers(c); err != nil {
		return err
	}
	if err := reg.Check(); err != nil {
		return err
	}
	if !contains(reg.Models.Names(), c.Model) {
		return fmt.Errorf("unknown model %q (valid: %s)", c.Model, strings.Join(reg.Models.Names(), ", "))
	}
	if !contains(reg.Datasets.Names(), c.Dataset) {
		return fmt.Errorf("unknown dataset %q (valid: %s)", c.Dataset, strings.Join(reg.Datasets.Names(), ", "))
	}
	if err := checkPair(reg, c.Model, c.Dataset); err != nil {
		return err
	}
	if !contains(reg.Backends.Names(), c.Backend) {
		return fmt.Errorf("unknown backend %q (valid: %s)", c.Backend, strings.Join(reg.Backends.Names(), ", "))
	}
	if !contains(optimizerNames, c.Optimizer) {
		return fmt.Errorf("unknown optimizer %q (valid: %s)", c.Optimizer, strings.Join(optimizerNames, ", "))
	}
	if !contains(scheduleNames, c.Schedule) {
		return fmt.Errorf("unknown schedule %q (valid: %s)", c.Schedule, strings.Join(scheduleNames, ", "))
	}
	return nil
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }
