package experiment

// The full-length part of the results document: comparisons planned by
// scripts/results.sh (ResultsConfig.Full), read arm by arm from their run
// directories so that a comparison still in training shows how far each
// arm got; the seed-to-seed summary of repeated comparisons; and the short
// sweeps that choose the narrowest ADC width (ResultsConfig.WidthSweeps).

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/mirage-go/mirage/train"
)

// fullInput is a planned comparison and what its directory holds.
type fullInput struct {
	plan   CompareConfig
	exists bool
	arms   []armProgress
	// report is the comparison's report.json when it has one (written
	// when a compare command finishes; it may cover fewer arms than the
	// plan when an earlier command compared fewer backends).
	report *Comparison
}

// loadFull reads a planned comparison's directory without changing it.
func loadFull(plan CompareConfig) (*fullInput, error) {
	in := &fullInput{plan: plan}
	fi, err := os.Stat(plan.Out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		for _, a := range plan.Arms {
			in.arms = append(in.arms, armProgress{Arm: a, Epochs: plan.Base.Epochs})
		}
		return in, nil
	case err != nil:
		return nil, fmt.Errorf("%s: %v", plan.Out, err)
	case !fi.IsDir():
		return nil, fmt.Errorf("%s is a file, not a comparison's output directory", plan.Out)
	}
	in.exists = true
	if data, err := os.ReadFile(filepath.Join(plan.Out, "report.json")); err == nil {
		var c Comparison
		if err := json.Unmarshal(data, &c); err != nil {
			return nil, fmt.Errorf("%s: report.json is not a comparison report (%v); run the comparison's command again to rewrite it", plan.Out, err)
		}
		in.report = &c
	}
	classes := 0
	if in.report != nil {
		classes = in.report.Classes
	}
	for _, a := range plan.Arms {
		p, err := loadArm(plan.Base, a, filepath.Join(plan.Out, a.Label), classes)
		if err != nil {
			return nil, err
		}
		in.arms = append(in.arms, p)
	}
	return in, nil
}

