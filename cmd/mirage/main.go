// Command mirage trains and evaluates neural networks whose matrix products
// run on a pluggable backend: exact FP32, or emulations of the Mirage
// RNS-photonic accelerator and of conventional analog hardware.
//
//	mirage train [flags]                 train a model (LeNet-5 on MNIST by default)
//	mirage eval --checkpoint FILE        evaluate a saved model on its test set
//	mirage bench gemm [--json]           GEMM throughput of every kernel
//	mirage bench train                   training images/s per model and backend
//	mirage data [list|verify|fetch NAME] where each data set is, whether it checks out; download one
//	mirage compare --backends fp32,rns   A/B comparison of backends with a report
//	mirage sweep --spec FILE             a grid over backend knobs with a report
//	mirage sweep ... --executor slurm    the same as a Slurm job array (also compare)
//	mirage results --compare DIR,...     RESULTS.md from compare and sweep outputs
//
// Run `mirage COMMAND --help` for the flags of a command.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode"

	"github.com/mirage-go/mirage"
)

func main() {
	// The one place the mirage command assembles what it can name: every
	// command receives these registries.
	os.Exit(run(mirage.Default(), os.Args[1:], os.Stdout, os.Stderr))
}

type command struct {
	name, summary string
	run           func(reg mirage.Registries, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"train", "train a model and report its test accuracy", trainCommand},
		{"eval", "evaluate a checkpoint written by train", evalCommand},
		{"bench", "measure GEMM throughput (bench gemm) and training speed (bench train)", benchCommand},
		{"data", "list the data sets and where they are found (list), verify checksums (verify), download one (fetch NAME)", dataCommand},
		{"compare", "train one model on several backends from the same start and report", compareCommand},
		{"sweep", "train over a grid of backend knobs from a YAML/JSON spec and report", sweepCommand},
		{"results", "gather compare and sweep reports into one RESULTS.md", resultsCommand},
		{"cost", "price a training step's GEMMs on Mirage and a systolic array: time, energy, EDP, power", costCommand},
	}
}

// run executes one command line and returns the process exit code: 0 on
// success, 1 when the command failed, 2 for a usage error.
func run(reg mirage.Registries, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(reg, args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, new(usageError)):
			fmt.Fprintf(stderr, "mirage %s: %s\n", c.name, oneLine(err.Error()))
			return 2
		default:
			fmt.Fprintf(stderr, "mirage %s: %s\n", c.name, oneLine(err.Error()))
			return 1
		}
	}
	names := make([]string, 0, len(commands()))
	for _, c := range commands() {
		names = append(names, c.name)
	}
	fmt.Fprintf(stderr, "mirage: unknown command %q (valid: %s)\n", args[0], strings.Join(names, ", "))
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "mirage trains neural networks on FP32 or on emulated RNS-photonic / analog hardware.")
	fmt.Fprintln(w, "\nUsage: mirage COMMAND [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-7s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'mirage COMMAND --help' for a command's flags.")
}

// usageError marks a bad command line (exit code 2).
type usageError struct{ error }

// newFlagSet returns a flag set that reports errors instead of exiting and
// prints its help to stdout.
func newFlagSet(name, synopsis string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fs.SetOutput(stdout)
		fmt.Fprintf(stdout, "Usage: mirage %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parseFlags parses args and turns flag errors into one-line usage errors;
// the full usage is printed only when asked for with -h or --help.
func parseFlags(fs *flag.FlagSet, args []string) error {
	printUsage := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = printUsage
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage()
			return err
		}
		return usageError{fmt.Errorf("%s (see mirage %s --help)", oneLine(withoutFlagPrefix(err.Error())), fs.Name())}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q (see mirage %s --help)", fs.Arg(0), fs.Name())}
	}
	return nil
}

// withoutFlagPrefix drops the flag package's `invalid value "x" for flag
// -name: ` from an error of a flag value that names the flag and the value
// itself, as internal/limits' errors do ("invalid --lr +Inf: must be …").
func withoutFlagPrefix(msg string) string {
	_, rest, ok := strings.Cut(msg, ": ")
	if ok && strings.HasPrefix(msg, "invalid value ") && strings.HasPrefix(rest, "invalid --") {
		return rest
	}
	return msg
}

// oneLine escapes line breaks and other control characters in an error
// message, so that a flag or file name carrying them (the flag package
// echoes unknown flags verbatim) cannot split the one-line error a script
// reads.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
