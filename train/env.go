package train

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"strconv"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/checkpoint"
	"github.com/mirage-go/mirage/datasets"
	"github.com/mirage-go/mirage/datasets/catalog"
	"github.com/mirage-go/mirage/internal/limits"
	"github.com/mirage-go/mirage/layers"
	"github.com/mirage-go/mirage/models"
)

// Env is a run's model, data and backend factory, built from a Config.
type Env struct {
	Config      Config
	Model       layers.Module
	Train, Test datasets.Dataset
	Skipped     []string

	reg         mirage.Registries
	model       models.Descriptor
	exampleSize int
	probe       *modelProbe   // what one training step costs (see checkLoaded)
	memory      limits.Memory // the budget batches are checked against
}

// Setup loads the data, builds the model and checks that the backend
// configuration is valid, all before any training starts. The model, data
// set and backend cfg names are looked up in reg.
func Setup(cfg Config, reg mirage.Registries, log io.Writer) (*Env, error) {
	if err := cfg.Validate(reg); err != nil {
		return nil, err
	}
	if _, err := newBackend(cfg, reg); err != nil {
		return nil, err
	}
	model, _ := reg.Models.Lookup(cfg.Model) // Validate checked the names
	source, _ := reg.Datasets.Lookup(cfg.Dataset)
	mem, err := limits.ReadMemory()
	if err != nil {
		return nil, err
	}
	if err := checkBeforeLoad(cfg, source.Describe(), mem); err != nil {
		return nil, err
	}
	split, err := reg.Datasets.Open(cfg.Dataset, cfg.DataDir, catalog.Options{Log: log, MaxLen: cfg.MaxLen})
	if err != nil {
		return nil, err
	}
	env := &Env{Config: cfg, Train: split.Train, Test: split.Test, Skipped: split.Skipped, reg: reg, model: model}
	if cfg.TrainLimit > 0 && cfg.TrainLimit < env.Train.Len() {
		env.Train = datasets.Subset(env.Train, cfg.TrainLimit)
	}
	if cfg.TestLimit > 0 && cfg.TestLimit < env.Test.Len() {
		env.Test = datasets.Subset(env.Test, cfg.TestLimit)
	}
	env.exampleSize = 1
	for _, d := range env.Train.Shape() {
		env.exampleSize *= d
	}
	spec := models.Spec{
		InputShape: env.Train.Shape(),
		NumClasses: len(env.Train.Classes()),
		VocabSize:  split.VocabSize,
		Seed:       cfg.Seed,
	}
	env.Model, err = model.New(spec)
	if err != nil {
		return nil, err
	}
	if err := checkLoaded(env, spec, mem); err != nil {
		return nil, err
	}
	return env, nil
}

// NewBackend builds a fresh backend from the configuration. Each evaluation
// gets a fresh one, so that a noisy backend evaluates a checkpoint the same
// way whether it runs at the end of training or later from `mirage eval`.
func (e *Env) NewBackend() (backend.Backend, error) {
	return newBackend(e.Config, e.reg)
}

// NewBackend builds the backend a run of cfg trains with (see newBackend),
// for callers that need its effective settings without training.
func NewBackend(cfg Config, regs mirage.Registries) (backend.Backend, error) {
	return newBackend(cfg, regs)
}

// newBackend builds the configured backend. A backend with a noise seed
// that the user did not set takes the run's --seed, so that one seed fixes
// the whole run.
func newBackend(cfg Config, regs mirage.Registries) (backend.Backend, error) {
	reg := regs.Backends
	opts := maps.Clone(cfg.BackendOptions)
	if opts == nil {
		opts = backend.Options{}
	}
	for _, o := range reg.Options(cfg.Backend) {
		if _, set := opts[o.Name]; o.Name == NoiseSeedOption && !set {
			opts[o.Name] = strconv.FormatUint(cfg.Seed, 10)
		}
	}
	return reg.New(cfg.Backend, opts)
}

// NoiseSeedOption is the backend option that seeds a backend's randomness.
// A run that does not set it gives the backend its own --seed (Config.Seed),
// so that one seed fixes the whole run.
const NoiseSeedOption = "noise-seed"

