package bench

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/datasets"
	gemmbench "github.com/mirage-go/mirage/internal/bench"
	"github.com/mirage-go/mirage/layers"
	"github.com/mirage-go/mirage/models"
	"github.com/mirage-go/mirage/optim"
)

// Training speed is reported as examples (images, or sequences for BERT)
// per second of a full training step: forward pass, cross-entropy, backward
// pass and an SGD update (momentum 0.9, weight decay 5e-4; AdamW for
// BERT), on synthetic data of the model's input shape. Data loading is not
// part of it, so the figure isolates the framework and compares directly
// with bench/pytorch_train.py, which measures the same steps in PyTorch.

// TrainCase is one training-speed measurement: a model at a batch size.
// The model is built from its descriptor's Bench spec (the example shape,
// classes and vocabulary of its usual data set: MNIST for the MLP and
// LeNet-5, CIFAR-10 for the ResNets, IMDB-like sequences of 128 tokens for
// BERT).
type TrainCase struct {
	Model models.Descriptor
	Batch int
}

func (c TrainCase) String() string { return fmt.Sprintf("%s/b%d", c.Model.Name, c.Batch) }

// DefaultTrainCases are the cases BENCHMARKS.md reports: LeNet-5 on MNIST
// shapes at batch 64 and 128, ResNet-20 on CIFAR-10 shapes at batch 128,
// with the models of reg.
func DefaultTrainCases(reg *models.Registry) ([]TrainCase, error) {
	return ParseTrainCases("lenet:64,lenet:128,resnet20:128", reg)
}

// TrainStep is one model with its tape, optimizer and a fixed synthetic
// batch, ready to run training steps.
type TrainStep struct {
	Model  layers.Module
	Tape   *autograd.Tape
	opt    optim.Optimizer
	x      *autograd.Tensor
	labels []int
	loss   float32
}

// NewTrainStep builds c's model on backend b with a random batch (normal
// pixels, or random token ids; uniform labels) drawn from seed.
func NewTrainStep(c TrainCase, b backend.Backend, seed uint64) (*TrainStep, error) {
	if c.Batch < 1 {
		return nil, fmt.Errorf("bench: batch size %d must be at least 1", c.Batch)
	}
	spec := c.Model.Bench
	if len(spec.InputShape) == 0 || spec.NumClasses < 2 || (c.Model.Input == datasets.Tokens && spec.VocabSize < 2) {
		return nil, fmt.Errorf("bench: model %s has no benchmark input (its descriptor's Bench spec)", c.Model.Name)
	}
	m, err := c.Model.New(spec)
	if err != nil {
		return nil, err
	}
	// The optimizer of the model's recipe, at a fixed learning rate.
	var opt optim.Optimizer
	if c.Model.Recipe.Optimizer == "adamw" {
		cfg := optim.DefaultAdamWConfig(1e-4)
		cfg.NoDecay = optim.Vectors
		opt, err = optim.NewAdamW(m.Params(), cfg)
	} else {
		opt, err = optim.NewSGD(m.Params(), optim.SGDConfig{LR: 0.01, Momentum: 0.9, WeightDecay: 5e-4, NoDecay: optim.Vectors})
	}
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x62656e6368)) // "bench"
	x := autograd.Zeros(append([]int{c.Batch}, spec.InputShape...)...)
	for i := range x.Data() {
		if spec.VocabSize > 1 { // token ids other than padding
			x.Data()[i] = float32(1 + rng.IntN(spec.VocabSize-1))
		} else {
			x.Data()[i] = float32(rng.NormFloat64())
		}
	}
	labels := make([]int, c.Batch)
	for i := range labels {
		labels[i] = rng.IntN(spec.NumClasses)
	}
	return &TrainStep{Model: m, Tape: autograd.NewTape(b), opt: opt, x: x, labels: labels}, nil
}

// Run performs one training step, as train.Run does: reset the tape,
// forward, loss, zero the gradients, backward, optimizer update.
func (s *TrainStep) Run() error {
	s.Tape.Reset()
	loss := s.Tape.CrossEntropy(s.Model.Forward(s.Tape, s.x), s.labels, 0)
	s.opt.ZeroGrad()
	if err := s.Tape.Backward(loss); err != nil {
		return err
	}
	s.opt.Step()
	s.loss = loss.Item()
	return nil
}

// Loss returns the loss of the last step.
func (s *TrainStep) Loss() float32 { return s.loss }

// TrainOptions controls a training-speed measurement.
type TrainOptions struct {
	Warmup int // steps run before timing starts (default 3)
	Steps  int // steps per timed repetition (default 5)
	Reps   int // repetitions; the median is reported (default 5)
}

func (o TrainOptions) withDefaults() TrainOptions {
	if o.Warmup <= 0 {
		o.Warmup = 3
	}
	if o.Steps <= 0 {
		o.Steps = 5
	}
	if o.Reps <= 0 {
		o.Reps = 5
	}
	return o
}