// loadArm reads one arm's run directory. classes is the data set's number
// of classes (0 when unknown: a collapse is then not detected).
func loadArm(base train.Config, a Arm, dir string, classes int) (armProgress, error) {
	cfg := armConfig(base, a)
	p := armProgress{Arm: a, Epochs: cfg.Epochs, StateSaved: exists(filepath.Join(dir, "state.safetensors"))}
	metrics, err := readMetrics(filepath.Join(dir, "metrics.jsonl"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return p, fmt.Errorf("%s: unreadable metrics.jsonl (%v)", dir, err)
	}
	p.EpochsDone = len(metrics)
	prev, err := readSummary(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if p.StateSaved || p.EpochsDone > 0 {
			p.State = armUnfinished
		}
		if p.StateSaved {
			// The run resumes from this state only if it has the planned
			// settings; one of other settings would be refused.
			saved, err := train.SavedConfig(dir)
			switch {
			case err != nil:
				p.Note = fmt.Sprintf("its resumable state is unreadable (%v)", err)
			case len(train.ConfigDiff(saved, cfg)) > 0:
				p.State, p.Note = armOther, fmt.Sprintf("%s holds an unfinished run with other settings (%s)", dir, strings.Join(train.ConfigDiff(saved, cfg), "; "))
			}
		}
		return p, nil
	case err != nil:
		return p, err
	}
	if diff := configDiff(prev.Config, cfg); diff != "" {
		p.State, p.Note = armOther, fmt.Sprintf("%s holds a run with other settings (%s)", dir, diff)
		return p, nil
	}
	out := &Outcome{Dir: dir, Reused: true, Summary: *prev, Metrics: metrics}
	out.Summary.Metrics = nil
	for _, m := range metrics {
		out.ImagesPerSec += m.ImagesPerSec / float64(len(metrics))
	}
	out.Status, out.Why = Classify(&out.Summary, metrics, classes)
	p.State, p.Outcome = armFinished, out
	return p, nil
}

// title names a planned comparison: model, data set and, for a seeded
// repetition, the seed.
func (in *fullInput) title() string {
	return fmt.Sprintf("%s on %s, seed %d", in.plan.Base.Model, in.plan.Base.Dataset, in.plan.Base.Seed)
}

func (in *fullInput) finished() int {
	n := 0
	for _, a := range in.arms {
		if a.State == armFinished {
			n++
		}
	}
	return n
}

// progressText is an arm's status cell.
func (a armProgress) progressText() string {
	switch a.State {
	case armNotStarted:
		return "not started"
	case armUnfinished:
		s := fmt.Sprintf("**unfinished**: %d of %d epochs done", a.EpochsDone, a.Epochs)
		if a.StateSaved {
			s += ", resumable state saved"
		}
		if a.Note != "" {
			s += "; " + a.Note
		}
		return s
	case armOther:
		return "**other settings**: " + a.Note
	}
	if a.Outcome.Status != OK {
		return statusText(a.Outcome.Status)
	}
	return "finished"
}

func pointsText(d float64) string {
	if !finite(d) {
		return "—"
	}
	return fmt.Sprintf("%+.2f", d)
}

func (d *resultsDoc) fullSection(in *fullInput) string {
	var b strings.Builder
	p := in.plan
	fmt.Fprintf(&b, "### Full length: %s\n\n", in.title())
	fmt.Fprintf(&b, "Command:\n\n    %s\n\n", p.Command)
	if !in.exists {
		fmt.Fprintf(&b, "**Not run yet**: `%s` does not exist. Arms: %s.\n\n", p.Out, armLabels(p.Arms))
		return b.String()
	}
	fmt.Fprintf(&b, "Directory `%s`: %d of %d arms finished; %d epochs each", p.Out, in.finished(), len(in.arms), p.Base.Epochs)
	if p.Base.TrainLimit > 0 || p.Base.TestLimit > 0 {
		fmt.Fprintf(&b, " (training limit %d, test limit %d)", p.Base.TrainLimit, p.Base.TestLimit)
	}
	b.WriteString(". Every arm starts from the same initial weights with the same data order.")
	if in.finished() < len(in.arms) {
		b.WriteString(" **Unfinished arms are shown with how far they got; they have no final accuracy yet.**")
	}
	b.WriteString("\n\n")
	ref := referenceArm(p.Arms)
	fmt.Fprintf(&b, "| arm | backend | options | status | epochs | final test acc | best test acc | Δ vs %s (points) | wall time | img/s |\n", ref)
	b.WriteString("|---|---|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range parityRows(in.arms, ref) {
		a := r.Arm
		delta := pointsText(r.Delta)
		if a.Label == ref && a.State == armFinished {
			delta = "(reference)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d/%d | %s | %s | %s | %s | %s |\n", cellText(a.Label), a.Backend,
			cellText(optionsText(a.Options)), cellText(a.progressText()), a.EpochsDone, a.Epochs,
			pctOrDash(r.Final), pctOrDash(r.Best), delta, secondsOrDash(r.WallSeconds), rateOrDash(r.ImagesSec))
	}
	b.WriteString("\n")
	for _, a := range in.arms {
		if a.State == armFinished && a.Outcome.Why != "" {
			fmt.Fprintf(&b, "- **%s %s**: %s\n", a.Label, statusText(a.Outcome.Status), a.Outcome.Why)
		}
	}
	png := filepath.Join(p.Out, "accuracy.png")
	if in.report != nil && exists(png) {
		var plotted []string
		for _, a := range in.report.Arms {
			if a.Outcome != nil {
				plotted = append(plotted, a.Label)
			}
		}
		fmt.Fprintf(&b, "Test accuracy per epoch, one line per arm, from the comparison's last report (arms plotted: %s; [report](%s)):\n\n",
			strings.Join(plotted, ", "), d.link(filepath.Join(p.Out, "report.md")))
		b.WriteString(d.image(p.Out, "accuracy.png", "test accuracy per epoch, "+in.title()))
	} else {
		b.WriteString("No accuracy plot yet: the comparison writes accuracy.png (every arm's test accuracy per epoch, overlaid) when its command finishes.\n\n")
	}
	return b.String()
}

func armLabels(arms []Arm) string {
	l := make([]string, len(arms))
	for i, a := range arms {
		l[i] = a.Label
	}
	return strings.Join(l, ", ")
}

func pctOrDash(x float64) string {
	if !finite(x) {
		return "—"
	}
	return pct(x)
}

func secondsOrDash(x float64) string {
	if !finite(x) {
		return "—"
	}
	return seconds(x)
}

func rateOrDash(x float64) string {
	if !finite(x) {
		return "—"
	}
	return rate(x)
}

// seedGroups gathers planned comparisons that differ only in their seed
// (same training settings otherwise, same arms), in first-seen order;
// groups of one are left out.
func seedGroups(full []*fullInput) [][]*fullInput {
	var keys []string
	by := map[string][]*fullInput{}
	for _, in := range full {
		c := in.plan.Base
		c.Seed = 0
		k := trainingKey(c) + "|" + armLabels(in.plan.Arms)
		if by[k] == nil {
			keys = append(keys, k)
		}
		by[k] = append(by[k], in)
	}
	var out [][]*fullInput
	for _, k := range keys {
		if len(by[k]) > 1 {
			out = append(out, by[k])
		}
	}
	return out
}

func (d *resultsDoc) seedSection(group []*fullInput) string {
	var b strings.Builder
	base := group[0].plan.Base
	var runs []seedRun
	var seeds []string
	for _, in := range group {
		seeds = append(seeds, strconv.FormatUint(in.plan.Base.Seed, 10))
		for _, a := range in.arms {
			r := seedRun{Seed: in.plan.Base.Seed, Label: a.Label, Acc: math.NaN()}
			if a.State == armFinished {
				r.Acc, r.OK = a.Outcome.Summary.FinalTestAcc, a.Outcome.Status == OK
			}
			runs = append(runs, r)
		}
	}
	ref := referenceArm(group[0].plan.Arms)
	sums, spread := seedSpread(runs, ref)
	fmt.Fprintf(&b, "### Full length over seeds: %s on %s, seeds %s\n\n", base.Model, base.Dataset, strings.Join(seeds, ", "))
	fmt.Fprintf(&b, "Final test accuracy per arm over the seeds (each seed is its own comparison, in the sections below: its own initial weights and data order, "+
		"shared by that seed's arms). %s's spread over seeds (max − min) is the yardstick: a Δ of the means no larger than it cannot be told from "+
		"seed-to-seed noise with this many seeds. ", ref)
	if finite(spread) {
		fmt.Fprintf(&b, "**%s spread: %.2f points.**\n\n", ref, spread)
	} else {
		fmt.Fprintf(&b, "**%s has fewer than two finished seeds, so there is no yardstick yet.**\n\n", ref)
	}
	fmt.Fprintf(&b, "| arm | seeds finished | mean | min – max | Δ of means vs %s (points) | within %s's seed spread |\n", ref, ref)
	b.WriteString("|---|---:|---:|---:|---:|---|\n")
	for _, s := range sums {
		within := "—"
		switch {
		case s.Label == ref:
			within = "(reference)"
		case finite(s.MeanDelta) && finite(spread) && s.WithinRefSpread:
			within = "yes"
		case finite(s.MeanDelta) && finite(spread):
			within = "no"
		}
		rangeText, meanText := "—", "—"
		if s.Seeds > 0 {
			meanText = fmt.Sprintf("%.2f%%", s.Mean)
			rangeText = fmt.Sprintf("%.2f – %.2f%%", s.Min, s.Max)
		}
		seedsText := strconv.Itoa(s.Seeds)
		if s.Missing > 0 {
			seedsText += fmt.Sprintf(" (%d missing or not normal)", s.Missing)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", cellText(s.Label), seedsText, meanText, rangeText, pointsText(s.MeanDelta), within)
	}
	b.WriteString("\n")
	return b.String()
}

// widthInput is a short converter-width sweep, or its absence.
type widthInput struct {
	dir    string
	sweep  *sweepInput // nil: not run yet
	runs   []widthRun
	fp32   float64
	fp32OK bool
	choice widthChoice
}

// loadWidthSweep reads a sweep over analog adc-bits and applies the width
// rule; a directory that does not exist is "not run yet", not an error.
func loadWidthSweep(dir string) (*widthInput, error) {
	in := &widthInput{dir: dir, fp32: math.NaN()}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		in.choice = widthChoice{Why: "the sweep has not been run yet"}
		return in, nil
	}
	s, err := loadSweepDir(dir)
	if err != nil {
		if exists(filepath.Join(dir, "plan.json")) && !exists(filepath.Join(dir, "results.jsonl")) {
			in.choice = widthChoice{Why: "none of the sweep's runs has finished yet"}
			return in, nil
		}
		return nil, err
	}
	in.sweep = s
	for r := range All(s.res.Rows) {
		got := s.res.Results[r.ID]
		if isFP32Baseline(r) {
			if got != nil && got.Status == OK {
				in.fp32, in.fp32OK = float64(got.FinalTestAcc), true
			}
			continue
		}
		v, ok := knobValue(r, "adc-bits")
		if !ok || r.Config.Backend != "analog" {
			continue
		}
		bits, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("%s: row %d has adc-bits %q, not a whole number", dir, r.Index+1, v)
		}
		w := widthRun{Bits: bits, Acc: math.NaN()}
		if got != nil {
			w.Done, w.OK, w.Acc = true, got.Status == OK, float64(got.FinalTestAcc)
		}
		in.runs = append(in.runs, w)
	}
	in.choice = narrowestWidth(in.runs, in.fp32, in.fp32OK, WidthWithin)
	return in, nil
}

