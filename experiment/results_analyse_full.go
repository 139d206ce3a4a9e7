package experiment

// The analysis behind the full-length sections of the results document,
// as pure functions over typed rows (no Markdown, no files): the parity
// table of one comparison, the seed-to-seed summary of repeated
// comparisons, and the choice of the narrowest ADC width from a short
// sweep.

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// armState is how far an arm of a planned comparison has got.
type armState int

const (
	// armNotStarted: the arm's run directory holds nothing yet.
	armNotStarted armState = iota
	// armUnfinished: some epochs (possibly none) are done, the run has no
	// summary.json yet.
	armUnfinished
	// armFinished: the run wrote its summary.json.
	armFinished
	// armOther: the directory holds a run of other settings.
	armOther
)

// armProgress is one arm of a planned comparison as found on disk.
type armProgress struct {
	Arm
	State armState
	// EpochsDone and Epochs: finished epochs (lines of metrics.jsonl) of
	// the planned number.
	EpochsDone, Epochs int
	// StateSaved reports a resumable state in the run directory.
	StateSaved bool
	// Outcome is the finished run (armFinished only).
	Outcome *Outcome
	// Note says why an armOther arm is not this comparison's.
	Note string
}

// parityRow is an arm's line of a full-length table. Accuracies are
// fractions; Delta is in points against the reference arm and NaN unless
// both the arm and the reference finished.
type parityRow struct {
	Arm                    armProgress
	Final, Best, Delta     float64
	WallSeconds, ImagesSec float64
}

// parityRows computes the rows of a full-length table: final and best test
// accuracy, wall time and throughput of finished arms, and Δ to the
// reference arm (ref, a label) when both finished. Unfinished arms get NaN
// everywhere: a partial run is never reported as a final accuracy.
func parityRows(arms []armProgress, ref string) []parityRow {
	refAcc := math.NaN()
	for _, a := range arms {
		if a.Label == ref && a.State == armFinished {
			refAcc = a.Outcome.Summary.FinalTestAcc
		}
	}
	rows := make([]parityRow, len(arms))
	for i, a := range arms {
		r := parityRow{Arm: a, Final: math.NaN(), Best: math.NaN(), Delta: math.NaN(), WallSeconds: math.NaN(), ImagesSec: math.NaN()}
		if a.State == armFinished {
			s := a.Outcome.Summary
			r.Final, r.Best, r.WallSeconds, r.ImagesSec = s.FinalTestAcc, s.BestTestAcc, s.WallSeconds, a.Outcome.ImagesPerSec
			if a.Label != ref && a.Outcome.Status != Failed {
				r.Delta = 100 * (r.Final - refAcc)
			}
		}
		rows[i] = r
	}
	return rows
}

// seedRun is the final test accuracy of one arm in the comparison of one
// seed; OK is false for an arm that did not finish or did not train
// normally (it is then left out of the statistics).
type seedRun struct {
	Seed  uint64
	Label string
	Acc   float64
	OK    bool
}

// seedSummary summarises one arm label over seeds. Accuracies are in
// points (percent). MeanDelta is Mean minus the reference arm's mean over
// the same seeds, NaN when either is unknown.
type seedSummary struct {
	Label           string
	Seeds           int // seeds with a normal finished run
	Missing         int // seeds without one
	Mean, Min, Max  float64
	MeanDelta       float64
	WithinRefSpread bool // |MeanDelta| ≤ the reference's max−min
}

