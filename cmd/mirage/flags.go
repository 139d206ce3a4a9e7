package main

import (
	"flag"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/models"
	"github.com/mirage-go/mirage/train"
)

// trainingFlags defines the flags that shape a training run (model, data,
// optimizer, schedule, limits) and returns a function that builds the
// configuration: the model's recipe with every flag the user set applied.
// The backend and the output directory are left to the caller.
//
// Flags whose default depends on the model's recipe are set-only: they
// show no default in --help and change the recipe only when given.
func trainingFlags(fs *flag.FlagSet, reg mirage.Registries) func() train.Config {
	model := fs.String("model", "lenet", "model: "+strings.Join(reg.Models.Names(), ", "))
	dataset := fs.String("dataset", "", "data set: "+strings.Join(reg.Datasets.Names(), ", ")+" (default: the model's usual one: "+usualDatasets(reg.Models)+")")
	seed := fs.Uint64("seed", 1, "random seed for weights, data order, augmentation and backend noise")
	dataDir := fs.String("data-dir", "", "read the data set's files from this directory instead of locating them")
	trainLimit := fs.Int("train-limit", 0, "use only N training examples, spread evenly through the set so that class-sorted sets keep every class (0 = all)")
	testLimit := fs.Int("test-limit", 0, "use only N test examples, spread evenly like --train-limit (0 = all)")

	var overrides []func(*train.Config)
	recipeInt := func(name, usage string, field func(*train.Config) *int) {
		fs.Func(name, usage+" (default: the model's recipe)", func(s string) error {
			v, err := strconv.Atoi(s)
			if err != nil {
				return fmt.Errorf("not an integer")
			}
			overrides = append(overrides, func(c *train.Config) { *field(c) = v })
			return nil
		})
	}
	recipeFloat := func(name, usage string, field func(*train.Config) *float64) {
		fs.Func(name, usage+" (default: the model's recipe)", func(s string) error {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return fmt.Errorf("not a number")
			}
			overrides = append(overrides, func(c *train.Config) { *field(c) = v })
			return nil
		})
	}
	recipeString := func(name, usage string, field func(*train.Config) *string) {
		fs.Func(name, usage+" (default: the model's recipe)", func(s string) error {
			overrides = append(overrides, func(c *train.Config) { *field(c) = s })
			return nil
		})
	}
	recipeInt("epochs", "training epochs", func(c *train.Config) *int { return &c.Epochs })
	recipeInt("batch-size", "training batch size", func(c *train.Config) *int { return &c.BatchSize })
	recipeInt("max-len", "sequence length of text models", func(c *train.Config) *int { return &c.MaxLen })
	recipeFloat("lr", "peak learning rate", func(c *train.Config) *float64 { return &c.LR })
	recipeString("optimizer", "optimizer: sgd (momentum, Nesterov) or adamw", func(c *train.Config) *string { return &c.Optimizer })
	recipeFloat("momentum", "SGD momentum", func(c *train.Config) *float64 { return &c.Momentum })
	recipeFloat("weight-decay", "weight decay (not applied to biases and norm parameters)", func(c *train.Config) *float64 { return &c.WeightDecay })
	recipeString("schedule", "learning-rate schedule: constant, cosine, step, onecycle", func(c *train.Config) *string { return &c.Schedule })
	recipeFloat("warmup", "linear warm-up length in epochs (cosine, step, constant)", func(c *train.Config) *float64 { return &c.WarmupEpochs })
	recipeFloat("label-smoothing", "label smoothing of the cross-entropy loss", func(c *train.Config) *float64 { return &c.LabelSmoothing })
	recipeFloat("clip-grad", "clip the global gradient norm to this value (0 = off)", func(c *train.Config) *float64 { return &c.ClipGradNorm })
	fs.BoolFunc("augment", "random crop + flip augmentation for images; --augment=false turns it off (default: on for CIFAR-10)", func(s string) error {
		v, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("not true or false")
		}
		overrides = append(overrides, func(c *train.Config) { c.Augment = v })
		return nil
	})

	return func() train.Config {
		cfg := train.Recipe(reg, *model, *dataset)
		cfg.Seed, cfg.DataDir = *seed, *dataDir
		cfg.TrainLimit, cfg.TestLimit = *trainLimit, *testLimit
		for _, apply := range overrides {
			apply(&cfg)
		}
		return cfg
	}
}

// backendFlags defines one string flag per backend option of every
// registered backend, and returns a function that collects the options the
// user set.
func backendFlags(fs *flag.FlagSet, regs mirage.Registries) func() backend.Options {
	reg := regs.Backends
	users := map[string][]string{}
	specs := map[string]backend.OptionSpec{}
	for _, name := range reg.Names() {
		for _, o := range reg.Options(name) {
			users[o.Name] = append(users[o.Name], name)
			if _, ok := specs[o.Name]; !ok {
				specs[o.Name] = o
			}
		}
	}
	names := make([]string, 0, len(specs))
	for n := range specs {
		names = append(names, n)
	}
	sort.Strings(names)
	values := map[string]*string{}
	for _, n := range names {
		o := specs[n]
		def, help := o.Default, o.Help
		if n == train.NoiseSeedOption { // train gives the backend the run's seed, not the option's default
			def, help = "", help+" (default: the value of --seed)"
		}
		values[n] = fs.String(n, def, fmt.Sprintf("%s [backend %s]", help, strings.Join(users[n], ", ")))
	}
	return func() backend.Options {
		opts := backend.Options{}
		fs.Visit(func(f *flag.Flag) {
			if v, ok := values[f.Name]; ok {
				opts[f.Name] = *v
			}
		})
		return opts
	}
}

// usualDatasets says which data set each model trains on by default, for
// --dataset's help: "mlp, lenet: mnist; resnet20, resnet18: cifar10; ...".
func usualDatasets(reg *models.Registry) string {
	var order []string
	users := map[string][]string{}
	for _, name := range reg.Names() {
		d, _ := reg.Lookup(name)
		if users[d.DefaultDataset] == nil {
			order = append(order, d.DefaultDataset)
		}
		users[d.DefaultDataset] = append(users[d.DefaultDataset], name)
	}
	parts := make([]string, len(order))
	for i, ds := range order {
		parts[i] = strings.Join(users[ds], ", ") + ": " + ds
	}
	return strings.Join(parts, "; ")
}
