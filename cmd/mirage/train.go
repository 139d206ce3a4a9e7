package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"golang.org/x/term"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/registry"
	"github.com/mirage-go/mirage/models"
	"github.com/mirage-go/mirage/train"
)

// backendFlags defines one string flag per backend option of every
// registered backend, and returns a function that collects the options the
// user set.
func backendFlags(fs *flag.FlagSet) func() backend.Options {
	reg := registry.New()
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
		values[n] = fs.String(n, o.Default, fmt.Sprintf("%s [backend %s]", o.Help, strings.Join(users[n], ", ")))
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

func trainCommand(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("train", "train [flags]", stdout)
	model := fs.String("model", "lenet", "model: "+strings.Join(models.Names(), ", "))
	dataset := fs.String("dataset", "", "data set: mnist, fashion-mnist, cifar10, imdb (default: the model's usual one: lenet/mlp mnist, resnet cifar10, bert imdb)")
	backendName := fs.String("backend", "fp32", "matrix-product backend: "+strings.Join(registry.New().Names(), ", "))
	epochs := fs.Int("epochs", 0, "training epochs (default: the recipe's, e.g. 3 for lenet)")
	batch := fs.Int("batch-size", 0, "training batch size (default: the recipe's)")
	lr := fs.Float64("lr", 0, "peak learning rate (default: the recipe's)")
	optimizer := fs.String("optimizer", "", "optimizer: sgd (momentum, Nesterov) or adamw (default: the recipe's)")
	momentum := fs.Float64("momentum", -1, "SGD momentum (default: the recipe's)")
	wd := fs.Float64("weight-decay", -1, "weight decay (default: the recipe's)")
	schedule := fs.String("schedule", "", "learning-rate schedule: constant, cosine, step, onecycle (default: the recipe's)")
	warmup := fs.Float64("warmup", -1, "linear warm-up length in epochs (cosine, step, constant)")
	smoothing := fs.Float64("label-smoothing", -1, "label smoothing of the cross-entropy loss")
	clip := fs.Float64("clip-grad", -1, "clip the global gradient norm to this value (0 = off)")
	augment := fs.Bool("augment", false, "random crop + flip augmentation for images (default: on for CIFAR-10)")
	seed := fs.Uint64("seed", 1, "random seed for weights, data order, augmentation and backend noise")
	out := fs.String("out", "", "directory for metrics.jsonl, summary.json and model.safetensors")
	dataDir := fs.String("data-dir", "", "read the data set's files from this directory instead of locating them")
	maxLen := fs.Int("max-len", 0, "sequence length for text models (default 128)")
	trainLimit := fs.Int("train-limit", 0, "use only the first N training examples (0 = all)")
	testLimit := fs.Int("test-limit", 0, "use only the first N test examples (0 = all)")
	quiet := fs.Bool("no-progress", false, "do not draw progress bars (they are drawn only on a terminal)")
	backendOptions := backendFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	cfg := train.Recipe(*model, *dataset)
	cfg.Backend = *backendName
	cfg.BackendOptions = backendOptions()
	cfg.Seed, cfg.OutDir, cfg.DataDir = *seed, *out, *dataDir
	cfg.Progress = !*quiet && isTerminal(stderr)
	cfg.TrainLimit, cfg.TestLimit = *trainLimit, *testLimit
	if set["epochs"] {
		cfg.Epochs = *epochs
	}
	if set["batch-size"] {
		cfg.BatchSize = *batch
	}
	if set["lr"] {
		cfg.LR = *lr
	}
	if set["optimizer"] {
		cfg.Optimizer = *optimizer
	}
	if set["momentum"] {
		cfg.Momentum = *momentum
	}
	if set["weight-decay"] {
		cfg.WeightDecay = *wd
	}
	if set["schedule"] {
		cfg.Schedule = *schedule
	}
	if set["warmup"] {
		cfg.WarmupEpochs = *warmup
	}
	if set["label-smoothing"] {
		cfg.LabelSmoothing = *smoothing
	}
	if set["clip-grad"] {
		cfg.ClipGradNorm = *clip
	}
	if set["augment"] {
		cfg.Augment = *augment
	}
	if set["max-len"] {
		cfg.MaxLen = *maxLen
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	res, err := train.Run(cfg, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "test accuracy: %.2f%%\n", 100*res.FinalTestAcc)
	return nil
}

// isTerminal reports whether w is a terminal, where a progress bar that
// redraws itself makes sense; in a log file it would be noise.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func evalCommand(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("eval", "eval --checkpoint FILE [flags]", stdout)
	ckpt := fs.String("checkpoint", "", "a model.safetensors written by mirage train (required)")
	dataDir := fs.String("data-dir", "", "read the data set's files from this directory")
	backendName := fs.String("backend", "", "evaluate on this backend instead of the one the model was trained with")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	backendOptions := backendFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *ckpt == "" {
		return usageError{fmt.Errorf("--checkpoint is required (a model.safetensors written by mirage train --out DIR)")}
	}
	opts := backendOptions()
	if *backendName == "" && len(opts) > 0 {
		return usageError{fmt.Errorf("backend options need --backend")}
	}
	res, err := train.Eval(*ckpt, *dataDir, *backendName, opts, stderr)
	if err != nil {
		return err
	}
	if *asJSON {
		data, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(data))
		return nil
	}
	fmt.Fprintf(stdout, "%s on %s (%s backend): test loss %.4f, test accuracy %.2f%%\n", res.Model, res.Dataset, res.Backend, res.TestLoss, 100*res.TestAcc)
	return nil
}

func benchCommand(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" {
		fmt.Fprintln(stdout, "Usage: mirage bench gemm|train [flags]\n\nRun 'mirage bench gemm --help' or 'mirage bench train --help' for their flags.")
		if len(args) == 0 {
			return usageError{fmt.Errorf("missing what to benchmark (valid: gemm, train)")}
		}
		return nil
	}
	switch args[0] {
	case "gemm":
		return benchGEMMCommand(args[1:], stdout, stderr)
	case "train":
		return benchTrainCommand(args[1:], stdout, stderr)
	}
	return usageError{fmt.Errorf("unknown benchmark %q (valid: gemm, train)", args[0])}
}