// seedSpread summarises runs per label, labels in first-seen order, and
// returns the reference label's spread (max − min over seeds, in points;
// NaN with fewer than two seeds): the yardstick for whether a Δ is noise.
// Means of other labels are compared with the reference's mean over the
// seeds both have, so a missing seed does not shift a Δ.
func seedSpread(runs []seedRun, ref string) ([]seedSummary, float64) {
	var labels []string
	by := map[string]map[uint64]float64{}
	seeds := map[uint64]bool{}
	missing := map[string]int{}
	for _, r := range runs {
		if by[r.Label] == nil {
			by[r.Label] = map[uint64]float64{}
			labels = append(labels, r.Label)
		}
		seeds[r.Seed] = true
		if r.OK && finite(r.Acc) {
			by[r.Label][r.Seed] = 100 * r.Acc
		}
	}
	for _, l := range labels {
		missing[l] = len(seeds) - len(by[l])
	}
	spread := math.NaN()
	if refs := by[ref]; len(refs) >= 2 {
		lo, hi := minMax(refs)
		spread = hi - lo
	}
	out := make([]seedSummary, 0, len(labels))
	for _, l := range labels {
		s := seedSummary{Label: l, Seeds: len(by[l]), Missing: missing[l], Mean: math.NaN(), Min: math.NaN(), Max: math.NaN(), MeanDelta: math.NaN()}
		if len(by[l]) > 0 {
			s.Mean = mean(by[l], nil)
			s.Min, s.Max = minMax(by[l])
		}
		if l != ref && len(by[l]) > 0 {
			var common []uint64
			for seed := range by[l] {
				if _, ok := by[ref][seed]; ok {
					common = append(common, seed)
				}
			}
			if len(common) > 0 {
				s.MeanDelta = mean(by[l], common) - mean(by[ref], common)
				s.WithinRefSpread = finite(spread) && math.Abs(s.MeanDelta) <= spread+1e-9
			}
		}
		out = append(out, s)
	}
	return out, spread
}

