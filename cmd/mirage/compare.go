package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/mirage-go/mirage/backend/registry"
	"github.com/mirage-go/mirage/experiment"
	"github.com/mirage-go/mirage/models"
	"github.com/mirage-go/mirage/train"
)

// trainingFlags defines the flags that shape a training run (model, data,
// optimizer, schedule, limits) and returns a function that builds the
// configuration: the model's recipe with every flag the user set applied.
// The backend and the output directory are left to the caller.
func trainingFlags(fs *flag.FlagSet) func() train.Config {
	model := fs.String("model", "lenet", "model: "+strings.Join(models.Names(), ", "))
	dataset := fs.String("dataset", "", "data set: mnist, fashion-mnist, cifar10, imdb (default: the model's usual one)")
	epochs := fs.Int("epochs", 0, "training epochs (default: the recipe's, e.g. 3 for lenet)")
	batch := fs.Int("batch-size", 0, "training batch size (default: the recipe's)")
	lr := fs.Float64("lr", 0, "peak learning rate (default: the recipe's)")
	optimizer := fs.String("optimizer", "", "optimizer: sgd or adamw (default: the recipe's)")
	momentum := fs.Float64("momentum", -1, "SGD momentum (default: the recipe's)")
	wd := fs.Float64("weight-decay", -1, "weight decay (default: the recipe's)")
	schedule := fs.String("schedule", "", "learning-rate schedule: constant, cosine, step, onecycle (default: the recipe's)")
	warmup := fs.Float64("warmup", -1, "linear warm-up length in epochs")
	smoothing := fs.Float64("label-smoothing", -1, "label smoothing of the cross-entropy loss")
	clip := fs.Float64("clip-grad", -1, "clip the global gradient norm to this value (0 = off)")
	augment := fs.Bool("augment", false, "random crop + flip augmentation for images (default: on for CIFAR-10)")
	seed := fs.Uint64("seed", 1, "random seed for weights, data order, augmentation and backend noise")
	dataDir := fs.String("data-dir", "", "read the data set's files from this directory instead of locating them")
	maxLen := fs.Int("max-len", 0, "sequence length for text models (default 128)")
	trainLimit := fs.Int("train-limit", 0, "use only the first N training examples (0 = all)")
	testLimit := fs.Int("test-limit", 0, "use only the first N test examples (0 = all)")
	return func() train.Config {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		cfg := train.Recipe(*model, *dataset)
		cfg.Seed, cfg.DataDir = *seed, *dataDir
		cfg.TrainLimit, cfg.TestLimit = *trainLimit, *testLimit
		apply := map[string]func(){
			"epochs": func() { cfg.Epochs = *epochs }, "batch-size": func() { cfg.BatchSize = *batch },
			"lr": func() { cfg.LR = *lr }, "optimizer": func() { cfg.Optimizer = *optimizer },
			"momentum": func() { cfg.Momentum = *momentum }, "weight-decay": func() { cfg.WeightDecay = *wd },
			"schedule": func() { cfg.Schedule = *schedule }, "warmup": func() { cfg.WarmupEpochs = *warmup },
			"label-smoothing": func() { cfg.LabelSmoothing = *smoothing }, "clip-grad": func() { cfg.ClipGradNorm = *clip },
			"augment": func() { cfg.Augment = *augment }, "max-len": func() { cfg.MaxLen = *maxLen },
		}
		for name, f := range apply {
			if set[name] {
				f()
			}
		}
		return cfg
	}
}

func compareCommand(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("compare", "compare --backends fp32,rns,analog --out DIR [flags]", stdout)
	backends := fs.String("backends", "fp32,rns,analog",
		"backends to compare, comma-separated; per-arm options after colons, e.g. fp32,rns:noise-sigma=0.12:rrns-redundant=2,analog:adc-bits=8 (the same backend twice is an A/A test). Valid: "+strings.Join(registry.New().Names(), ", "))
	out := fs.String("out", "", "output directory: one run directory per backend, report.md, report.json, accuracy.png, loss.png (required); run again with the same flags to resume")
	probeBatch := fs.Int("probe-batch", 0, "test examples in the per-layer error probe (default: the batch size)")
	quiet := fs.Bool("no-progress", false, "do not draw progress bars (they are drawn only on a terminal)")
	training := trainingFlags(fs)
	backendOptions := backendFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError{fmt.Errorf("--out is required (the directory for the runs and the report)")}
	}
	cfg := training()
	cfg.Progress = !*quiet && isTerminal(stderr)
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	arms, err := experiment.ParseArms(*backends, backendOptions(), registry.New())
	if err != nil {
		return usageError{err}
	}
	cmp, err := experiment.Compare(experiment.CompareConfig{
		Base: cfg, Arms: arms, Out: *out, ProbeBatch: *probeBatch,
		Command: commandLine("compare", args),
	}, stderr)
	if cmp != nil {
		for _, a := range cmp.Arms {
			if a.Outcome == nil {
				fmt.Fprintf(stdout, "%-24s failed: %s\n", a.Label, a.Error)
				continue
			}
			fmt.Fprintf(stdout, "%-24s %-9s final test accuracy %6.2f%%\n", a.Label, a.Outcome.Status, 100*a.Outcome.Summary.FinalTestAcc)
		}
		fmt.Fprintf(stdout, "report: %s\n", filepath.Join(*out, "report.md"))
	}
	return err
}

// commandLine reconstructs the command for a report, quoting arguments
// that a shell would split.
func commandLine(name string, args []string) string {
	parts := []string{"mirage", name}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'$`\\*?[]{}()<>|&;#") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}
