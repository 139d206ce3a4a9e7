package train

import (
	"fmt"
	"math"
	"path"
	"slices"
	"strings"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/fp32"
	"github.com/mirage-go/mirage/datasets"
	"github.com/mirage-go/mirage/datasets/catalog"
	"github.com/mirage-go/mirage/internal/limits"
	"github.com/mirage-go/mirage/layers"
	"github.com/mirage-go/mirage/models"
)

// checkPair refuses a model that cannot read the data set's examples (an
// MLP would happily train on token ids), listing the valid choices. Both
// names are registered (Validate checks them first).
func checkPair(reg mirage.Registries, model, dataset string) error {
	m, _ := reg.Models.Lookup(model)
	src, _ := reg.Datasets.Lookup(dataset)
	have := src.Describe().Input
	if m.Input == have {
		return nil
	}
	var ms, ds []string
	for _, name := range reg.Models.Names() {
		if d, _ := reg.Models.Lookup(name); d.Input == have {
			ms = append(ms, name)
		}
	}
	for _, name := range reg.Datasets.Names() {
		if s, _ := reg.Datasets.Lookup(name); s.Describe().Input == m.Input {
			ds = append(ds, name)
		}
	}
	fix := make([]string, 0, 2)
	if len(ds) > 0 {
		fix = append(fix, "--dataset "+strings.Join(ds, " or "))
	}
	if len(ms) > 0 {
		fix = append(fix, "--model "+strings.Join(ms, " or "))
	}
	return fmt.Errorf("model %s takes %s input but data set %s holds %s; use %s",
		model, m.Input, dataset, have, strings.Join(fix, ", or "))
}

// checkBeforeLoad refuses settings whose data alone would not fit, before
// the data is read: a text data set stores max-len tokens per example
// (its source says how many examples it holds).
func checkBeforeLoad(cfg Config, src catalog.Description, mem limits.Memory) error {
	if src.Input != datasets.Tokens || cfg.MaxLen == 0 {
		return nil
	}
	textExamples := int64(src.Examples)
	tokens := limits.Size(textExamples, int64(cfg.MaxLen), 4)
	bert := models.DefaultBERTConfig()
	// Attention keeps scores, probabilities and their gradient: three
	// (heads, L, L) arrays per layer and example.
	attention := limits.Size(int64(cfg.BatchSize), int64(bert.Layers), int64(bert.Heads), int64(cfg.MaxLen), int64(cfg.MaxLen), 4, 3)
	return mem.Check(fmt.Sprintf("--max-len %d", cfg.MaxLen), limits.Add(tokens, attention),
		fmt.Sprintf("%d %s examples of %d tokens, and attention over %d×%d positions per head and layer for a batch of %d; lower --max-len or --batch-size",
			textExamples, src.Name, cfg.MaxLen, cfg.MaxLen, cfg.MaxLen, cfg.BatchSize))
}

// checkLoaded checks what needs the data and the model: a training and a
// test set that are not empty, --fp32-layers patterns that name layers of
// the model, and batch sizes whose tensors fit in memory.
func checkLoaded(env *Env, spec models.Spec, mem limits.Memory) error {
	cfg := env.Config
	if env.Train.Len() == 0 {
		return fmt.Errorf("the %s training set has 0 examples; check the files in --data-dir (or --train-limit)", cfg.Dataset)
	}
	if env.Test.Len() == 0 {
		return fmt.Errorf("the %s test set has 0 examples; check the files in --data-dir (or --test-limit)", cfg.Dataset)
	}
	// Tensors of one example, without any batch: too large a --max-len
	// or image would make even the probe below run out of memory.
	example := limits.Size(int64(env.exampleSize), 4)
	if err := mem.Check("one example", example, "use smaller inputs"); err != nil {
		return err
	}
	probe, err := probeModel(env.model, spec)
	if err != nil {
		return err
	}
	if err := checkFP32Layers(cfg, probe.layers); err != nil {
		return err
	}
	// The loader keeps three batches (two prefetched); a training step
	// keeps every activation and its gradient; weights carry a gradient
	// and up to two optimizer moments.
	loaderBatch := func(n int) int64 { return limits.Size(3, int64(n), limits.Add(example, 8)) }
	weights := limits.Size(probe.paramBytes, 4)
	train := limits.Add(weights, loaderBatch(cfg.BatchSize), limits.Size(int64(cfg.BatchSize), probe.perExample))
	if err := mem.Check(fmt.Sprintf("--batch-size %d", cfg.BatchSize), train,
		fmt.Sprintf("%s per example for %s on %s; lower --batch-size", limits.FormatBytes(probe.perExample+3*example), cfg.Model, cfg.Dataset)); err != nil {
		return err
	}
	env.probe, env.memory = probe, mem
	return env.checkBatch("eval batch size", cfg.EvalBatchSize, probe.forward)
}

// CheckBatch refuses a batch of n examples (named by flag in the message)
// whose forward and backward tensors, with the loader's buffers, would not
// fit in the memory available; compare's error probe uses it for
// --probe-batch. Setup has already checked the training and evaluation
// batches.
func (e *Env) CheckBatch(flag string, n int) error {
	if e.probe == nil {
		return nil
	}
	return e.checkBatch(flag, n, e.probe.perExample)
}

func (e *Env) checkBatch(flag string, n int, perExample int64) error {
	if n < 1 {
		return fmt.Errorf("invalid %s %d: must be at least 1", flag, n)
	}
	example := limits.Size(int64(e.exampleSize), 4)
	need := limits.Add(e.probe.paramBytes, limits.Size(3, int64(n), limits.Add(example, 8)), limits.Size(int64(n), perExample))
	return e.memory.Check(fmt.Sprintf("%s %d", flag, n), need,
		fmt.Sprintf("%s per example for %s on %s; lower %s", limits.FormatBytes(perExample+3*example), e.Config.Model, e.Config.Dataset, flag))
}