// mean of m over keys (all of m when keys is nil), summed in seed order so
// the result does not depend on map order.
func mean(m map[uint64]float64, keys []uint64) float64 {
	if keys == nil {
		for k := range m {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	sum := 0.0
	for _, k := range keys {
		sum += m[k]
	}
	return sum / float64(len(keys))
}

func minMax(m map[uint64]float64) (float64, float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range m {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	return lo, hi
}

// WidthWithin is the rule's margin for choosing the narrowest ADC width
// that trains: a width qualifies when its short run is within this many
// points of the short FP32 run. It is wider than [Within] because a short
// run (a fraction of the data, a few epochs) moves by about a point from
// seed to seed; it only chooses which width to train at full length and
// never decides parity, which the full-length runs do.
const WidthWithin = 1.0

// widthRun is one row of a converter-width sweep.
type widthRun struct {
	Bits int
	// Done: the row has a result. OK: it trained normally.
	Done, OK bool
	Acc      float64 // final test accuracy, fraction
}

// widthChoice is the answer of narrowestWidth.
type widthChoice struct {
	Bits  int    // 0 when none was chosen
	Why   string // the reason, in a sentence, either way
	Found bool
}

// narrowestWidth applies the width rule: the narrowest swept width w such
// that w and every wider swept width trained normally within within points
// of the FP32 run (fp32, a fraction; fp32OK false when the baseline did not
// finish normally). Requiring every wider width to qualify too keeps one
// lucky narrow run from being chosen. Nothing is chosen from an incomplete
// sweep, whose missing rows could change the answer.
func narrowestWidth(runs []widthRun, fp32 float64, fp32OK bool, within float64) widthChoice {
	if !fp32OK || !finite(fp32) {
		return widthChoice{Why: "the sweep's FP32 run has not finished normally, so no width can be measured against it"}
	}
	if len(runs) == 0 {
		return widthChoice{Why: "the sweep has no adc-bits rows"}
	}
	missing := 0
	for _, r := range runs {
		if !r.Done {
			missing++
		}
	}
	if missing > 0 {
		return widthChoice{Why: fmt.Sprintf("%d of the sweep's %d adc-bits runs have no result yet", missing, len(runs))}
	}
	sorted := append([]widthRun(nil), runs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Bits < sorted[j].Bits })
	chosen := -1
	for i := len(sorted) - 1; i >= 0; i-- {
		r := sorted[i]
		if !r.OK || 100*(r.Acc-fp32) < -within-1e-9 {
			break
		}
		chosen = i
	}
	if chosen < 0 {
		w := sorted[len(sorted)-1]
		return widthChoice{Why: fmt.Sprintf("not even the widest swept width (%d bits) trained within %g points of FP32", w.Bits, within)}
	}
	r := sorted[chosen]
	why := fmt.Sprintf("%d bits: %.2f%% against FP32's %.2f%% (%+.2f points), and every wider swept width within %g points too",
		r.Bits, 100*r.Acc, 100*fp32, 100*(r.Acc-fp32), within)
	if chosen > 0 {
		n := sorted[chosen-1]
		status := "did not train normally"
		if n.OK {
			status = fmt.Sprintf("reached %.2f%% (%+.2f points)", 100*n.Acc, 100*(n.Acc-fp32))
		}
		why += fmt.Sprintf("; %d bits %s", n.Bits, status)
	}
	return widthChoice{Bits: r.Bits, Found: true, Why: why}
}

// Done reports whether the arm finished (wrote its summary.json).
func (a armProgress) Done() bool { return a.State == armFinished }

// title names a planned comparison: model, data set and, for a seeded
// repetition, the seed.
func (in *fullInput) title() string {
	return fmt.Sprintf("%s on %s, seed %d", in.plan.Base.Model, in.plan.Base.Dataset, in.plan.Base.Seed)
}

// Finished counts the arms that finished.
func (in *fullInput) Finished() int {
	n := 0
	for _, a := range in.arms {
		if a.State == armFinished {
			n++
		}
	}
	return n
}

func armLabels(arms []Arm) string {
	l := make([]string, len(arms))
	for i, a := range arms {
		l[i] = a.Label
	}
	return strings.Join(l, ", ")
}

// seedGroups gathers planned comparisons that differ only in their seed
// (same training settings otherwise), one comparison per seed, in
// first-seen order; groups of one are left out. Their arms may differ: a
// second seed may rerun only some arms of the first, and seedRuns keeps
// the arms every member has. A comparison whose seed its group already has
// starts another group.
func seedGroups(full []*fullInput) [][]*fullInput {
	var keys []string
	by := map[string][][]*fullInput{}
	for _, in := range full {
		c := in.plan.Base
		c.Seed = 0
		k := trainingKey(c)
		if by[k] == nil {
			keys = append(keys, k)
		}
		i := slices.IndexFunc(by[k], func(g []*fullInput) bool {
			return !slices.ContainsFunc(g, func(o *fullInput) bool { return o.plan.Base.Seed == in.plan.Base.Seed })
		})
		if i < 0 {
			by[k] = append(by[k], nil)
			i = len(by[k]) - 1
		}
		by[k][i] = append(by[k][i], in)
	}
	var out [][]*fullInput
	for _, k := range keys {
		for _, g := range by[k] {
			if len(g) > 1 {
				out = append(out, g)
			}
		}
	}
	return out
}

// seedRuns are the final accuracies of the arms that every comparison of a
// seed group has.
func seedRuns(group []*fullInput) []seedRun {
	seen := map[string]int{}
	for _, in := range group {
		for _, a := range in.arms {
			seen[a.Label]++
		}
	}
	var runs []seedRun
	for _, in := range group {
		for _, a := range in.arms {
			if seen[a.Label] < len(group) {
				continue
			}
			r := seedRun{Seed: in.plan.Base.Seed, Label: a.Label, Acc: math.NaN()}
			if a.State == armFinished {
				r.Acc, r.OK = a.Outcome.Summary.FinalTestAcc, a.Outcome.Status == OK
			}
			runs = append(runs, r)
		}
	}
	return runs
}

// analyse finds a width sweep's FP32 run and adc-bits rows and applies the
// width rule to them.
func (in *widthInput) analyse(model modelOf) error {
	s, dir := in.sweep, in.dir
	for r := range All(s.res.Rows) {
		got := s.res.Results[r.ID]
		if isFP32Baseline(r) {
			if got != nil && got.Status == OK {
				in.fp32, in.fp32OK = float64(got.FinalTestAcc), true
			}
			continue
		}
		v, ok := knobValue(r, "adc-bits")
		if !ok || model(r.Config.Backend) != adcModel {
			continue
		}
		bits, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%s: row %d has adc-bits %q, not a whole number", dir, r.Index+1, v)
		}
		w := widthRun{Bits: bits, Acc: math.NaN()}
		if got != nil {
			w.Done, w.OK, w.Acc = true, got.Status == OK, float64(got.FinalTestAcc)
		}
		in.runs = append(in.runs, w)
	}
	in.choice = narrowestWidth(in.runs, in.fp32, in.fp32OK, WidthWithin)
	return nil
}

// widthRow is a line of a width sweep's table: Delta is in points against
// the FP32 run, NaN when either is unknown.
type widthRow struct {
	widthRun
	Delta float64
}

// widthRows sorts runs by width and measures each against fp32.
func widthRows(runs []widthRun, fp32 float64, fp32OK bool) []widthRow {
	out := make([]widthRow, len(runs))
	for i, r := range runs {
		out[i] = widthRow{widthRun: r, Delta: math.NaN()}
		if r.Done && fp32OK {
			out[i].Delta = 100 * (r.Acc - fp32)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Bits < out[j].Bits })
	return out
}
