package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/mirage-go/mirage/experiment"
)

// dirList is a flag that takes comma-separated directories and may be
// given several times.
type dirList []string

func (l *dirList) String() string { return strings.Join(*l, ",") }

func (l *dirList) Set(s string) error {
	for _, d := range strings.Split(s, ",") {
		if d = strings.TrimSpace(d); d != "" {
			*l = append(*l, d)
		}
	}
	return nil
}

func resultsCommand(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("results", "results --compare DIR[,DIR...] --sweep DIR[,DIR...] [--out FILE]", stdout)
	var compares, sweeps dirList
	fs.Var(&compares, "compare", "output directories of mirage compare, comma-separated (the flag may be repeated)")
	fs.Var(&sweeps, "sweep", "output directories of mirage sweep, comma-separated (the flag may be repeated)")
	out := fs.String("out", "RESULTS.md", "the Markdown document to write; its links are relative to its directory")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if len(compares) == 0 && len(sweeps) == 0 {
		return usageError{fmt.Errorf("give at least one --compare or --sweep directory (e.g. --compare results/lenet-mnist)")}
	}
	if *out == "" {
		return usageError{fmt.Errorf("--out must name a file (default RESULTS.md)")}
	}
	err := experiment.WriteResults(experiment.ResultsConfig{
		Compare: compares, Sweep: sweeps, Out: *out, Command: commandLine("results", args),
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%d comparisons, %d sweeps)\n", *out, len(compares), len(sweeps))
	return nil
}
