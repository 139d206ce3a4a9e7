package experiment

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/registry"
	"github.com/mirage-go/mirage/internal/atomicfile"
	"github.com/mirage-go/mirage/internal/rns"
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
//     seed, each arm's mean and range over seeds against FP32's spread;
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
	doc := &resultsDoc{cfg: cfg, reg: registry.New()}
	var problems []string
	for _, plan := range cfg.Full {
		in, err := loadFull(plan)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		doc.full = append(doc.full, in)
	}
	for _, dir := range cfg.WidthSweeps {
		in, err := loadWidthSweep(dir)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		doc.widths = append(doc.widths, in)
	}
	for _, dir := range cfg.Compare {
		c, err := loadCompareDir(dir)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		doc.compares = append(doc.compares, compareInput{dir: dir, cmp: c})
	}
	for _, dir := range cfg.Sweep {
		s, err := loadSweepDir(dir)
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
	return atomicfile.WriteFile(cfg.Out, []byte(doc.markdown()))
}

// resultsDoc renders the document.
type resultsDoc struct {
	cfg      ResultsConfig
	reg      *backend.Registry
	outDir   string // absolute directory of cfg.Out
	compares []compareInput
	sweeps   []*sweepInput
	full     []*fullInput
	widths   []*widthInput
}

// link returns path (a file in an input directory) relative to the
// document's directory, in the form Markdown links want.
func (d *resultsDoc) link(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.ToSlash(path)
	}
	rel, err := filepath.Rel(d.outDir, abs)
	if err != nil {
		rel = abs // another volume: no relative path exists
	}
	rel = filepath.ToSlash(rel)
	if strings.ContainsAny(rel, " ()<>") {
		return "<" + rel + ">"
	}
	return rel
}

// image embeds a PNG of an input directory, or says that it is missing.
func (d *resultsDoc) image(dir, name, alt string) string {
	path := filepath.Join(dir, name)
	if !exists(path) {
		return fmt.Sprintf("(%s is missing from %s: the plot is not shown.)\n\n", name, dir)
	}
	return fmt.Sprintf("![%s](%s)\n\n", alt, d.link(path))
}

func (d *resultsDoc) markdown() string {
	var b strings.Builder
	cfg := d.cfg
	b.WriteString("# Results\n\n")
	b.WriteString("This document is generated; do not edit it by hand. To update it, rerun the experiments it links to and then")
	if cfg.Command != "" {
		fmt.Fprintf(&b, ":\n\n    %s\n\n", cfg.Command)
	} else {
		b.WriteString(" regenerate it.\n\n")
	}
	fmt.Fprintf(&b, "Generated %s on this machine: %s. Wall times and throughput were measured on the machine each run trained on, "+
		"which is this one unless the result directories were copied from elsewhere.\n\n",
		cfg.Created.UTC().Format("2006-01-02 15:04 UTC"), cfg.Machine)
	fmt.Fprintf(&b, "Accuracies are final test accuracies (after the last epoch). Δ is the difference to the FP32 run of the same "+
		"training settings, in percentage points; within %g points of FP32 means Δ ≥ −%g. A run is *diverged* when a loss became "+
		"NaN or infinite, *collapsed* when its final test accuracy is within %g points of chance, *failed* when it stopped "+
		"with an error; such runs are shown as measured and never averaged with the others.\n\n", Within, Within, 100*CollapseMargin)

	b.WriteString(d.fullPart())
	if len(d.full) > 0 && (len(d.compares) > 0 || len(d.sweeps) > 0) {
		b.WriteString("# Short runs\n\n")
		b.WriteString("Everything below this point was trained for fewer epochs or on less data than the full-length comparisons above " +
			"(each section says how much). These runs answer quick questions; they are not the parity result.\n\n")
	}
	if len(d.compares) > 0 || len(d.sweeps) > 0 {
		b.WriteString(d.overview())
	}
	for _, c := range d.compares {
		b.WriteString(d.compareSection(c))
	}
	for _, s := range d.sweeps {
		b.WriteString(d.sweepSection(s))
	}
	return b.String()
}

