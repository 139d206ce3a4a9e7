package experiment

// The results document's last step: the loaded inputs and their analysis
// become a resultsView, which templates/results*.md.tmpl turn into
// Markdown. What is computed here is only what a document needs beyond the
// analysis: titles, links relative to the document, which plots to show.

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mirage-go/mirage/train"
)

// resultsDoc is a results document's loaded inputs.
type resultsDoc struct {
	cfg      ResultsConfig
	option   optionOf
	model    modelOf
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

// imageView is a PNG of an input directory, or a note that it is missing.
type imageView struct {
	Present        bool
	Name, Dir, Alt string
	Link           string
}

func (d *resultsDoc) image(dir, name, alt string, present bool) imageView {
	return imageView{Present: present, Name: name, Dir: dir, Alt: alt, Link: d.link(filepath.Join(dir, name))}
}

// resultsView is what templates/results.md.tmpl renders.
type resultsView struct {
	Command, Generated, Machine string
	Within, WidthWithin         float64
	CollapsePoints              float64
	Full                        *fullPartView
	ShortRunsHeading            bool
	Overview                    *overviewView
	Compares                    []compareSectionView
	Sweeps                      []sweepSectionView
}

func (d *resultsDoc) view() resultsView {
	v := resultsView{Command: d.cfg.Command, Generated: d.cfg.Created.UTC().Format("2006-01-02 15:04 UTC"),
		Machine: d.cfg.Machine.String(), Within: Within, WidthWithin: WidthWithin, CollapsePoints: 100 * CollapseMargin}
	if len(d.full) > 0 || len(d.widths) > 0 {
		v.Full = d.fullPart()
	}
	short := len(d.compares) > 0 || len(d.sweeps) > 0
	v.ShortRunsHeading = len(d.full) > 0 && short
	if short {
		v.Overview = d.overview()
	}
	for _, c := range d.compares {
		v.Compares = append(v.Compares, d.compareSection(c))
	}
	for _, s := range d.sweeps {
		v.Sweeps = append(v.Sweeps, d.sweepSection(s))
	}
	return v
}

func compareTitle(c *Comparison) string {
	return c.Config.Model + " on " + c.Config.Dataset
}

func sweepTitle(s *sweepInput) string {
	name := s.spec.Name
	if name == "" {
		name = filepath.Base(s.dir)
	}
	return "Sweep " + name
}

// overviewView answers the document's questions in short: accuracy parity
// of the comparisons, the runs that did not train normally, and the
// narrowest converter settings within Within points of FP32.
type overviewView struct {
	Within float64
	// Table is nil without comparisons.
	Table *overviewTable
	// CompareWarnings are the comparisons' warnings; SweepBad the sweeps'
	// rows that did not train normally.
	CompareWarnings []inputWarning
	SweepBad        []sweepBadRun
	// Incomplete counts sweeps with rows still to run.
	Incomplete int
	// Answers are the narrowest-converter answers of the sweeps that have
	// any.
	Answers []bitsAnswers
}

// inputWarning is a warning of the input titled Title in Dir.
type inputWarning struct{ Title, Dir, Text string }

// sweepBadRun is a row that did not train normally in the sweep titled
// Title in Dir.
type sweepBadRun struct {
	Title, Dir string
	badRun
}

// bitsAnswers are the lines answering a bitsAnalysis, each prefixed by
// Prefix.
type bitsAnswers struct {
	Prefix string
	Within float64
	A      *bitsAnalysis
}

func (d *resultsDoc) overview() *overviewView {
	v := &overviewView{Within: Within}
	if len(d.compares) > 0 {
		cs := make([]*Comparison, len(d.compares))
		for i, c := range d.compares {
			cs[i] = c.cmp
		}
		t := overviewOf(cs)
		v.Table = &t
	}
	for _, c := range d.compares {
		for _, w := range c.cmp.Warnings {
			v.CompareWarnings = append(v.CompareWarnings, inputWarning{Title: compareTitle(c.cmp), Dir: c.dir, Text: w})
		}
	}
	for _, s := range d.sweeps {
		for _, b := range badRuns(s.res.Rows, s.res.Results) {
			v.SweepBad = append(v.SweepBad, sweepBadRun{Title: sweepTitle(s), Dir: s.dir, badRun: b})
		}
		if len(s.res.Results) < s.res.Rows.Len() {
			v.Incomplete++
		}
		if a := analyseBits(rowResults(s.res), d.option, d.model); a != nil {
			v.Answers = append(v.Answers, bitsAnswers{Prefix: sweepTitle(s) + " — ", Within: Within, A: a})
		}
	}
	return v
}

// compareSectionView is a comparison's section.
type compareSectionView struct {
	Title, Dir, ReportLink string
	C                      *Comparison
	// RefName names what Δ is against; NoFP32 is set when the reference
	// is not a plain FP32 arm.
	RefName string
	NoFP32  bool
	Arms    []compareArm
	// Stale are the arms whose options give other effective backend
	// settings today than they ran with (a default changed since).
	Stale    []staleArm
	Accuracy imageView
}

// staleArm is an arm that ran at other defaults: Diff lists the settings
// as "name: recorded → now".
type staleArm struct{ Label, Diff string }

func (d *resultsDoc) compareSection(in compareInput) compareSectionView {
	c := in.cmp
	v := compareSectionView{Title: compareTitle(c), Dir: in.dir, ReportLink: d.link(filepath.Join(in.dir, "report.md")), C: c,
		RefName: "FP32", Arms: compareArms(c), Stale: d.staleArms(c),
		Accuracy: d.image(in.dir, "accuracy.png", "test accuracy per epoch, "+compareTitle(c), in.hasAccuracyPlot)}
	if ref := c.reference(); ref == nil || ref.Backend != "fp32" {
		v.RefName, v.NoFP32 = c.Reference, true
	}
	return v
}

// staleArms finds the arms of a finished comparison that ran with other
// effective backend settings than their options give today: their labels
// (such as "rns") meant that mirage's defaults, and a reader must not take
// them for today's.
func (d *resultsDoc) staleArms(c *Comparison) []staleArm {
	var out []staleArm
	for _, a := range c.Arms {
		if a.Outcome == nil || a.Outcome.Summary.BackendConfig == nil {
			continue
		}
		b, recorded, err := settingsThenAndNow(&a.Outcome.Summary, a.Outcome.Summary.Config, d.cfg.Registries)
		if err != nil {
			out = append(out, staleArm{a.Label, fmt.Sprintf("options this mirage no longer accepts (%v)", err)})
			continue
		}
		if diff := train.BackendSettingsDiff(recorded, b); len(diff) > 0 {
			out = append(out, staleArm{a.Label, strings.Join(diff, "; ")})
		}
	}
	return out
}

// sweepSectionView is a sweep's section.
type sweepSectionView struct {
	Title, Dir, ReportLink, Description string
	Done, Total, Missing, Stale         int
	Partial                             bool
	First                               train.Config
	Bad                                 []badRun
	// Baselines are shown (ShowBaselines) before the narrowest-converter
	// and noise tables, which are measured against them.
	ShowBaselines bool
	Baselines     []rowResult
	Bits          *bitsAnalysis
	Noise         *noiseView
	// Rest are the rows no other table shows; Special is set when there
	// are other tables.
	Rest    []rowResult
	Special bool
	Plots   []imageView
}

// noiseView is the sweep's accuracy against noise σ.
type noiseView struct {
	Tables []noiseTable
	Plots  []imageView
}

func (d *resultsDoc) sweepSection(s *sweepInput) sweepSectionView {
	res := s.res
	v := sweepSectionView{Title: sweepTitle(s), Dir: s.dir, ReportLink: d.link(filepath.Join(s.dir, "report.md")),
		Description: strings.Join(strings.Fields(s.spec.Description), " "),
		Done:        len(res.Results), Total: res.Rows.Len(), Missing: res.Rows.Len() - len(res.Results), Stale: s.stale,
		Partial: s.partial, First: res.Rows.Row(0).Config, Bad: badRuns(res.Rows, res.Results)}
	rows := rowResults(res)
	covered := map[string]bool{}
	noise := hasKnob(rows, "noise-sigma")
	v.Bits = analyseBits(rows, d.option, d.model)
	if v.Bits != nil || noise {
		v.ShowBaselines, v.Baselines = true, fp32Rows(rows)
		for _, r := range v.Baselines {
			covered[r.Row.ID] = true
		}
	}
	if v.Bits != nil {
		v.Special = true
		for _, rs := range [][]rowResult{v.Bits.RNS, v.Bits.BFP} {
			for _, r := range rs {
				covered[r.Row.ID] = true
			}
		}
	}
	if noise {
		v.Special = true
		v.Noise = &noiseView{Tables: noiseTables(rows, covered)}
		var plots []string
		for _, p := range s.plots {
			if strings.HasPrefix(p, "accuracy-vs-noise-sigma") {
				plots = append(plots, p)
			}
		}
		if len(plots) == 0 {
			v.Noise.Plots = []imageView{d.image(s.dir, "accuracy-vs-noise-sigma.png", "accuracy vs noise-sigma", false)}
		}
		for _, p := range plots {
			v.Noise.Plots = append(v.Noise.Plots, d.image(s.dir, p, strings.TrimSuffix(p, ".png"), true))
		}
	}
	for _, r := range rows {
		if !covered[r.Row.ID] {
			v.Rest = append(v.Rest, r)
		}
	}
	for _, p := range s.plots {
		if !strings.HasPrefix(p, "accuracy-vs-noise-sigma") || !noise {
			v.Plots = append(v.Plots, d.image(s.dir, p, strings.TrimSuffix(p, ".png"), true))
		}
	}
	return v
}

// fullPartView is the document's full-length part: the planned
// comparisons, their seed summaries, and the width sweeps.
type fullPartView struct {
	Within, WidthWithin float64
	Seeds               []seedSectionView
	Full                []fullSectionView
	Widths              []widthSectionView
	// Unchosen is set when a width sweep has chosen no width yet.
	Unchosen bool
}

func (d *resultsDoc) fullPart() *fullPartView {
	v := &fullPartView{Within: Within, WidthWithin: WidthWithin}
	for _, g := range seedGroups(d.full) {
		v.Seeds = append(v.Seeds, seedSection(g))
	}
	for _, in := range d.full {
		v.Full = append(v.Full, d.fullSection(in))
	}
	for _, w := range d.widths {
		v.Unchosen = v.Unchosen || !w.choice.Found
		v.Widths = append(v.Widths, d.widthSection(w))
	}
	return v
}

// seedSectionView is the summary over seeds of comparisons that differ
// only in their seed.
type seedSectionView struct {
	Base   train.Config
	Seeds  []string
	Ref    string
	Sums   []seedSummary
	Spread float64
}

func seedSection(group []*fullInput) seedSectionView {
	v := seedSectionView{Base: group[0].plan.Base, Ref: referenceArm(group[0].plan.Arms)}
	for _, in := range group {
		v.Seeds = append(v.Seeds, strconv.FormatUint(in.plan.Base.Seed, 10))
	}
	v.Sums, v.Spread = seedSpread(seedRuns(group), v.Ref)
	return v
}

// fullSectionView is a planned full-length comparison.
type fullSectionView struct {
	Title     string
	Plan      CompareConfig
	Exists    bool
	ArmLabels string
	Finished  int
	// Limited is set when the comparison trains on part of the data.
	Limited bool
	Ref     string
	Rows    []parityRow
	// Notes are the finished arms that did not train normally.
	Notes []armProgress
	// Plot is nil when there is no plot (or no report listing what it
	// shows) yet; Plotted lists the arms it shows.
	Plot       *imageView
	Plotted    []string
	ReportLink string
}

func (d *resultsDoc) fullSection(in *fullInput) fullSectionView {
	p := in.plan
	v := fullSectionView{Title: in.title(), Plan: p, Exists: in.exists, ArmLabels: armLabels(p.Arms), Finished: in.Finished(),
		Limited: p.Base.TrainLimit > 0 || p.Base.TestLimit > 0, Ref: referenceArm(p.Arms)}
	v.Rows = parityRows(in.arms, v.Ref)
	for _, a := range in.arms {
		if a.State == armFinished && a.Outcome.Why != "" {
			v.Notes = append(v.Notes, a)
		}
	}
	if in.report != nil && in.hasAccuracyPlot {
		for _, a := range in.report.Arms {
			if a.Outcome != nil {
				v.Plotted = append(v.Plotted, a.Label)
			}
		}
		img := d.image(p.Out, "accuracy.png", "test accuracy per epoch, "+in.title(), true)
		v.Plot, v.ReportLink = &img, d.link(filepath.Join(p.Out, "report.md"))
	}
	return v
}

// widthSectionView is a short sweep choosing the narrowest ADC width.
type widthSectionView struct {
	Dir         string
	Run         bool // false: not run yet
	Description string
	Choice      widthChoice
	ReportLink  string
	Rows        []widthRow
}

func (d *resultsDoc) widthSection(in *widthInput) widthSectionView {
	v := widthSectionView{Dir: in.dir, Run: in.sweep != nil, Choice: in.choice, ReportLink: d.link(filepath.Join(in.dir, "report.md"))}
	if in.sweep != nil {
		v.Description = strings.Join(strings.Fields(in.sweep.spec.Description), " ")
		v.Rows = widthRows(in.runs, in.fp32, in.fp32OK)
	}
	return v
}
