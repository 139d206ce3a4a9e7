package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/experiment"
	"github.com/mirage-go/mirage/internal/limits"
	"github.com/mirage-go/mirage/train"
)

// compareArgs is a parsed compare command line.
type compareArgs struct {
	fs       *flag.FlagSet
	executor *executorFlags
	arm      int
	cfg      experiment.CompareConfig
}

// parseCompare parses compare's flags into the comparison they describe,
// without running anything; mirage results uses it to read the planned
// full-length comparisons from the commands that run them.
func parseCompare(reg mirage.Registries, args []string, stdout, stderr io.Writer) (*compareArgs, error) {
	fs := newFlagSet("compare", "compare --backends fp32,rns,analog --out DIR [flags] | compare status DIR | compare cancel DIR", stdout)
	backends := fs.String("backends", "fp32,rns,analog",
		"backends to compare, comma-separated; per-arm options after colons, e.g. fp32,rns:noise-sigma=0.12:rrns-redundant=2,analog:adc-bits=8 (the same backend twice is an A/A test). Valid: "+strings.Join(reg.Backends.Names(), ", "))
	out := fs.String("out", "", "output directory: one run directory per backend, report.md, report.json, accuracy.png, loss.png (required); run again with the same flags to resume")
	probeBatch := &limits.IntFlag{Name: "--probe-batch", Range: limits.Int{Min: 0, Max: math.MaxInt, Hint: "0 = the batch size; upper limit: the memory available"}}
	fs.Var(probeBatch, "probe-batch", "`N` test examples in the per-layer error probe (0 = the batch size)")
	quiet := fs.Bool("no-progress", false, "do not draw progress bars (they are drawn only on a terminal)")
	checkpointEvery := intFlag(fs, "checkpoint-every", 0, limits.Int{Min: 0, Max: math.MaxInt, Hint: "0 saves at the end of each epoch only"}, "also save an arm's resumable state every N steps within an epoch (0 = at the end of each epoch only)")
	training := trainingFlags(fs, reg)
	backendOptions := backendFlags(fs, reg)
	executor := newExecutorFlags(fs, "arm")
	arm := intFlag(fs, "arm", -1, limits.Int{Min: -1, Max: math.MaxInt, Hint: "-1 = every arm"}, "train only this arm (from 0) of the comparison planned in DIR/slurm: what each Slurm array task runs")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if err := executor.check(fs); err != nil {
		return nil, err
	}
	if *out == "" {
		return nil, usageError{fmt.Errorf("--out is required (the directory for the runs and the report)")}
	}
	cfg := training()
	cfg.Progress = !*quiet && isTerminal(stderr)
	cfg.CheckpointEvery = *checkpointEvery
	if err := cfg.Validate(reg); err != nil {
		return nil, usageError{err}
	}
	arms, err := experiment.ParseArms(*backends, backendOptions(), reg.Backends)
	if err != nil {
		return nil, usageError{err}
	}
	return &compareArgs{fs: fs, executor: executor, arm: *arm, cfg: experiment.CompareConfig{
		Base: cfg, Arms: arms, Out: *out, ProbeBatch: probeBatch.Value,
		Command: commandLine("compare", args), Registries: reg,
	}}, nil
}

func compareCommand(reg mirage.Registries, args []string, stdout, stderr io.Writer) error {
	if isSlurmSubcommand(args) {
		return slurmSubcommand(reg, "compare", args, stdout)
	}
	p, err := parseCompare(reg, args, stdout, stderr)
	if err != nil {
		return err
	}
	fs, executor, ccfg, out := p.fs, p.executor, p.cfg, &p.cfg.Out
	arm := &p.arm
	ctx, stop := interruptible(true)
	defer stop()
	handled, err := compareOnSlurm(ctx, fs, executor, *arm, &ccfg, stdout, stderr)
	if errors.As(err, new(*train.InterruptedError)) {
		return fmt.Errorf("%w; resume with: %s", err, commandLine("compare", args))
	}
	if handled {
		return err
	}
	cmp, err := experiment.CompareContext(ctx, ccfg, stderr)
	if errors.As(err, new(*train.InterruptedError)) {
		return fmt.Errorf("%w; resume with: %s", err, commandLine("compare", args))
	}
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
