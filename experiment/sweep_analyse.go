package experiment

// The analysis behind a sweep's report, as pure functions over its typed
// rows: which knobs it sweeps, the FP32 baseline of each training setting,
// each row's distance to it, and the rows that did not train normally.

import (
	"math"
	"strings"

	"github.com/mirage-go/mirage/train"
)

// sweptKnobs lists the knob names of the rows, in first-seen order.
func sweptKnobs(rows Rows) []string {
	var names []string
	seen := map[string]bool{}
	for r := range All(rows) {
		for _, k := range r.Knobs {
			if !seen[k.Name] {
				seen[k.Name] = true
				names = append(names, k.Name)
			}
		}
	}
	return names
}

func knobValue(r Row, name string) (string, bool) {
	for _, k := range r.Knobs {
		if k.Name == name {
			return k.Value, true
		}
	}
	return "", false
}

// baselines maps the training settings of each plain FP32 row to its
// result, so other rows with the same settings can report their distance
// to FP32.
func baselines(res *SweepResult) map[string]*ResultRow {
	out := map[string]*ResultRow{}
	for r := range All(res.Rows) {
		got := res.Results[r.ID]
		if r.Config.Backend == "fp32" && len(r.Config.BackendOptions) == 0 && got != nil && got.Status != Failed {
			out[trainingKey(r.Config)] = got
		}
	}
	return out
}

func trainingKey(c train.Config) string {
	c.Backend, c.BackendOptions = "", nil
	return rowID(c)
}

// badRun is a row that did not train normally: failed, diverged or
// collapsed.
type badRun struct {
	Row Row
	Got *ResultRow
}

// Reason is the error of a failed row, or why a finished one is not
// normal.
func (b badRun) Reason() string {
	if b.Got.Status == Failed {
		return b.Got.Error
	}
	return b.Got.Why
}

// badRuns lists the rows, in order, whose result is not OK.
func badRuns(rows Rows, results map[string]*ResultRow) []badRun {
	var out []badRun
	for r := range All(rows) {
		got := results[r.ID]
		if got == nil {
			continue
		}
		switch got.Status {
		case Failed, Diverged, Collapsed:
			out = append(out, badRun{Row: r, Got: got})
		}
	}
	return out
}

// sweepRun is a row of a sweep report: the row, its value of every swept
// knob ("—" for a knob it does not set), its result (nil: not run yet),
// and Delta, its final test accuracy minus that of the FP32 row with the
// same training settings in points (NaN when there is none, the row is
// that FP32 row, or it failed).
type sweepRun struct {
	Row   Row
	Knobs []string
	Got   *ResultRow
	Delta float64
}

// sweepRuns computes the rows of a sweep report's tables.
func sweepRuns(res *SweepResult) []sweepRun {
	knobs := sweptKnobs(res.Rows)
	base := baselines(res)
	out := make([]sweepRun, 0, res.Rows.Len())
	for r := range All(res.Rows) {
		s := sweepRun{Row: r, Got: res.Results[r.ID], Delta: math.NaN()}
		for _, k := range knobs {
			v, ok := knobValue(r, k)
			if !ok {
				v = "—"
			}
			s.Knobs = append(s.Knobs, v)
		}
		if fp := base[trainingKey(r.Config)]; fp != nil && s.Got != nil && fp.ID != r.ID && s.Got.Status != Failed {
			s.Delta = 100 * float64(s.Got.FinalTestAcc-fp.FinalTestAcc)
		}
		out = append(out, s)
	}
	return out
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