// Evaluate returns the mean loss and the accuracy of model on the test set,
// in evaluation mode and without recording gradients.
func (e *Env) Evaluate(model layers.Module, batchSize int) (loss, acc float64, err error) {
	b, err := e.NewBackend()
	if err != nil {
		return 0, 0, err
	}
	model.SetTraining(false)
	tape := autograd.NewTape(b)
	tape.SetNoGrad(true)
	loader := datasets.NewLoader(e.Test, batchSize, false, false, 0)
	it := loader.Epoch(0)
	defer it.Close()
	shape := append([]int{0}, e.Test.Shape()...)
	var lossSum float64
	var correct, seen int
	for {
		batch, ok := it.Next()
		if !ok {
			break
		}
		shape[0] = batch.N
		tape.Reset()
		x := autograd.New(batch.X[:batch.N*e.exampleSize], shape...)
		logits := model.Forward(tape, x)
		l := tape.CrossEntropy(logits, batch.Labels[:batch.N], 0)
		if err := tape.Err(); err != nil {
			return 0, 0, err
		}
		lossSum += float64(l.Item()) * float64(batch.N)
		correct += countCorrect(logits, batch.Labels[:batch.N])
		seen += batch.N
	}
	if seen == 0 {
		return math.NaN(), 0, fmt.Errorf("the test set is empty")
	}
	return lossSum / float64(seen), float64(correct) / float64(seen), nil
}

const configMetadataKey = "mirage.config"

func checkpointMetadata(cfg Config) (map[string]string, error) {
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	return map[string]string{
		configMetadataKey: string(data),
		"format":          "pt", // tensors are named like a PyTorch state_dict
	}, nil
}

// configFromMetadata reads the training configuration a checkpoint
// records and validates it like a command line: a checkpoint is user
// input, and a hand-edited eval_batch_size of 0 or 1e8 must be refused
// here rather than crash the loader.
func configFromMetadata(path string, meta map[string]string, reg mirage.Registries) (Config, error) {
	var cfg Config
	raw, ok := meta[configMetadataKey]
	if !ok {
		return cfg, fmt.Errorf("%s was not written by mirage train (no %q metadata); cannot tell which model it holds", path, configMetadataKey)
	}
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		return cfg, fmt.Errorf("%s: bad %s metadata: %w", path, configMetadataKey, err)
	}
	if err := cfg.Validate(reg); err != nil {
		return cfg, fmt.Errorf("%s: its %s metadata is not a valid configuration: %w", path, configMetadataKey, err)
	}
	return cfg, nil
}

// EvalResult is what Eval reports.
type EvalResult struct {
	Model    string  `json:"model"`
	Dataset  string  `json:"dataset"`
	Backend  string  `json:"backend"`
	TestLoss float64 `json:"test_loss"`
	TestAcc  float64 `json:"test_acc"`
}

// Eval loads a checkpoint written by Run and evaluates it on its data set's
// test split. dataDir and backendName override the recorded ones when not
// empty. The recorded model, data set and backend are looked up in reg.
func Eval(path, dataDir, backendName string, backendOptions backend.Options, reg mirage.Registries, log io.Writer) (*EvalResult, error) {
	_, meta, err := checkpoint.Load(path)
	if err != nil {
		return nil, err
	}
	cfg, err := configFromMetadata(path, meta, reg)
	if err != nil {
		return nil, err
	}
	if dataDir != "" {
		cfg.DataDir = dataDir
	}
	if backendName != "" {
		cfg.Backend, cfg.BackendOptions = backendName, backendOptions
	}
	env, err := Setup(cfg, reg, log)
	if err != nil {
		return nil, err
	}
	if err := checkpoint.LoadInto(path, layers.StateDict(env.Model)); err != nil {
		return nil, err
	}
	if err := checkFinite(path, layers.StateDict(env.Model)); err != nil {
		return nil, err
	}
	loss, acc, err := env.Evaluate(env.Model, cfg.EvalBatchSize)
	if err != nil {
		return nil, err
	}
	return &EvalResult{Model: cfg.Model, Dataset: cfg.Dataset, Backend: cfg.Backend, TestLoss: loss, TestAcc: acc}, nil
}