// NarrowestADCWidth applies the width rule (see [WidthWithin]) to the
// finished short sweep in dir, a sweep over the analog backend's adc-bits
// with a plain FP32 row: it returns the chosen width and a sentence
// explaining it, or an error saying why none can be chosen yet.
func NarrowestADCWidth(dir string) (int, string, error) {
	in, err := loadWidthSweep(dir)
	if err != nil {
		return 0, "", err
	}
	if !in.choice.Found {
		return 0, "", fmt.Errorf("%s: no ADC width chosen: %s", dir, in.choice.Why)
	}
	return in.choice.Bits, in.choice.Why, nil
}

func (d *resultsDoc) widthSection(in *widthInput) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#### Sweep `%s`\n\n", in.dir)
	if in.sweep == nil {
		fmt.Fprintf(&b, "**Not run yet** (%s): no width chosen.\n\n", in.choice.Why)
		return b.String()
	}
	if desc := strings.TrimSpace(in.sweep.spec.Description); desc != "" {
		fmt.Fprintf(&b, "%s\n\n", strings.Join(strings.Fields(desc), " "))
	}
	if in.choice.Found {
		fmt.Fprintf(&b, "**Chosen: %d bits** — %s. [Sweep report](%s).\n\n", in.choice.Bits, in.choice.Why, d.link(filepath.Join(in.dir, "report.md")))
	} else {
		fmt.Fprintf(&b, "**No width chosen**: %s. [Sweep report](%s).\n\n", in.choice.Why, d.link(filepath.Join(in.dir, "report.md")))
	}
	b.WriteString("| adc-bits | status | final test acc | Δ vs FP32 (points) |\n|---:|---|---:|---:|\n")
	runs := append([]widthRun(nil), in.runs...)
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].Bits < runs[j].Bits })
	for _, r := range runs {
		status, acc, delta := "not run yet", "—", "—"
		if r.Done {
			status = "ok"
			if !r.OK {
				status = "did not train normally"
			}
			acc = pctOrDash(r.Acc)
			if in.fp32OK {
				delta = pointsText(100 * (r.Acc - in.fp32))
			}
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s |\n", r.Bits, status, acc, delta)
	}
	b.WriteString("\n")
	return b.String()
}

