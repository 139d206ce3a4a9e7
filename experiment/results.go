package experiment

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/internal/atomicfile"
)

// ResultsConfig describes a results document: the experiment outputs it
// gathers, where it is written, and how it was generated.
type ResultsConfig struct {
	// Compare lists output directories of Compare (each with report.json).
	Compare []string
	// Sweep lists output directories of Sweep (each with plan.json and
	// results.jsonl).
	Sweep []string
	// Full lists the full-length comparisons, as the commands that run
	// them describe them. Unlike Compare, each is read arm by arm from its
	// run directories, so one still in training is shown with how far
	// each arm got, and one not started as not run yet.
	Full []CompareConfig
	// WidthSweeps lists short sweeps over the analog backend's adc-bits
	// that choose the narrowest ADC width that trains (NarrowestADCWidth);
	// one that does not exist yet is shown as not run yet.
	WidthSweeps []string
	// Out is the Markdown file to write. Links and images in it are
	// relative to its directory, so the document can be moved together
	// with the result directories.
	Out string
	// Command is the command line that generates the document, printed in
	// its header so that it is regenerated rather than edited.
	Command string
	// Created is the time printed in the header; zero means now.
	Created time.Time
	// Machine is the computer named in the header; nil means this one.
	Machine *Machine
	// Registries give the backends whose option defaults the tables
	// leave out and, for a sweep whose plan.json does not list its rows,
	// the models and data sets its rows are made with (usually
	// mirage.Default()).
	Registries mirage.Registries
}

// Within is the largest loss of accuracy, in percentage points against
// FP32, at which a hardware setting counts as matching FP32 in a results
// document: a run qualifies when its Δ ≥ −Within.
const Within = 0.5

// WriteResults gathers the reports of finished comparisons and sweeps into
// one Markdown document, cfg.Out, written atomically:
//
//   - a header naming the command that generates it, when, and on which
//     machine;
//   - when cfg.Full or cfg.WidthSweeps are given, a full-length part: per
//     planned comparison its command and a table of final and best test
//     accuracy, Δ to FP32, wall time and images/s of every finished arm,
//     with unfinished arms shown as such (epochs done of N) and a missing
//     directory as not run yet; for comparisons that differ only in their
//     seed (a later seed may rerun only some arms), the mean and range
//     over seeds of each arm every seed ran, against FP32's spread;
//     and the ADC width each width sweep chooses (NarrowestADCWidth); the
//     other inputs then follow under "Short runs";
//   - an overview: final test accuracy of every compared backend against
//     FP32, every run that diverged, collapsed or failed, and the narrowest
//     RNS moduli set and BFP width within [Within] points of FP32;
//   - a section per comparison: its shared settings, one row per arm, the
//     report's warnings verbatim, a link to its report.md and its accuracy
//     curves;
//   - a section per sweep: for rows that vary rns-moduli or bfp-bits, the
//     distance of each to FP32 and the narrowest settings within [Within]
//     points; for rows that vary noise-sigma, a table of accuracy against
//     σ with one column per combination of the other knobs; any other row
//     in a plain table.
//
// Every directory is read before anything is written; a missing or
// unreadable one is an error naming the directory, what is missing, and
// the command that makes it.
func WriteResults(cfg ResultsConfig) error {
	if cfg.Out == "" {
		return fmt.Errorf("no output file given (--out)")
	}
	if len(cfg.Compare) == 0 && len(cfg.Sweep) == 0 && len(cfg.Full) == 0 && len(cfg.WidthSweeps) == 0 {
		return fmt.Errorf("nothing to report: give at least one compare or sweep output directory")
	}
	if cfg.Registries.Backends == nil {
		return fmt.Errorf("experiment: ResultsConfig.Registries has no backend registry (use mirage.Default())")
	}
	doc := &resultsDoc{cfg: cfg, option: registryOptions(cfg.Registries.Backends), model: registryModels(cfg.Registries.Backends)}
	var problems []string
	for _, plan := range cfg.Full {
		if plan.Registries.Backends == nil {
			plan.Registries = cfg.Registries // to compare runs' backend settings with
		}
		in, err := loadFull(plan)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		doc.full = append(doc.full, in)
	}
	for _, dir := range cfg.WidthSweeps {
		in, err := loadWidthSweep(dir, cfg.Registries, doc.model)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		doc.widths = append(doc.widths, in)
	}
	for _, dir := range cfg.Compare {
		c, err := loadCompareInput(dir)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		doc.compares = append(doc.compares, c)
	}
	for _, dir := range cfg.Sweep {
		s, err := loadSweepDir(dir, cfg.Registries)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		doc.sweeps = append(doc.sweeps, s)
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	if doc.cfg.Created.IsZero() {
		doc.cfg.Created = time.Now()
	}
	if doc.cfg.Machine == nil {
		m := ThisMachine()
		doc.cfg.Machine = &m
	}
	outDir, err := filepath.Abs(filepath.Dir(cfg.Out))
	if err != nil {
		return err
	}
	doc.outDir = outDir
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("cannot create the directory of %s: %w", cfg.Out, err)
	}
	md, err := render("results.md.tmpl", doc.view())
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(cfg.Out, []byte(md))
}

// NarrowestADCWidth applies the width rule (see [WidthWithin]) to the
// finished short sweep in dir, a sweep over the analog backend's adc-bits
// with a plain FP32 row: it returns the chosen width and a sentence
// explaining it, or an error saying why none can be chosen yet. reg
// holds the backends the sweep ran and, when its plan.json does not list
// its rows, the models and data sets they are made with (usually
// mirage.Default()).
func NarrowestADCWidth(dir string, reg mirage.Registries) (int, string, error) {
	in, err := loadWidthSweep(dir, reg, registryModels(reg.Backends))
	if err != nil {
		return 0, "", err
	}
	if !in.choice.Found {
		return 0, "", fmt.Errorf("%s: no ADC width chosen: %s", dir, in.choice.Why)
	}
	return in.choice.Bits, in.choice.Why, nil
}
