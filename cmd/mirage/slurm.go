package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/internal/limits"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mirage-go/mirage/experiment"
)

// executorFlags are the flags that choose where a sweep's rows or a
// comparison's arms run, and the sbatch settings for Slurm.
type executorFlags struct {
	executor   *string
	opts       experiment.SlurmOptions
	wait       *bool
	poll       *time.Duration
	reportOnly *bool
}

// slurmFlagNames are the flags of executorFlags, which do not change what
// is trained.
var slurmFlagNames = []string{"executor", "max-parallel", "slurm-partition", "slurm-time", "slurm-cpus-per-task",
	"slurm-mem", "slurm-account", "sbatch-arg", "wait", "poll", "report-only"}

func newExecutorFlags(fs *flag.FlagSet, unit string) *executorFlags {
	e := &executorFlags{}
	e.executor = fs.String("executor", "local", "where the "+unit+"s run: local (one after another in this process) or slurm (one job array task per "+unit+"; DIR must be on a file system the compute nodes share)")
	intVar(fs, &e.opts.MaxParallel, "max-parallel", limits.Int{Min: 0, Max: math.MaxInt, Hint: "0 = no cap"}, "slurm: run at most K "+unit+"s at once (--array=…%K; 0 = no cap)")
	fs.StringVar(&e.opts.Partition, "slurm-partition", "", "slurm: partition (sbatch --partition)")
	fs.StringVar(&e.opts.Time, "slurm-time", "", "slurm: time limit of each "+unit+" (sbatch --time, e.g. 2:00:00)")
	intVar(fs, &e.opts.CPUsPerTask, "slurm-cpus-per-task", limits.Int{Min: 0, Max: math.MaxInt, Hint: "0 = the cluster's default"}, "slurm: CPUs of each "+unit+" (sbatch --cpus-per-task; 0 = the cluster's default)")
	fs.StringVar(&e.opts.Mem, "slurm-mem", "", "slurm: memory of each "+unit+" (sbatch --mem, e.g. 8G)")
	fs.StringVar(&e.opts.Account, "slurm-account", "", "slurm: account to charge (sbatch --account)")
	fs.Func("sbatch-arg", "slurm: one more sbatch option, e.g. --sbatch-arg=--qos=long (repeatable)", func(s string) error {
		e.opts.SbatchArgs = append(e.opts.SbatchArgs, s)
		return nil
	})
	e.wait = fs.Bool("wait", false, "slurm: wait until the array and its report job end, printing progress (default: return after submitting)")
	poll := &limits.DurationFlag{Name: "--poll", Range: limits.Duration{Min: 0, OpenMin: true}, Value: 10 * time.Second}
	fs.Var(poll, "poll", "slurm: how often --wait asks Slurm for progress")
	e.poll = &poll.Value
	e.reportOnly = fs.Bool("report-only", false, "write the report from the finished "+unit+"s and train nothing (what the job that follows a Slurm array runs)")
	return e
}

// check validates the executor flags; the executable is this program.
func (e *executorFlags) check(fs *flag.FlagSet) error {
	switch *e.executor {
	case "local":
		var slurmOnly []string
		fs.Visit(func(f *flag.Flag) {
			if f.Name != "executor" && f.Name != "report-only" && contains(slurmFlagNames, f.Name) {
				slurmOnly = append(slurmOnly, "--"+f.Name)
			}
		})
		if len(slurmOnly) > 0 {
			return usageError{fmt.Errorf("%s only apply with --executor slurm", strings.Join(slurmOnly, ", "))}
		}
		return nil
	case "slurm":
	default:
		return usageError{fmt.Errorf("invalid --executor %q: must be local or slurm", *e.executor)}
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot find this program's path for the Slurm tasks: %w", err)
	}
	e.opts.Executable = exe
	if err := e.opts.Validate(); err != nil {
		return usageError{err}
	}
	return nil
}

func (e *executorFlags) slurm() bool { return *e.executor == "slurm" }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// sweepOnSlurm handles the Slurm forms of mirage sweep: a submission, one
// row run by an array task (--row), or the report (--report-only). It
// returns false when none applies.
func sweepOnSlurm(ctx context.Context, e *executorFlags, row int, cfg experiment.SweepConfig, stdout, stderr io.Writer) (bool, error) {
	switch {
	case row >= 0:
		r, err := experiment.SweepRow(ctx, cfg, row, stderr)
		if r != nil && err == nil {
			fmt.Fprintf(stdout, "row %d (%s): %s, final test accuracy %.2f%%\n", row+1, r.ID, r.Status, 100*float64(r.FinalTestAcc))
		}
		return true, err
	case *e.reportOnly:
		res, err := experiment.SweepReport(cfg, stderr)
		if res != nil {
			fmt.Fprintf(stdout, "%d runs: %d with results, %d without\n", res.Rows.Len(), res.Skipped, res.Remaining)
			fmt.Fprintf(stdout, "report: %s\n", filepath.Join(cfg.Out, "report.md"))
		}
		return true, err
	case !e.slurm():
		return false, nil
	}
	sub, err := experiment.SubmitSweep(cfg, e.opts, stderr)
	if err != nil {
		return true, err
	}
	out, _ := filepath.Abs(cfg.Out)
	if sub == nil {
		fmt.Fprintf(stdout, "nothing to submit: every row is finished or still queued (mirage sweep status %s)\n", out)
	} else {
		fmt.Fprintf(stdout, "submitted array job %s (%d rows, script %s) and report job %s\n", sub.Array, len(sub.Indices), sub.Script, sub.Report)
	}
	if !*e.wait {
		if sub != nil {
			fmt.Fprintf(stdout, "follow it with: mirage sweep status %s\n", out)
		}
		return true, nil
	}
	st, err := experiment.WaitSweep(out, cfg.Registries, *e.poll, stdout)
	return true, finishWait(st, err, out, "sweep", stdout)
}

