package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/mirage-go/mirage/internal/limits"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/internal/outdir"
	"github.com/mirage-go/mirage/train"
)

func trainCommand(reg mirage.Registries, args []string, stdout, stderr io.Writer) (err error) {
	cfg, err := parseTrainArgs(reg, args, stdout, stderr)
	if err != nil {
		return err
	}
	ctx, stop := interruptible(cfg.OutDir != "")
	defer stop()
	if cfg.OutDir != "" {
		// One writer per directory, as for compare and sweep: a second
		// train into the same --out would interleave or replace the
		// first's files. A refused run removes the lock file it made.
		lock, lockErr := outdir.Acquire(cfg.OutDir, "mirage train")
		if lockErr != nil {
			return lockErr
		}
		defer lock.Release()
		defer func() {
			if err != nil && !errors.As(err, new(*train.InterruptedError)) {
				lock.Discard()
			}
		}()
	}
	res, err := train.RunContext(ctx, cfg, reg, stderr)
	if ie := (*train.InterruptedError)(nil); errors.As(err, &ie) {
		again := []string{"--resume", cfg.OutDir}
		if cfg.CheckpointEvery > 0 {
			again = append(again, "--checkpoint-every", strconv.Itoa(cfg.CheckpointEvery))
		}
		return fmt.Errorf("%w; resume with: %s", err, commandLine("train", again))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "test accuracy: %.2f%%\n", 100*res.FinalTestAcc)
	return nil
}

// parseTrainArgs turns train's command line into a validated
// configuration, without training (FuzzTrainFlags runs it on arbitrary
// command lines); only --resume reads the saved run's settings.
func parseTrainArgs(reg mirage.Registries, args []string, stdout, stderr io.Writer) (train.Config, error) {
	fs := newFlagSet("train", "train [flags]", stdout)
	backendName := fs.String("backend", "fp32", "matrix-product backend: "+strings.Join(reg.Backends.Names(), ", "))
	out := fs.String("out", "", "directory for metrics.jsonl, summary.json, model.safetensors and, until the run finishes, its resumable state.safetensors; rerunning the same command resumes an unfinished run")
	resume := fs.String("resume", "", "continue the unfinished run in this directory with its saved settings (give no run settings, or exactly those of the original command)")
	checkpointEvery := intFlag(fs, "checkpoint-every", 0, limits.Int{Min: 0, Max: math.MaxInt, Hint: "0 saves at the end of each epoch only"}, "also save the resumable state every N steps within an epoch (0 = at the end of each epoch only)")
	overwrite := fs.Bool("overwrite", false, "train from scratch in --out even if it holds a finished run or another run's state, replacing them")
	quiet := fs.Bool("no-progress", false, "do not draw progress bars (they are drawn only on a terminal)")
	training := trainingFlags(fs, reg)
	backendOptions := backendFlags(fs, reg)
	if err := parseFlags(fs, args); err != nil {
		return train.Config{}, err
	}
	cfg := training()
	cfg.Backend, cfg.BackendOptions = *backendName, backendOptions()
	if *resume != "" {
		switch {
		case *overwrite:
			return train.Config{}, usageError{fmt.Errorf("--resume and --overwrite contradict each other: --resume continues the run in %s, --overwrite would replace it", *resume)}
		case *out != "" && filepath.Clean(*out) != filepath.Clean(*resume):
			return train.Config{}, usageError{fmt.Errorf("--resume %s and --out %s name different directories; give only --resume", *resume, *out)}
		}
		if !setsRunFlags(fs) {
			// No settings given: continue with the saved ones (and the
			// data directory given now, if any).
			saved, err := train.SavedConfig(*resume)
			if err != nil {
				return train.Config{}, err
			}
			if set(fs, "data-dir") {
				saved.DataDir = cfg.DataDir
			}
			cfg = saved
		}
		*out = *resume
	}
	cfg.OutDir = *out
	cfg.CheckpointEvery, cfg.Overwrite = *checkpointEvery, *overwrite
	cfg.Progress = !*quiet && isTerminal(stderr)
	if err := cfg.Validate(reg); err != nil {
		return train.Config{}, usageError{err}
	}
	if *checkpointEvery > 0 && cfg.OutDir == "" {
		return train.Config{}, usageError{fmt.Errorf("--checkpoint-every needs --out (the directory the state is saved in)")}
	}
	if *overwrite && cfg.OutDir == "" {
		return train.Config{}, usageError{fmt.Errorf("--overwrite needs --out (the directory whose run it replaces)")}
	}
	return cfg, nil
}

// interruptible returns a context that SIGINT and SIGTERM cancel, when
// there is a run directory to save the state in (without one, the signals
// keep their default effect of ending the process at once). After the
// first signal the default is restored, so a second one ends the process
// without waiting for the step to finish; the state written last is then
// still complete, being replaced atomically.
func interruptible(enabled bool) (context.Context, context.CancelFunc) {
	if !enabled {
		return context.WithCancel(context.Background())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

// setsRunFlags reports whether the user set a flag that is part of a
// run's configuration (model, data, optimizer, backend and its options),
// as opposed to where and how the run is kept (--resume, --out,
// --checkpoint-every, --no-progress, --data-dir).
func setsRunFlags(fs *flag.FlagSet) bool {
	found := false
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "resume", "out", "checkpoint-every", "no-progress", "data-dir", "overwrite":
		default:
			found = true
		}
	})
	return found
}

// set reports whether the flag called name was given.
func set(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// isTerminal reports whether w is a terminal, where a progress bar that
// redraws itself makes sense; in a log file it would be noise.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func evalCommand(reg mirage.Registries, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("eval", "eval --checkpoint FILE [flags]", stdout)
	ckpt := fs.String("checkpoint", "", "a model.safetensors written by mirage train (required)")
	dataDir := fs.String("data-dir", "", "read the data set's files from this directory")
	backendName := fs.String("backend", "", "evaluate on this backend instead of the one the model was trained with")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	backendOptions := backendFlags(fs, reg)
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
	res, err := train.Eval(*ckpt, *dataDir, *backendName, opts, reg, stderr)
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

func benchCommand(reg mirage.Registries, args []string, stdout, stderr io.Writer) error {
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
		return benchTrainCommand(reg, args[1:], stdout, stderr)
	}
	return usageError{fmt.Errorf("unknown benchmark %q (valid: gemm, train)", args[0])}
}
