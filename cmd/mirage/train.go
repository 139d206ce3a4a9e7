package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/mirage-go/mirage/backend/registry"
	"github.com/mirage-go/mirage/train"
)

func trainCommand(args []string, stdout, stderr io.Writer) error {
	cfg, err := parseTrainArgs(args, stdout, stderr)
	if err != nil {
		return err
	}
	res, err := train.Run(cfg, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "test accuracy: %.2f%%\n", 100*res.FinalTestAcc)
	return nil
}

// parseTrainArgs turns train's command line into a validated
// configuration, without loading data or training (FuzzTrainFlags runs it
// on arbitrary command lines).
func parseTrainArgs(args []string, stdout, stderr io.Writer) (train.Config, error) {
	fs := newFlagSet("train", "train [flags]", stdout)
	backendName := fs.String("backend", "fp32", "matrix-product backend: "+strings.Join(registry.New().Names(), ", "))
	out := fs.String("out", "", "directory for metrics.jsonl, summary.json and model.safetensors")
	quiet := fs.Bool("no-progress", false, "do not draw progress bars (they are drawn only on a terminal)")
	training := trainingFlags(fs)
	backendOptions := backendFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return train.Config{}, err
	}
	cfg := training()
	cfg.Backend, cfg.BackendOptions = *backendName, backendOptions()
	cfg.OutDir = *out
	cfg.Progress = !*quiet && isTerminal(stderr)
	if err := cfg.Validate(); err != nil {
		return cfg, usageError{err}
	}
	return cfg, nil
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