// modelProbe is what one training step of a model on one and two examples
// shows: the bytes each example adds, the parameters' bytes and the names
// of the layers whose products go through the backend.
type modelProbe struct {
	perExample int64 // training step
	forward    int64 // evaluation (no gradients kept)
	paramBytes int64
	layers     []string
}

// probeModel builds a fresh copy of the model (so that the real one's
// batch-norm statistics are untouched) and runs a training step on one and
// on two dummy examples through a backend that records every matrix
// product: its layer and the sizes of its result and left operand. The
// difference between the two steps is what one example adds. It follows
// the model's own shapes, so it holds for every model and input, and it is
// exact arithmetic rather than a noisy reading of the allocator.
func probeModel(d models.Descriptor, spec models.Spec) (*modelProbe, error) {
	model := d.Name
	m, err := d.New(spec)
	if err != nil {
		return nil, err
	}
	rec := &layerRecorder{Backend: fp32.New(), seen: map[string]bool{}}
	p := &modelProbe{paramBytes: limits.Size(int64(layers.CountParams(m)), 4)}
	m.SetTraining(true)
	var outputs, operand [2]int64
	for i, n := range []int{1, 2} {
		rec.outputs, rec.operand = 0, 0
		if err := trainStep(m, rec, d.Input, spec.InputShape, n, spec.NumClasses); err != nil {
			return nil, fmt.Errorf("model %s: a training step on %d dummy examples failed: %w", model, n, err)
		}
		outputs[i], operand[i] = rec.outputs, rec.operand
	}
	// Per example: each product's result, its gradient and about one
	// element-wise tensor after it (ReLU, normalisation), plus the largest
	// column matrix.
	p.perExample = 3*max(outputs[1]-outputs[0], 0) + max(operand[1]-operand[0], 0)
	p.forward = max(outputs[1]-outputs[0], 0) + max(operand[1]-operand[0], 0)
	for l := range rec.seen {
		p.layers = append(p.layers, l)
	}
	slices.Sort(p.layers)
	return p, nil
}

// trainStep runs one forward and backward pass on n dummy examples.
func trainStep(m layers.Module, b backend.Backend, kind datasets.InputKind, shape []int, n, classes int) error {
	size := n
	for _, d := range shape {
		size *= d
	}
	data := make([]float32, size)
	if kind == datasets.Tokens {
		for i := range data {
			data[i] = 1 // a token id other than padding
		}
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = i % classes
	}
	tape := autograd.NewTape(b)
	x := autograd.New(data, append([]int{n}, shape...)...)
	loss := tape.CrossEntropy(m.Forward(tape, x), labels, 0)
	return tape.Backward(loss)
}

// layerRecorder is an fp32 backend that records the layer of every product
// and the sizes of its result and left operand. It is not a
// backend.Convolver, so convolutions pass through MatMul as im2col GEMMs
// and show their names (and their column matrices count, as on the
// emulated backends, which are not Convolvers either).
type layerRecorder struct {
	backend.Backend
	seen map[string]bool
	// outputs adds up the forward products' results (the activations a
	// step keeps); operand is the largest left operand of any product (a
	// column matrix, live only during its product).
	outputs, operand int64
}

func (r *layerRecorder) MatMul(call backend.Call, g backend.GEMM) error {
	r.seen[call.Layer] = true
	if call.Role == backend.Forward {
		r.outputs += 4 * int64(g.M) * int64(g.N)
	}
	r.operand = max(r.operand, 4*int64(g.M)*int64(g.K))
	return r.Backend.MatMul(call, g)
}

// Layers returns the names of the model's layers whose products go
// through the backend, sorted: the names --fp32-layers patterns match.
func (e *Env) Layers() []string {
	if e.probe == nil {
		return nil
	}
	return slices.Clone(e.probe.layers)
}

// CheckFP32Layers refuses a configuration whose --fp32-layers patterns
// match none of layers (from Env.Layers of the same model and data), for
// callers that check several backend configurations against one Env
// (compare's arms, a sweep's rows).
func CheckFP32Layers(cfg Config, layers []string) error { return checkFP32Layers(cfg, layers) }

// checkFP32Layers refuses --fp32-layers patterns that match no layer of
// the model: a typo would otherwise keep every layer on the emulated core
// without a word.
func checkFP32Layers(cfg Config, names []string) error {
	v, ok := cfg.BackendOptions["fp32-layers"]
	if !ok {
		return nil
	}
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		matched := false
		for _, n := range names {
			if ok, _ := path.Match(p, n); ok || p == n {
				matched = true
				break
			}
		}
		if !matched {
			return fmt.Errorf("--fp32-layers %q matches no layer of %s (its layers: %s)", p, cfg.Model, strings.Join(names, ", "))
		}
	}
	return nil
}

// checkFinite refuses weights with NaN or ±Inf entries: such a model
// evaluates to "loss NaN" and an accuracy that means nothing (the run that
// wrote it diverged).
func checkFinite(path string, tensors []*autograd.Tensor) error {
	bad, first := 0, ""
	for _, t := range tensors {
		for _, v := range t.Data() {
			if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
				if bad == 0 {
					first = t.Name
				}
				bad++
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("%s holds %d NaN/Inf weights (first in %s): the run that wrote it diverged, so its accuracy would mean nothing; evaluate a checkpoint of a run that did not diverge", path, bad, first)
	}
	return nil
}
