package experiment

// The sweep report's plots: final test accuracy against each swept knob.

import (
	"math"
	"sort"
	"strconv"
	"strings"
)

// sweepCharts draws, for every knob with at least two values, the final
// test accuracy against that knob, one line per combination of the other
// knobs. A knob that several backends sweep gets one chart per backend,
// because its unit may differ between them (noise σ is in residue steps for
// rns and in ADC steps for analog).
func sweepCharts(res *SweepResult) map[string]chart {
	charts := map[string]chart{}
	base := baselines(res)
	for _, knob := range sweptKnobs(res.Rows) {
		// Rows by index, not the rows themselves: a chart of a large
		// sweep makes each row again rather than holding them all.
		byBackend := map[string][]int{}
		var backends []string
		for r := range All(res.Rows) {
			if _, ok := knobValue(r, knob); !ok {
				continue
			}
			b := r.Config.Backend
			if knob == "backend" {
				b = ""
			}
			if byBackend[b] == nil {
				backends = append(backends, b)
			}
			byBackend[b] = append(byBackend[b], r.Index)
		}
		for _, b := range backends {
			name, title := "accuracy-vs-"+sanitizeLabel(knob), "accuracy vs "+knob
			if len(backends) > 1 {
				name, title = name+"-"+sanitizeLabel(b), b+": "+title
			}
			if c, ok := knobChart(res, base, byBackend[b], knob, title); ok {
				charts[name+".png"] = c
			}
		}
	}
	return charts
}

// knobChart plots the final test accuracy of the rows at indexes against
// knob, one line per combination of their other knobs, with the sweep's
// FP32 baseline (fp, from baselines) when it has exactly one. It reports
// false when the rows hold fewer than two values of the knob.
func knobChart(res *SweepResult, fp map[string]*ResultRow, indexes []int, knob, title string) (chart, bool) {
	var xs []string
	seenX := map[string]bool{}
	numeric := true
	for _, i := range indexes {
		r := res.Rows.Row(i)
		if v, _ := knobValue(r, knob); !seenX[v] {
			seenX[v] = true
			xs = append(xs, v)
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				numeric = false
			}
		}
	}
	if len(xs) < 2 {
		return chart{}, false
	}
	pos := map[string]float64{}
	for i, v := range xs {
		pos[v] = float64(i)
		if numeric {
			pos[v], _ = strconv.ParseFloat(v, 64)
		}
	}
	lines := map[string]*series{}
	var order []string
	for _, i := range indexes {
		r := res.Rows.Row(i)
		v, _ := knobValue(r, knob)
		got := res.Results[r.ID]
		if got == nil || got.Status == Failed {
			continue
		}
		var key []string
		for _, k := range r.Knobs {
			if k.Name != knob {
				key = append(key, k.Name+"="+k.Value)
			}
		}
		label := strings.Join(key, ", ")
		if label == "" {
			label = r.Config.Backend
			if knob == "backend" {
				label = "final test accuracy"
			}
		}
		s := lines[label]
		if s == nil {
			s = &series{Label: label}
			lines[label] = s
			order = append(order, label)
		}
		s.X = append(s.X, pos[v])
		s.Y = append(s.Y, 100*float64(got.FinalTestAcc))
	}
	c := chart{Title: title, XLabel: knob, YLabel: "final test accuracy (%)"}
	if !numeric {
		c.XNames = xs
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, label := range order {
		s := lines[label]
		sort.Sort(byX{s})
		c.Series = append(c.Series, *s)
		for _, x := range s.X {
			lo, hi = math.Min(lo, x), math.Max(hi, x)
		}
	}
	// One FP32 baseline for the whole sweep: draw it across the plot.
	if len(fp) == 1 && knob != "backend" && lo < hi {
		for _, b := range fp {
			acc := 100 * float64(b.FinalTestAcc)
			c.Series = append(c.Series, series{Label: "fp32 baseline", X: []float64{lo, hi}, Y: []float64{acc, acc}, Reference: true})
		}
	}
	return c, true
}

type byX struct{ s *series }

func (b byX) Len() int           { return len(b.s.X) }
func (b byX) Less(i, j int) bool { return b.s.X[i] < b.s.X[j] }
func (b byX) Swap(i, j int) {
	b.s.X[i], b.s.X[j] = b.s.X[j], b.s.X[i]
	b.s.Y[i], b.s.Y[j] = b.s.Y[j], b.s.Y[i]
}