// finishWait prints the failed tasks of an ended array and returns an
// error when there are any.
func finishWait(st *experiment.ArrayStatus, err error, out, kind string, stdout io.Writer) error {
	if err != nil {
		return err
	}
	failed := st.Count(experiment.TaskFailed) + st.Count(experiment.TaskMissing)
	if failed > 0 {
		st.WriteStatus(stdout)
		return fmt.Errorf("%d of %d %s failed or did not run; submitting the same command again reruns only them", failed, len(st.Tasks), map[string]string{"sweep": "rows", "compare": "arms"}[kind])
	}
	fmt.Fprintf(stdout, "report: %s\n", filepath.Join(out, "report.md"))
	if st.ReportState != "" && st.ReportState != "COMPLETED" {
		return fmt.Errorf("report job %s ended %s; see its log in %s", st.Report, st.ReportState, filepath.Join(out, "slurm", "logs"))
	}
	return nil
}

// sweepSubcommand runs `mirage sweep status DIR` and `mirage sweep cancel
// DIR`, and the same for compare.
func slurmSubcommand(reg mirage.Registries, kind string, args []string, stdout io.Writer) error {
	verb := args[0]
	fs := newFlagSet(kind+" "+verb, kind+" "+verb+" DIR", stdout)
	if err := fs.Parse(args[1:]); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() != 1 {
		return usageError{fmt.Errorf("%s %s needs exactly one output directory (mirage %s %s DIR)", kind, verb, kind, verb)}
	}
	out := fs.Arg(0)
	if got, err := experiment.SlurmKind(out); err != nil {
		return err
	} else if got != kind {
		return fmt.Errorf("%s holds a %s submitted to Slurm, not a %s (use mirage %s %s %s)", out, got, kind, got, verb, out)
	}
	switch verb {
	case "cancel":
		jobs, err := experiment.CancelSlurm(out)
		if err != nil {
			return err
		}
		if len(jobs) == 0 {
			fmt.Fprintln(stdout, "nothing to cancel: no job of", out, "is queued or running")
			return nil
		}
		fmt.Fprintf(stdout, "cancelled job(s) %s\n", strings.Join(jobs, ", "))
		return nil
	default: // status
		status := func(out string) (*experiment.ArrayStatus, error) { return experiment.SweepStatus(out, reg) }
		if kind == "compare" {
			status = experiment.CompareStatus
		}
		st, err := status(out)
		if st != nil {
			st.WriteStatus(stdout)
		}
		return err
	}
}

// isSlurmSubcommand reports whether args start with status or cancel.
func isSlurmSubcommand(args []string) bool {
	return len(args) > 0 && (args[0] == "status" || args[0] == "cancel")
}

// compareOnSlurm handles the Slurm forms of mirage compare: a submission,
// one arm run by an array task (--arm), or the report (--report-only) of a
// comparison planned for Slurm. It returns false when none applies.
func compareOnSlurm(ctx context.Context, fs *flag.FlagSet, e *executorFlags, arm int, cfgp *experiment.CompareConfig, stdout, stderr io.Writer) (bool, error) {
	cfg := *cfgp
	planned, planErr := experiment.ComparePlan(cfg.Out, cfg.Registries)
	if arm >= 0 || *e.reportOnly && planErr == nil {
		if planErr != nil {
			return true, planErr
		}
		var given []string
		fs.Visit(func(f *flag.Flag) {
			if !contains(append(slurmFlagNames, "out", "arm", "no-progress"), f.Name) {
				given = append(given, "--"+f.Name)
			}
		})
		if len(given) > 0 {
			return true, usageError{fmt.Errorf("%s is planned in %s; %s cannot change it (give only --out with --arm or --report-only)",
				cfg.Out, filepath.Join(cfg.Out, "slurm", "compare.json"), strings.Join(given, ", "))}
		}
		planned.Base.Progress = cfg.Base.Progress
		cfg = planned
	}
	if arm >= 0 {
		out, err := experiment.CompareArm(ctx, cfg, arm, stderr)
		if err == nil {
			fmt.Fprintf(stdout, "%-24s %-9s final test accuracy %6.2f%%\n", cfg.Arms[arm].Label, out.Status, 100*out.Summary.FinalTestAcc)
		}
		return true, err
	}
	if *e.reportOnly {
		cfg.ReportOnly = true
		*cfgp = cfg
		return false, nil // Compare itself builds the report
	}
	if !e.slurm() {
		return false, nil
	}
	sub, err := experiment.SubmitCompare(cfg, e.opts, stderr)
	if err != nil {
		return true, err
	}
	out, _ := filepath.Abs(cfg.Out)
	if sub == nil {
		fmt.Fprintf(stdout, "nothing to submit: every arm is finished or still queued (mirage compare status %s; mirage compare --out %s --report-only writes the report)\n", out, out)
		return true, nil
	}
	fmt.Fprintf(stdout, "submitted array job %s (%d arms, script %s) and report job %s\n", sub.Array, len(sub.Indices), sub.Script, sub.Report)
	if !*e.wait {
		fmt.Fprintf(stdout, "follow it with: mirage compare status %s\n", out)
		return true, nil
	}
	st, err := experiment.WaitCompare(out, *e.poll, stdout)
	return true, finishWait(st, err, out, "compare", stdout)
}