// TrainResult is the training speed of one case on one backend.
type TrainResult struct {
	Model   string `json:"model"`
	Batch   int    `json:"batch"`
	Backend string `json:"backend"`
	// ExamplesPerSec is the median over repetitions of batch·steps divided
	// by the repetition's wall time.
	ExamplesPerSec float64 `json:"examples_per_sec"`
	// StepMillis is the median step time in milliseconds.
	StepMillis float64 `json:"step_ms"`
	// CPUMillis is the median CPU time per step (all threads, user and
	// system) in milliseconds. On a machine shared with other jobs it moves
	// less than wall time: it shows what a step costs rather than what it
	// got. With two busy cores it is up to twice StepMillis.
	CPUMillis float64 `json:"cpu_ms_per_step"`
	// Reps are the per-repetition examples per second, in order.
	Reps []float64 `json:"reps"`
}

// MeasureTrain times training steps of c on backend b: opts.Warmup steps
// untimed, then opts.Reps repetitions of opts.Steps steps each.
func MeasureTrain(c TrainCase, b backend.Backend, opts TrainOptions) (TrainResult, error) {
	res, err := MeasureTrainInterleaved(c, []backend.Backend{b}, opts)
	if err != nil {
		return TrainResult{}, err
	}
	return res[0], nil
}

// MeasureTrainInterleaved times training steps of c on each backend, one
// result per backend in order. The backends are measured interleaved: each
// repetition runs opts.Steps steps on every backend in turn, so a change in
// the machine's load (other jobs, clock frequency) affects all of them
// alike and their ratios stay meaningful on a shared machine.
func MeasureTrainInterleaved(c TrainCase, backends []backend.Backend, opts TrainOptions) ([]TrainResult, error) {
	opts = opts.withDefaults()
	steps := make([]*TrainStep, len(backends))
	for i, b := range backends {
		s, err := NewTrainStep(c, b, 1)
		if err != nil {
			return nil, err
		}
		for range opts.Warmup {
			if err := s.Run(); err != nil {
				return nil, fmt.Errorf("%s on %s: %w", c, b.Name(), err)
			}
		}
		steps[i] = s
	}
	results := make([]TrainResult, len(backends))
	cpu := make([][]float64, len(backends))
	for range opts.Reps {
		for i, s := range steps {
			start, cpuStart := time.Now(), processCPUTime()
			for range opts.Steps {
				if err := s.Run(); err != nil {
					return nil, fmt.Errorf("%s on %s: %w", c, backends[i].Name(), err)
				}
			}
			sec := time.Since(start).Seconds()
			results[i].Reps = append(results[i].Reps, float64(c.Batch*opts.Steps)/sec)
			cpu[i] = append(cpu[i], 1000*(processCPUTime()-cpuStart).Seconds()/float64(opts.Steps))
		}
	}
	for i, b := range backends {
		r := &results[i]
		r.Model, r.Batch, r.Backend = c.Model.Name, c.Batch, b.Name()
		r.ExamplesPerSec = gemmbench.Median(r.Reps)
		r.StepMillis = 1000 * float64(c.Batch) / r.ExamplesPerSec
		r.CPUMillis = gemmbench.Median(cpu[i])
	}
	return results, nil
}

// ParseTrainCases reads a comma-separated list of MODEL:BATCH items, e.g.
// "lenet:64,resnet20:128", naming models of reg.
func ParseTrainCases(list string, reg *models.Registry) ([]TrainCase, error) {
	var cases []TrainCase
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		model, batch, ok := strings.Cut(item, ":")
		if !ok {
			return nil, fmt.Errorf("case %q: want MODEL:BATCH, e.g. resnet20:128", item)
		}
		d, ok := reg.Lookup(model)
		if !ok {
			return nil, fmt.Errorf("case %q: unknown model %q (valid: %s)", item, model, strings.Join(reg.Names(), ", "))
		}
		n, err := strconv.Atoi(batch)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("case %q: batch size %q is not a positive integer", item, batch)
		}
		cases = append(cases, TrainCase{Model: d, Batch: n})
	}
	if len(cases) == 0 {
		return nil, fmt.Errorf("no cases in %q: give MODEL:BATCH items such as lenet:64,resnet20:128", list)
	}
	return cases, nil
}

// WriteTrainTable prints one row per case and backend: examples per
// second, step time, and, for backends other than fp32, the step-time
// ratio to fp32 on the same case.
func WriteTrainTable(w io.Writer, results []TrainResult) error {
	fp32 := map[string]float64{}
	for _, r := range results {
		if r.Backend == "fp32" {
			fp32[fmt.Sprintf("%s/%d", r.Model, r.Batch)] = r.StepMillis
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "model\tbatch\tbackend\texamples/s\tstep ms\tCPU ms/step\tstep time / fp32\t\n")
	for _, r := range results {
		ratio := "-"
		if base, ok := fp32[fmt.Sprintf("%s/%d", r.Model, r.Batch)]; ok && r.Backend != "fp32" {
			ratio = fmt.Sprintf("%.2fx", r.StepMillis/base)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.1f\t%.1f\t%.1f\t%s\t\n", r.Model, r.Batch, r.Backend, r.ExamplesPerSec, r.StepMillis, r.CPUMillis, ratio)
	}
	return tw.Flush()
}
