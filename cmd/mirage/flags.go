package main

import (
	"flag"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/internal/limits"
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
	seedFlag := &limits.Uint64Flag{Name: "--seed", Value: 1}
	fs.Var(seedFlag, "seed", "random seed for weights, data order, augmentation and backend noise")
	seed := &seedFlag.Value
	dataDir := fs.String("data-dir", "", "read the data set's files from this directory instead of locating them")
	ranges := train.NumberRanges()
	trainLimit := intFlag(fs, "train-limit", 0, ranges.TrainLimit, "use only N training examples, spread evenly through the set so that class-sorted sets keep every class (0 = all)")
	testLimit := intFlag(fs, "test-limit", 0, ranges.TestLimit, "use only N test examples, spread evenly like --train-limit (0 = all)")

	// Recipe numbers are read and range-checked by internal/limits with
	// the ranges Config.Validate checks them with.
	var overrides []func(*train.Config)
	recipeInt := func(name, usage string, r limits.Int, field func(*train.Config) *int) {
		fs.Func(name, usage+" (default: the model's recipe)", func(s string) error {
			v, err := r.Parse("--"+name, s)
			if err != nil {
				return err
			}
			overrides = append(overrides, func(c *train.Config) { *field(c) = v })
			return nil
		})
	}
	recipeFloat := func(name, usage string, r limits.Float, field func(*train.Config) *float64) {
		fs.Func(name, usage+" (default: the model's recipe)", func(s string) error {
			v, err := r.Parse("--"+name, s)
			if err != nil {
				return err
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
	recipeInt("epochs", "training epochs", ranges.Epochs, func(c *train.Config) *int { return &c.Epochs })
	recipeInt("batch-size", "training batch size", ranges.BatchSize, func(c *train.Config) *int { return &c.BatchSize })
	recipeInt("max-len", "sequence length of text models", ranges.MaxLen, func(c *train.Config) *int { return &c.MaxLen })
	recipeFloat("lr", "peak learning rate", ranges.LR, func(c *train.Config) *float64 { return &c.LR })
	recipeString("optimizer", "optimizer: sgd (momentum, Nesterov) or adamw", func(c *train.Config) *string { return &c.Optimizer })
	recipeFloat("momentum", "SGD momentum", ranges.Momentum, func(c *train.Config) *float64 { return &c.Momentum })
	recipeFloat("weight-decay", "weight decay (not applied to biases and norm parameters)", ranges.WeightDecay, func(c *train.Config) *float64 { return &c.WeightDecay })
	recipeString("schedule", "learning-rate schedule: constant, cosine, step, onecycle", func(c *train.Config) *string { return &c.Schedule })
	recipeFloat("warmup", "linear warm-up length in epochs (cosine, step, constant)", ranges.WarmupEpochs, func(c *train.Config) *float64 { return &c.WarmupEpochs })
	recipeFloat("label-smoothing", "label smoothing of the cross-entropy loss", ranges.LabelSmoothing, func(c *train.Config) *float64 { return &c.LabelSmoothing })
	recipeFloat("clip-grad", "clip the global gradient norm to this value (0 = off)", ranges.ClipGradNorm, func(c *train.Config) *float64 { return &c.ClipGradNorm })
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
	defaults := map[string][]string{} // per user, in the order of users
	specs := map[string]backend.OptionSpec{}
	for _, name := range reg.Names() {
		for _, o := range reg.Options(name) {
			users[o.Name] = append(users[o.Name], name)
			defaults[o.Name] = append(defaults[o.Name], o.Default)
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
		switch {
		case n == train.NoiseSeedOption: // train gives the backend the run's seed, not the option's default
			def, help = "", help+" (default: the value of --seed)"
		case !allEqual(defaults[n]):
			// Backends sharing an option may default it differently (rns's
			// mantissa width is not analog's): name each one's default.
			per := make([]string, len(users[n]))
			for i, u := range users[n] {
				per[i] = u + " " + defaults[n][i]
			}
			def, help = "", help+" (default: "+strings.Join(per, ", ")+")"
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

// intFlag defines an integer flag whose value internal/limits parses and
// checks against r as it is read.
func intFlag(fs *flag.FlagSet, name string, value int, r limits.Int, usage string) *int {
	f := &limits.IntFlag{Name: "--" + name, Range: r, Value: value}
	fs.Var(f, name, usage)
	return &f.Value
}

// intVar is intFlag storing into *p, which holds the default.
func intVar(fs *flag.FlagSet, p *int, name string, r limits.Int, usage string) {
	f := &limits.IntFlag{Name: "--" + name, Range: r, Value: *p}
	fs.Var(intTarget{f, p}, name, usage)
}

// intTarget is a limits.IntFlag that also stores each value it accepts in p.
type intTarget struct {
	*limits.IntFlag
	p *int
}

func (t intTarget) Set(s string) error {
	if err := t.IntFlag.Set(s); err != nil {
		return err
	}
	*t.p = t.Value
	return nil
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

// allEqual reports whether every string of s is the same.
func allEqual(s []string) bool {
	for _, v := range s[1:] {
		if v != s[0] {
			return false
		}
	}
	return true
}