// fullPart is the document's full-length part: the planned comparisons,
// their seed summaries, and the width sweeps.
func (d *resultsDoc) fullPart() string {
	if len(d.full) == 0 && len(d.widths) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("## Full-length parity\n\n")
	b.WriteString("Each comparison below trains the model's recipe for its full length on the full data set, one arm per backend, " +
		"every arm from the same initial weights with the same data order. An arm counts only once it has finished: arms still " +
		"training (or not started) are shown with how far they got and have no accuracy in the tables, and no parity is claimed from them. " +
		"scripts/results.sh runs these commands (each resumes an interrupted arm from its saved state) and regenerates this document; " +
		"scripts/results.sh --report-only only regenerates it.\n\n")
	for _, g := range seedGroups(d.full) {
		b.WriteString(d.seedSection(g))
	}
	for _, in := range d.full {
		b.WriteString(d.fullSection(in))
	}
	if len(d.widths) > 0 {
		b.WriteString("### Choosing the narrowest ADC width that trains\n\n")
		fmt.Fprintf(&b, "The analog arm \"at the narrowest width that trains\" takes its width from a short sweep over adc-bits, chosen before "+
			"the full-length run and never from its test results. Rule: the narrowest swept width w such that w and every wider swept width "+
			"trained normally with a short-run final test accuracy within %g points of the short FP32 run (Δ ≥ −%g); an incomplete "+
			"sweep chooses nothing. The margin is wider than the %g points of parity because short runs move by about a point from "+
			"seed to seed. scripts/results.sh reads the choice with `mirage results --narrowest-adc DIR`.\n\n", WidthWithin, WidthWithin, Within)
		for _, w := range d.widths {
			if !w.choice.Found {
				b.WriteString("**At least one width sweep has chosen no width yet, so the full-length comparisons above list (and scripts/results.sh trains) no analog arm at the narrowest width for its model yet.**\n\n")
				break
			}
		}
		for _, w := range d.widths {
			b.WriteString(d.widthSection(w))
		}
	}
	return b.String()
}
