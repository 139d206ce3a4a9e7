package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/experiment"
	"github.com/mirage-go/mirage/internal/limits"
	"github.com/mirage-go/mirage/train"
)

func sweepCommand(reg mirage.Registries, args []string, stdout, stderr io.Writer) error {
	if isSlurmSubcommand(args) {
		return slurmSubcommand(reg, "sweep", args, stdout)
	}
	fs := newFlagSet("sweep", "sweep --spec FILE --out DIR [flags] | sweep status DIR | sweep cancel DIR", stdout)
	specPath := fs.String("spec", "", "sweep spec, YAML or JSON (see sweeps/ for examples) (required)")
	out := fs.String("out", "", "output directory: results.jsonl, plan.json, report.md, plots, runs/ (required); run again to resume")
	maxRuns := &limits.IntFlag{Name: "--max-runs", Range: limits.Int{Min: 0, Max: math.MaxInt, Hint: "0 = all"}}
	fs.Var(maxRuns, "max-runs", "train at most `N` rows now and stop (0 = all); run again to continue")
	dataDir := fs.String("data-dir", "", "read every row's data set from this directory")
	dryRun := fs.Bool("dry-run", false, "validate the spec and list its rows without running anything")
	quiet := fs.Bool("no-progress", false, "do not draw progress bars (they are drawn only on a terminal)")
	checkpointEvery := intFlag(fs, "checkpoint-every", 0, limits.Int{Min: 0, Max: math.MaxInt, Hint: "0 saves at the end of each epoch only"}, "also save a row's resumable state every N steps within an epoch (0 = at the end of each epoch only)")
	executor := newExecutorFlags(fs, "row")
	row := intFlag(fs, "row", -1, limits.Int{Min: -1, Max: experiment.MaxSweepRows - 1, Hint: "-1 = every row"}, "run only this row (from 0) and write its result to DIR/slurm/rows: what each Slurm array task runs")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := executor.check(fs); err != nil {
		return err
	}
	if *specPath == "" {
		return usageError{fmt.Errorf("--spec is required (a YAML or JSON sweep spec, e.g. sweeps/noise.yaml)")}
	}
	data, err := os.ReadFile(*specPath)
	if err != nil {
		return fmt.Errorf("cannot read the spec: %w", err)
	}
	spec, err := experiment.ParseSpec(data, *specPath)
	if err != nil {
		return err
	}
	if *dryRun {
		// Rows are listed as they are expanded, never all held at once;
		// the error after the list names the invalid ones.
		n := 0
		err := experiment.WalkPlan(spec, reg, func(r experiment.Row) {
			fmt.Fprintf(stdout, "%3d  %s  %-7s %s\n", r.Index+1, r.ID, r.Config.Backend, r.Label())
			n++
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d runs, all valid\n", n)
		return nil
	}
	if *out == "" {
		return usageError{fmt.Errorf("--out is required (the directory for results.jsonl, the report and the runs)")}
	}
	cfg := experiment.SweepConfig{
		Spec: spec, Out: *out, DataDir: *dataDir, MaxRuns: maxRuns.Value, CheckpointEvery: *checkpointEvery,
		Progress: !*quiet && isTerminal(stderr), Command: commandLine("sweep", args), Registries: reg,
	}
	if maxRuns.Value > 0 && (executor.slurm() || *row >= 0 || *executor.reportOnly) {
		return usageError{fmt.Errorf("--max-runs applies to the local executor only")}
	}
	ctx, stop := interruptible(true)
	defer stop()
	handled, err := sweepOnSlurm(ctx, executor, *row, cfg, stdout, stderr)
	if errors.As(err, new(*train.InterruptedError)) {
		return fmt.Errorf("%w; resume with: %s", err, commandLine("sweep", args))
	}
	if handled {
		return err
	}
	res, err := experiment.SweepContext(ctx, cfg, stderr)
	if errors.As(err, new(*train.InterruptedError)) {
		return fmt.Errorf("%w; resume with: %s", err, commandLine("sweep", args))
	}
	if res != nil {
		fmt.Fprintf(stdout, "%d runs: %d trained now, %d finished earlier, %d still to do\n", res.Rows.Len(), res.Ran, res.Skipped, res.Remaining)
		fmt.Fprintf(stdout, "report: %s\n", filepath.Join(*out, "report.md"))
	}
	return err
}
