package models

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/mirage-go/mirage/datasets"
	"github.com/mirage-go/mirage/layers"
)

// Descriptor is everything mirage needs to know about a model: how to
// build it, what it reads, what it trains on by default and with which
// settings, and what a benchmark feeds it. A model is added to mirage (or
// to a program that uses mirage) by writing its Descriptor and registering
// it in a [Registry]; see the package example.
type Descriptor struct {
	// Name is what --model and configurations call the model.
	Name string
	// About is a one-line description for help texts.
	About string
	// Build constructs the model for spec from rng, which [Descriptor.New]
	// seeds from spec.Seed. A spec the model cannot take (wrong input
	// rank, too small an image) is an error saying what to change.
	Build func(spec Spec, rng *rand.Rand) (layers.Module, error)
	// Input is the kind of example the model reads; training refuses a
	// data set of another kind.
	Input datasets.InputKind
	// DefaultDataset is the data set the model trains on when none is
	// named.
	DefaultDataset string
	// Recipe holds the training settings `mirage train` uses for every
	// flag the user does not give. The zero Recipe means [DefaultRecipe].
	Recipe Recipe
	// Bench is the spec benchmarks build the model with: the example
	// shape, classes (and vocabulary) of its usual data set, from which a
	// synthetic batch is drawn.
	Bench Spec
}

// New builds the model for spec: it checks what every model needs (two
// classes or more), seeds the initialisation from spec.Seed, and calls
// Build.
func (d Descriptor) New(spec Spec) (layers.Module, error) {
	if spec.NumClasses < 2 {
		return nil, fmt.Errorf("model %s: need at least 2 classes, got %d", d.Name, spec.NumClasses)
	}
	rng := rand.New(rand.NewPCG(spec.Seed, 0x6d69726167652d6d)) // "mirage-m"
	return d.Build(spec, rng)
}

// Recipe is a model's default training settings; package train turns it
// into a configuration.
type Recipe struct {
	Epochs, BatchSize, EvalBatchSize int
	// Optimizer is "sgd" or "adamw".
	Optimizer                 string
	LR, Momentum, WeightDecay float64
	// Schedule is "constant", "cosine", "step" or "onecycle".
	Schedule                                   string
	WarmupEpochs, LabelSmoothing, ClipGradNorm float64
	// MaxLen is the sequence length of text models (0 for image models).
	MaxLen int
	// Augment turns on random crop and flip for the data sets whose
	// source allows it (natural images, not digits or text).
	Augment bool
}

// DefaultRecipe is the recipe of a model that states none: three epochs
// of SGD with momentum and a one-cycle schedule, batches of 64.
func DefaultRecipe() Recipe {
	return Recipe{
		Epochs: 3, BatchSize: 64, EvalBatchSize: 500,
		Optimizer: "sgd", LR: 0.05, Momentum: 0.9, WeightDecay: 5e-4,
		Schedule: "onecycle",
	}
}

// Registry holds model descriptors by name, in the order registered. It
// is a value a program builds and passes to what needs it; mirage keeps
// no global registry.
type Registry struct {
	list []Descriptor
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

// Register adds d. A descriptor without a name, builder or input kind, or
// with a name already taken, is refused.
func (r *Registry) Register(d Descriptor) error {
	switch {
	case d.Name == "" || strings.ContainsAny(d.Name, ", \t\n:="):
		return fmt.Errorf("models: invalid model name %q (want a non-empty name without spaces, commas, colons or =)", d.Name)
	case d.Build == nil:
		return fmt.Errorf("models: model %s has no Build function", d.Name)
	case d.Input == "":
		return fmt.Errorf("models: model %s does not say what input it reads (Descriptor.Input)", d.Name)
	case d.DefaultDataset == "":
		return fmt.Errorf("models: model %s has no default data set", d.Name)
	}
	if _, ok := r.Lookup(d.Name); ok {
		return fmt.Errorf("models: model %s is already registered", d.Name)
	}
	if d.Recipe == (Recipe{}) {
		d.Recipe = DefaultRecipe()
	}
	r.list = append(r.list, d)
	return nil
}

// Names lists the registered model names in the order registered.
func (r *Registry) Names() []string {
	names := make([]string, len(r.list))
	for i, d := range r.list {
		names[i] = d.Name
	}
	return names
}

// Lookup returns the descriptor of the named model.
func (r *Registry) Lookup(name string) (Descriptor, bool) {
	for _, d := range r.list {
		if d.Name == name {
			return d, true
		}
	}
	return Descriptor{}, false
}

// Get returns the descriptor of the named model, or an error listing the
// valid names.
func (r *Registry) Get(name string) (Descriptor, error) {
	if d, ok := r.Lookup(name); ok {
		return d, nil
	}
	return Descriptor{}, fmt.Errorf("unknown model %q (valid: %s)", name, strings.Join(r.Names(), ", "))
}

// New builds the named model for spec. An unknown name, or a spec the
// model cannot take, is an error saying what to change.
func (r *Registry) New(name string, spec Spec) (layers.Module, error) {
	d, err := r.Get(name)
	if err != nil {
		return nil, err
	}
	return d.New(spec)
}