// overview answers the document's questions in short: accuracy parity of
// the comparisons, the runs that did not train normally, and the
// narrowest converter settings within Within points of FP32.
func (d *resultsDoc) overview() string {
	var b strings.Builder
	b.WriteString("## Overview\n\n")
	if len(d.compares) > 0 {
		b.WriteString("### Accuracy of each backend against FP32, at equal epochs\n\n")
		b.WriteString("Final test accuracy of each arm, with Δ to the comparison's FP32 arm in points. Every arm of a row trained " +
			"the same configuration for the same number of epochs from the same initial weights.\n\n")
		var labels []string
		seen := map[string]bool{}
		for _, c := range d.compares {
			for _, a := range c.cmp.Arms {
				if !seen[a.Label] {
					seen[a.Label] = true
					labels = append(labels, a.Label)
				}
			}
		}
		b.WriteString("| model / data set | epochs |")
		for _, l := range labels {
			fmt.Fprintf(&b, " %s |", cellText(l))
		}
		b.WriteString("\n|---|---:|")
		for range labels {
			b.WriteString("---:|")
		}
		b.WriteString("\n")
		for _, c := range d.compares {
			cfg := c.cmp.Config
			fmt.Fprintf(&b, "| [%s](#%s) | %d |", cellText(compareTitle(c.cmp)), anchor(compareTitle(c.cmp)), cfg.Epochs)
			ref := c.cmp.reference()
			for _, l := range labels {
				var arm *ArmResult
				for i := range c.cmp.Arms {
					if c.cmp.Arms[i].Label == l {
						arm = &c.cmp.Arms[i]
					}
				}
				if arm == nil {
					b.WriteString(" — |")
					continue
				}
				fmt.Fprintf(&b, " %s |", armCell(arm, ref))
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}

	b.WriteString("### Runs that did not train normally\n\n")
	var bad []string
	for _, c := range d.compares {
		for _, w := range c.cmp.Warnings {
			bad = append(bad, fmt.Sprintf("%s (%s): %s", compareTitle(c.cmp), c.dir, w))
		}
	}
	incomplete := 0
	for _, s := range d.sweeps {
		bad = append(bad, sweepWarnings(s, true)...)
		if len(s.res.Results) < s.res.Rows.Len() {
			incomplete++
		}
	}
	if len(bad) == 0 {
		b.WriteString("None: every run in this document finished with finite losses and above chance accuracy.\n\n")
	} else {
		for _, w := range bad {
			fmt.Fprintf(&b, "- **%s**\n", w)
		}
		b.WriteString("\n")
	}
	if incomplete > 0 {
		fmt.Fprintf(&b, "**%d sweep(s) are incomplete**; their sections say how many runs are missing.\n\n", incomplete)
	}

	var answers []string
	for _, s := range d.sweeps {
		if a := d.bitsAnalysis(s); a != nil {
			for _, line := range a.answers() {
				answers = append(answers, fmt.Sprintf("%s — %s", sweepTitle(s), line))
			}
		}
	}
	if len(answers) > 0 {
		fmt.Fprintf(&b, "### Narrowest converters within %g points of FP32\n\n", Within)
		for _, a := range answers {
			fmt.Fprintf(&b, "- %s\n", a)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func compareTitle(c *Comparison) string {
	return fmt.Sprintf("%s on %s", c.Config.Model, c.Config.Dataset)
}

func sweepTitle(s *sweepInput) string {
	name := s.spec.Name
	if name == "" {
		name = filepath.Base(s.dir)
	}
	return "Sweep " + name
}

// anchor is the GitHub anchor of a heading.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// cellText keeps a value from breaking a Markdown table.
func cellText(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}

// deltaText is a−ref in percentage points, "—" when either is unknown.
func deltaText(a, ref float64) string {
	d := 100 * (a - ref)
	if !finite(d) {
		return "—"
	}
	return fmt.Sprintf("%+.2f", d)
}

// armCell is an arm's accuracy, Δ and status for the overview table.
func armCell(a *ArmResult, ref *ArmResult) string {
	st := a.status()
	if a.Outcome == nil {
		return statusText(st)
	}
	var parts []string
	if acc := a.Outcome.Summary.FinalTestAcc; finite(acc) {
		parts = append(parts, pct(acc))
		switch {
		case ref != nil && ref.Label == a.Label:
			parts = append(parts, "(reference)")
		case ref != nil && ref.Outcome != nil:
			parts = append(parts, "("+deltaText(acc, ref.Outcome.Summary.FinalTestAcc)+")")
		}
	}
	if st != OK {
		parts = append(parts, statusText(st))
	}
	return strings.Join(parts, " ")
}

func (d *resultsDoc) compareSection(in compareInput) string {
	var b strings.Builder
	c := in.cmp
	cfg := c.Config
	fmt.Fprintf(&b, "## %s\n\n", compareTitle(c))
	fmt.Fprintf(&b, "Comparison in `%s`: [report](%s)", in.dir, d.link(filepath.Join(in.dir, "report.md")))
	if c.Command != "" {
		fmt.Fprintf(&b, ", produced by `%s`", c.Command)
	}
	if c.Created != "" {
		fmt.Fprintf(&b, " (%s)", c.Created)
	}
	fmt.Fprintf(&b, ". Every arm trained %d epochs from the same initial weights (SHA-256 `%s`) with the same data order.\n\n",
		cfg.Epochs, short(c.InitialWeights))
	b.WriteString(settingsTable(cfg))
	b.WriteString("\n")

	if len(c.Warnings) > 0 {
		b.WriteString("Warnings of the report, verbatim:\n\n")
		for _, w := range c.Warnings {
			fmt.Fprintf(&b, "- **%s**\n", w)
		}
		b.WriteString("\n")
	}

	ref := c.reference()
	refName := "FP32"
	if ref == nil || ref.Backend != "fp32" {
		refName = c.Reference
		fmt.Fprintf(&b, "**This comparison has no plain FP32 arm**: Δ is against arm %s.\n\n", c.Reference)
	}
	fmt.Fprintf(&b, "| arm | backend | options | status | epochs run | final test acc | best test acc | Δ vs %s (points) | final train loss | wall time | img/s |\n", refName)
	b.WriteString("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for i := range c.Arms {
		a := &c.Arms[i]
		fmt.Fprintf(&b, "| %s | %s | %s | %s |", cellText(a.Label), a.Backend, cellText(optionsText(a.Options)), statusText(a.status()))
		o := a.Outcome
		if o == nil {
			b.WriteString(" — | — | — | — | — | — | — |\n")
			continue
		}
		delta := "—"
		if ref != nil && ref.Outcome != nil && a.Label != ref.Label {
			delta = deltaText(o.Summary.FinalTestAcc, ref.Outcome.Summary.FinalTestAcc)
		}
		fmt.Fprintf(&b, " %d/%d | %s | %s | %s | %s | %s | %s |\n", len(o.Metrics), cfg.Epochs,
			pct(o.Summary.FinalTestAcc), pct(o.Summary.BestTestAcc), delta, num(lastTrainLoss(o.Metrics)),
			seconds(o.Summary.WallSeconds), rate(o.ImagesPerSec))
	}
	b.WriteString("\n")
	for _, a := range c.Arms {
		if a.Outcome == nil && a.Error != "" {
			fmt.Fprintf(&b, "Arm %s failed: %s\n\n", a.Label, a.Error)
		}
	}
	b.WriteString(d.image(in.dir, "accuracy.png", "test accuracy per epoch, "+compareTitle(c)))
	return b.String()
}

// sweepWarnings lists the rows of a sweep that did not train normally, in
// the words of the sweep's own report; long prefixes them with the sweep.
func sweepWarnings(s *sweepInput, long bool) []string {
	var out []string
	for r := range All(s.res.Rows) {
		got := s.res.Results[r.ID]
		if got == nil {
			continue
		}
		var w string
		switch got.Status {
		case Failed:
			w = fmt.Sprintf("row %d (%s, backend %s) FAILED: %s", r.Index+1, r.Label(), r.Config.Backend, got.Error)
		case Diverged:
			w = fmt.Sprintf("row %d (%s, backend %s) DIVERGED: %s", r.Index+1, r.Label(), r.Config.Backend, got.Why)
		case Collapsed:
			w = fmt.Sprintf("row %d (%s, backend %s) COLLAPSED: %s", r.Index+1, r.Label(), r.Config.Backend, got.Why)
		default:
			continue
		}
		if long {
			w = fmt.Sprintf("%s (%s): %s", sweepTitle(s), s.dir, w)
		}
		out = append(out, w)
	}
	return out
}

// rowResult is a sweep row with its result and the FP32 row it is
// measured against.
type rowResult struct {
	row Row
	got *ResultRow // nil: not run yet
	fp  *ResultRow // nil: no FP32 row with the same training settings
}

// delta is the row's distance to FP32 in points, NaN when unknown.
func (r rowResult) delta() float64 {
	if r.got == nil || r.fp == nil || r.got.Status == Failed {
		return math.NaN()
	}
	return 100 * float64(r.got.FinalTestAcc-r.fp.FinalTestAcc)
}

// within reports whether the row trained normally and is within Within
// points of FP32. Accuracies are counts over the same test set, so a Δ of
// exactly −Within can come out a hair below it in floating point; the
// tolerance (far below one example in a million) keeps such a run in.
func (r rowResult) within() bool {
	d := r.delta()
	return r.got != nil && r.got.Status == OK && finite(d) && d >= -Within-1e-9
}

func (r rowResult) statusText() string {
	if r.got == nil {
		return "not run yet"
	}
	return statusText(r.got.Status)
}

func (r rowResult) accText() string {
	if r.got == nil || r.got.Status == Failed {
		return "—"
	}
	return pct(float64(r.got.FinalTestAcc))
}

func (r rowResult) deltaText() string {
	d := r.delta()
	if !finite(d) {
		return "—"
	}
	return fmt.Sprintf("%+.2f", d)
}

// cell is the row as one table cell: accuracy, Δ, and any bad status.
func (r rowResult) cell() string {
	if r.got == nil {
		return "not run yet"
	}
	var parts []string
	if acc := float64(r.got.FinalTestAcc); r.got.Status != Failed && finite(acc) {
		parts = append(parts, pct(acc))
		if d := r.deltaText(); d != "—" && r.fp.ID != r.got.ID {
			parts = append(parts, "("+d+")")
		}
	}
	if r.got.Status != OK {
		parts = append(parts, statusText(r.got.Status))
	}
	return strings.Join(parts, " ")
}

// option is the row's value of a backend option: set by the sweep, or the
// backend's default.
func (d *resultsDoc) option(r Row, name string) string {
	if v, ok := r.Config.BackendOptions[name]; ok {
		return v
	}
	for _, o := range d.reg.Options(r.Config.Backend) {
		if o.Name == name {
			return o.Default
		}
	}
	return ""
}

func (d *resultsDoc) sweepSection(s *sweepInput) string {
	var b strings.Builder
	res := s.res
	fmt.Fprintf(&b, "## %s\n\n", sweepTitle(s))
	if desc := strings.TrimSpace(s.spec.Description); desc != "" {
		fmt.Fprintf(&b, "%s\n\n", strings.Join(strings.Fields(desc), " "))
	}
	fmt.Fprintf(&b, "Sweep in `%s`: [report](%s). %d of %d runs finished or failed.", s.dir,
		d.link(filepath.Join(s.dir, "report.md")), len(res.Results), res.Rows.Len())
	if n := res.Rows.Len() - len(res.Results); n > 0 {
		fmt.Fprintf(&b, " **The sweep is incomplete: %d of %d runs have no result yet; run the sweep again to finish it, then regenerate this document.**", n, res.Rows.Len())
	}
	if s.partial {
		b.WriteString(" The last line of its results.jsonl is unfinished (an interrupted write) and is ignored.")
	}
	if s.stale > 0 {
		fmt.Fprintf(&b, " %d results in results.jsonl belong to runs that plan.json no longer lists and are not shown.", s.stale)
	}
	b.WriteString("\n\nTraining settings of the first run (a swept training setting varies from run to run):\n\n")
	b.WriteString(settingsTable(res.Rows.Row(0).Config))
	b.WriteString("\n")
	if w := sweepWarnings(s, false); len(w) > 0 {
		b.WriteString("Runs that did not train normally:\n\n")
		for _, line := range w {
			fmt.Fprintf(&b, "- **%s**\n", line)
		}
		b.WriteString("\n")
	}

	covered := map[string]bool{}
	base := baselines(res)
	var rows []rowResult
	for r := range All(res.Rows) {
		rows = append(rows, rowResult{row: r, got: res.Results[r.ID], fp: base[trainingKey(r.Config)]})
	}
	special := false
	bits := d.bitsAnalysis(s)
	if bits != nil || hasKnob(rows, "noise-sigma") {
		b.WriteString(baselineText(rows))
		for _, r := range rows {
			if isFP32Baseline(r.row) {
				covered[r.row.ID] = true
			}
		}
	}
	if bits != nil {
		special = true
		b.WriteString(bits.markdown())
		for _, rs := range [][]rowResult{bits.rns, bits.bfp} {
			for _, r := range rs {
				covered[r.row.ID] = true
			}
		}
	}
	if hasKnob(rows, "noise-sigma") {
		special = true
		b.WriteString(d.noiseMarkdown(s, rows, covered))
	}
	var rest []rowResult
	for _, r := range rows {
		if !covered[r.row.ID] {
			rest = append(rest, r)
		}
	}
	if len(rest) > 0 {
		if special {
			b.WriteString("### Other runs\n\n")
		} else {
			b.WriteString("### Runs\n\n")
		}
		b.WriteString(genericTable(rest))
	}
	var plots []string
	old, _ := filepath.Glob(filepath.Join(s.dir, "accuracy-vs-*.png"))
	for _, p := range old {
		if !strings.HasPrefix(filepath.Base(p), "accuracy-vs-noise-sigma") || !hasKnob(rows, "noise-sigma") {
			plots = append(plots, filepath.Base(p))
		}
	}
	sort.Strings(plots)
	if len(plots) > 0 {
		b.WriteString("### Plots\n\nFinal test accuracy against each swept knob, one line per combination of the other knobs.\n\n")
		for _, p := range plots {
			b.WriteString(d.image(s.dir, p, strings.TrimSuffix(p, ".png")))
		}
	}
	return b.String()
}

func hasKnob(rows []rowResult, name string) bool {
	for _, r := range rows {
		if _, ok := knobValue(r.row, name); ok {
			return true
		}
	}
	return false
}

func isFP32Baseline(r Row) bool {
	return r.Config.Backend == "fp32" && len(r.Config.BackendOptions) == 0
}

// baselineText states the sweep's FP32 runs, or that it has none.
func baselineText(rows []rowResult) string {
	var b strings.Builder
	var fps []rowResult
	for _, r := range rows {
		if isFP32Baseline(r.row) {
			fps = append(fps, r)
		}
	}
	if len(fps) == 0 {
		return "**This sweep has no FP32 run**, so no run can be measured against FP32.\n\n"
	}
	for _, r := range fps {
		label := ""
		if len(r.row.Knobs) > 0 {
			label = " (" + r.row.Label() + ")"
		}
		fmt.Fprintf(&b, "FP32 baseline, row %d%s: ", r.row.Index+1, label)
		switch {
		case r.got == nil:
			b.WriteString("**not run yet**: no Δ can be given for its training settings.\n\n")
		case r.got.Status == Failed:
			b.WriteString("**FAILED**: no Δ can be given for its training settings.\n\n")
		case r.got.Status != OK:
			fmt.Fprintf(&b, "%s, %s. **The FP32 baseline itself did not train normally; the Δ values against it and the answers below mean little.**\n\n",
				pct(float64(r.got.FinalTestAcc)), statusText(r.got.Status))
		default:
			fmt.Fprintf(&b, "final test accuracy **%s**.\n\n", pct(float64(r.got.FinalTestAcc)))
		}
	}
	return b.String()
}

// bitsAnalysis answers how narrow the converters can be: rows that vary
// rns-moduli or bfp-bits, RNS and plain BFP separately.
type bitsAnalysis struct {
	d        *resultsDoc
	rns, bfp []rowResult
	// moduli of each RNS row by ID (nil when unparsable).
	moduli map[string][]int64
}

func (d *resultsDoc) bitsAnalysis(s *sweepInput) *bitsAnalysis {
	a := &bitsAnalysis{d: d, moduli: map[string][]int64{}}
	base := baselines(s.res)
	for r := range All(s.res.Rows) {
		_, moduli := knobValue(r, "rns-moduli")
		_, bits := knobValue(r, "bfp-bits")
		rr := rowResult{row: r, got: s.res.Results[r.ID], fp: base[trainingKey(r.Config)]}
		switch {
		case r.Config.Backend == "rns" && (moduli || bits):
			m, err := rns.ParseModuli(d.option(r, "rns-moduli"))
			if err == nil {
				a.moduli[r.ID] = m
			}
			a.rns = append(a.rns, rr)
		case r.Config.Backend == "bfp" && bits:
			a.bfp = append(a.bfp, rr)
		}
	}
	if len(a.rns) == 0 && len(a.bfp) == 0 {
		return nil
	}
	// Narrowest first: by largest modulus, then range, then mantissa bits.
	sort.SliceStable(a.rns, func(i, j int) bool {
		mi, mj := a.moduli[a.rns[i].row.ID], a.moduli[a.rns[j].row.ID]
		if x, y := maxModulus(mi), maxModulus(mj); x != y {
			return x < y
		}
		if x, y := product(mi), product(mj); x != y {
			return x < y
		}
		return a.bits(a.rns[i]) < a.bits(a.rns[j])
	})
	sort.SliceStable(a.bfp, func(i, j int) bool { return a.bits(a.bfp[i]) < a.bits(a.bfp[j]) })
	return a
}

// bits is the row's BFP mantissa width, or a large number when unparsable.
func (a *bitsAnalysis) bits(r rowResult) int {
	n, err := strconv.Atoi(a.d.option(r.row, "bfp-bits"))
	if err != nil {
		return math.MaxInt
	}
	return n
}

func maxModulus(m []int64) int64 {
	if len(m) == 0 {
		return math.MaxInt64
	}
	out := m[0]
	for _, v := range m {
		out = max(out, v)
	}
	return out
}

func product(m []int64) float64 {
	if len(m) == 0 {
		return math.Inf(1)
	}
	p := 1.0
	for _, v := range m {
		p *= float64(v)
	}
	return p
}

// moduliText names a row's moduli set: "special-k6 = {63, 64, 65}".
func (a *bitsAnalysis) moduliText(r rowResult) string {
	name := a.d.option(r.row, "rns-moduli")
	m := a.moduli[r.row.ID]
	if m == nil {
		return name + " (unparsable)"
	}
	parts := make([]string, len(m))
	for i, v := range m {
		parts[i] = strconv.FormatInt(v, 10)
	}
	set := "{" + strings.Join(parts, ", ") + "}"
	if strings.ReplaceAll(name, " ", "") == strings.Join(parts, ",") {
		return set
	}
	return name + " = " + set
}

// widthText is the bit width of the largest modulus, log2 of it: 6.02
// for 65, so the special-kK sets are about K bits wide.
func widthText(m []int64) string {
	if m == nil {
		return "?"
	}
	return fmt.Sprintf("%d (%.2f bits)", maxModulus(m), math.Log2(float64(maxModulus(m))))
}

// answers states, in one line each, the narrowest RNS moduli set, the
// narrowest BFP width on RNS, and the narrowest width of plain BFP within
// Within points of FP32.
func (a *bitsAnalysis) answers() []string {
	var out []string
	missing := func(w widthAnswer) string {
		if w.Missing == 0 {
			return ""
		}
		return fmt.Sprintf(" (%d of these runs have no result; the answer may change when they do)", w.Missing)
	}
	closest := func(w widthAnswer) string {
		if w.Closest == nil {
			return "no run trained normally"
		}
		return fmt.Sprintf("the closest normal run, row %d (%s), is at %s points", w.Closest.row.Index+1, w.Closest.row.Label(), w.Closest.deltaText())
	}
	if len(a.rns) > 0 {
		w := analyseWidths(a.rns, a.bits)
		switch {
		case w.NoBaseline:
			out = append(out, "RNS: cannot be answered, the sweep has no finished FP32 run with the same training settings")
		case w.First == nil:
			out = append(out, fmt.Sprintf("RNS: narrowest moduli set within %g points of FP32: **none**; %s%s", Within, closest(w), missing(w)))
			out = append(out, fmt.Sprintf("RNS: narrowest BFP width within %g points of FP32: **none**%s", Within, missing(w)))
		default:
			first, fewest := w.First, w.FewestBits
			m := maxModulus(a.moduli[first.row.ID])
			out = append(out, fmt.Sprintf("RNS: narrowest moduli set within %g points of FP32: **%s** (largest modulus %d, %.2f bits), row %d with bfp-bits %s: %s (%s)%s",
				Within, a.moduliText(*first), m, math.Log2(float64(m)), first.row.Index+1, a.d.option(first.row, "bfp-bits"),
				first.accText(), first.deltaText(), missing(w)))
			out = append(out, fmt.Sprintf("RNS: narrowest BFP width within %g points of FP32: **%d bits**, row %d with moduli %s: %s (%s)%s",
				Within, a.bits(*fewest), fewest.row.Index+1, a.moduliText(*fewest), fewest.accText(), fewest.deltaText(), missing(w)))
		}
	}
	if len(a.bfp) > 0 {
		w := analyseWidths(a.bfp, a.bits)
		switch {
		case w.NoBaseline:
			out = append(out, "BFP without noise: cannot be answered, the sweep has no finished FP32 run with the same training settings")
		case w.First == nil:
			out = append(out, fmt.Sprintf("BFP without noise: narrowest width within %g points of FP32: **none**; %s%s", Within, closest(w), missing(w)))
		default:
			out = append(out, fmt.Sprintf("BFP without noise: narrowest width within %g points of FP32: **%d bits**, row %d: %s (%s)%s",
				Within, a.bits(*w.First), w.First.row.Index+1, w.First.accText(), w.First.deltaText(), missing(w)))
		}
	}
	return out
}

func (a *bitsAnalysis) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Narrowest moduli and BFP width within %g points of FP32\n\n", Within)
	fmt.Fprintf(&b, "A run qualifies when it trained normally and Δ ≥ −%g. Moduli sets are ordered by their largest modulus "+
		"(its bit width is log₂ of it), then by their range; options the sweep does not set are the backend's defaults.\n\n", Within)
	for _, line := range a.answers() {
		fmt.Fprintf(&b, "- %s\n", line)
	}
	b.WriteString("\n")
	if len(a.rns) > 0 {
		b.WriteString("RNS runs, narrowest moduli first:\n\n")
		b.WriteString("| # | group | moduli | largest modulus | bfp-bits | other knobs | status | final test acc | Δ fp32 | within |\n")
		b.WriteString("|---:|---|---|---:|---:|---|---|---:|---:|---|\n")
		for _, r := range a.rns {
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.row.Index+1, cellText(r.row.Group),
				cellText(a.moduliText(r)), widthText(a.moduli[r.row.ID]), cellText(a.d.option(r.row, "bfp-bits")),
				cellText(otherKnobs(r.row, "rns-moduli", "bfp-bits")), r.statusText(), r.accText(), r.deltaText(), r.withinText())
		}
		b.WriteString("\n")
	}
	if len(a.bfp) > 0 {
		b.WriteString("BFP runs (no RNS, no noise), narrowest first:\n\n")
		b.WriteString("| # | group | bfp-bits | other knobs | status | final test acc | Δ fp32 | within |\n")
		b.WriteString("|---:|---|---:|---|---|---:|---:|---|\n")
		for _, r := range a.bfp {
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s | %s |\n", r.row.Index+1, cellText(r.row.Group),
				cellText(a.d.option(r.row, "bfp-bits")), cellText(otherKnobs(r.row, "bfp-bits")), r.statusText(),
				r.accText(), r.deltaText(), r.withinText())
		}
		b.WriteString("\n")
	}
	return b.String()
}

// withinText answers "within Within points of FP32?" for a table: no for
// a run that did not train normally, — when Δ is unknown.
func (r rowResult) withinText() string {
	switch {
	case r.got != nil && r.got.Status != OK:
		return "no"
	case !finite(r.delta()):
		return "—"
	case r.within():
		return "yes"
	}
	return "no"
}

// otherKnobs is the row's knobs except the named ones, "—" when none.
func otherKnobs(r Row, except ...string) string {
	var parts []string
	for _, k := range r.Knobs {
		if !contains(except, k.Name) {
			parts = append(parts, k.Name+"="+k.Value)
		}
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, " ")
}

// noiseMarkdown tabulates accuracy against noise σ, one table per backend
// (σ's unit differs between backends), one row per σ and one column per
// group and combination of the other knobs.
func (d *resultsDoc) noiseMarkdown(s *sweepInput, rows []rowResult, covered map[string]bool) string {
	var b strings.Builder
	b.WriteString("### Accuracy against noise σ\n\n")
	b.WriteString("Final test accuracy with Δ to FP32 in points. σ is in residue steps for rns (unless noise-unit=phase) " +
		"and in ADC steps for analog, so each backend has its own table; compare the lines of one backend with each other " +
		"and with FP32, not across backends at equal σ.\n\n")
	var backends []string
	byBackend := map[string][]rowResult{}
	for _, r := range rows {
		if _, ok := knobValue(r.row, "noise-sigma"); !ok {
			continue
		}
		be := r.row.Config.Backend
		if byBackend[be] == nil {
			backends = append(backends, be)
		}
		byBackend[be] = append(byBackend[be], r)
		covered[r.row.ID] = true
	}
	for _, be := range backends {
		rs := byBackend[be]
		groups := map[string]bool{}
		for _, r := range rs {
			groups[r.row.Group] = true
		}
		var sigmas, cols []string
		seenS, seenC := map[string]bool{}, map[string]bool{}
		cells := map[[2]string]string{}
		for _, r := range rs {
			sigma, _ := knobValue(r.row, "noise-sigma")
			col := otherKnobs(r.row, "noise-sigma")
			if col == "—" {
				col = be
			}
			if len(groups) > 1 {
				col = r.row.Group + ": " + col
			}
			if !seenS[sigma] {
				seenS[sigma] = true
				sigmas = append(sigmas, sigma)
			}
			if !seenC[col] {
				seenC[col] = true
				cols = append(cols, col)
			}
			cells[[2]string{sigma, col}] = r.cell()
		}
		sort.SliceStable(sigmas, func(i, j int) bool {
			x, errX := strconv.ParseFloat(sigmas[i], 64)
			y, errY := strconv.ParseFloat(sigmas[j], 64)
			if errX != nil || errY != nil {
				return sigmas[i] < sigmas[j]
			}
			return x < y
		})
		fmt.Fprintf(&b, "Backend %s:\n\n| σ |", be)
		for _, c := range cols {
			fmt.Fprintf(&b, " %s |", cellText(c))
		}
		b.WriteString("\n|---:|")
		for range cols {
			b.WriteString("---:|")
		}
		b.WriteString("\n")
		for _, sigma := range sigmas {
			fmt.Fprintf(&b, "| %s |", cellText(sigma))
			for _, c := range cols {
				v, ok := cells[[2]string{sigma, c}]
				if !ok {
					v = "—"
				}
				fmt.Fprintf(&b, " %s |", v)
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	plots, _ := filepath.Glob(filepath.Join(s.dir, "accuracy-vs-noise-sigma*.png"))
	sort.Strings(plots)
	if len(plots) == 0 {
		b.WriteString(d.image(s.dir, "accuracy-vs-noise-sigma.png", "accuracy vs noise-sigma"))
	}
	for _, p := range plots {
		b.WriteString(d.image(s.dir, filepath.Base(p), strings.TrimSuffix(filepath.Base(p), ".png")))
	}
	return b.String()
}

// genericTable lists sweep rows with their knobs, accuracy, Δ and status.
func genericTable(rows []rowResult) string {
	var b strings.Builder
	b.WriteString("| # | group | backend | knobs | status | final test acc | Δ fp32 | best test acc | final train loss | wall time | img/s |\n")
	b.WriteString("|---:|---|---|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		knobs := "—"
		if len(r.row.Knobs) > 0 {
			knobs = r.row.Label()
		}
		delta := r.deltaText()
		if r.fp != nil && r.got != nil && r.fp.ID == r.got.ID {
			delta = "(baseline)"
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s |", r.row.Index+1, cellText(r.row.Group), r.row.Config.Backend,
			cellText(knobs), r.statusText(), r.accText(), delta)
		if r.got == nil || r.got.Status == Failed {
			b.WriteString(" — | — | — | — |\n")
			continue
		}
		fmt.Fprintf(&b, " %s | %s | %s | %s |\n", pct(float64(r.got.BestTestAcc)), num(float64(r.got.FinalTrainLoss)),
			seconds(float64(r.got.WallSeconds)), rate(float64(r.got.ImagesPerSec)))
	}
	b.WriteString("\n")
	return b.String()
}
