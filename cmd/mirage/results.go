package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/mirage-go/mirage"
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

// commandList is a flag that collects whole command lines, one per use.
type commandList []string

func (l *commandList) String() string { return strings.Join(*l, "; ") }

func (l *commandList) Set(s string) error {
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("empty command")
	}
	*l = append(*l, s)
	return nil
}

func resultsCommand(reg mirage.Registries, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("results", "results [--compare DIR,...] [--sweep DIR,...] [--full 'mirage compare ARGS'...] [--width-sweep DIR,...] [--out FILE] | results --narrowest-adc DIR", stdout)
	var compares, sweeps, widths dirList
	var full commandList
	fs.Var(&compares, "compare", "output directories of mirage compare, comma-separated (the flag may be repeated)")
	fs.Var(&sweeps, "sweep", "output directories of mirage sweep, comma-separated (the flag may be repeated)")
	fs.Var(&full, "full", "a full-length comparison, as the 'mirage compare ...' command that runs it (split at white space, no quoting); read arm by arm, so unfinished and unstarted arms are shown as such (the flag may be repeated)")
	fs.Var(&widths, "width-sweep", "short sweeps over analog adc-bits that choose the narrowest ADC width that trains, comma-separated (may be repeated; one not run yet is shown as such)")
	narrowest := fs.String("narrowest-adc", "", "print the ADC width that the width rule chooses from this finished short sweep, and nothing else; exit non-zero when none can be chosen")
	out := fs.String("out", "RESULTS.md", "the Markdown document to write; its links are relative to its directory")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *narrowest != "" {
		if len(compares)+len(sweeps)+len(full)+len(widths) > 0 {
			return usageError{fmt.Errorf("--narrowest-adc only prints a width: give it alone")}
		}
		bits, why, err := experiment.NarrowestADCWidth(*narrowest, reg)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, bits)
		fmt.Fprintf(stderr, "mirage results: %s: %s\n", *narrowest, why)
		return nil
	}
	if len(compares) == 0 && len(sweeps) == 0 && len(full) == 0 && len(widths) == 0 {
		return usageError{fmt.Errorf("give at least one --compare, --sweep, --full or --width-sweep (e.g. --compare results/lenet-mnist)")}
	}
	if *out == "" {
		return usageError{fmt.Errorf("--out must name a file (default RESULTS.md)")}
	}
	var plans []experiment.CompareConfig
	for _, line := range full {
		words := strings.Fields(line)
		if len(words) >= 2 && words[0] == "mirage" && words[1] == "compare" {
			words = words[2:]
		}
		p, err := parseCompare(reg, words, io.Discard, io.Discard)
		if err != nil {
			return usageError{fmt.Errorf("--full %q: %v", line, err)}
		}
		plans = append(plans, p.cfg)
	}
	err := experiment.WriteResults(experiment.ResultsConfig{
		Registries: reg,
		Compare:    compares, Sweep: sweeps, Full: plans, WidthSweeps: widths, Out: *out, Command: commandLine("results", args),
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%d full-length comparisons, %d width sweeps, %d short comparisons, %d sweeps)\n", *out, len(plans), len(widths), len(compares), len(sweeps))
	return nil
}
