package experiment

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mirage-go/mirage/internal/atomicfile"
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

func writeSweepReport(cfg SweepConfig, res *SweepResult) error {
	charts := sweepCharts(res)
	names := make([]string, 0, len(charts))
	for name, c := range charts {
		img, err := c.png()
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(filepath.Join(cfg.Out, name), img); err != nil {
			return err
		}
		names = append(names, name)
	}
	sort.Strings(names)
	// Plots of knobs the spec no longer sweeps would be stale.
	old, _ := filepath.Glob(filepath.Join(cfg.Out, "accuracy-vs-*.png"))
	for _, path := range old {
		if _, current := charts[filepath.Base(path)]; !current {
			if err := os.Remove(path); err != nil {
				return err
			}
		}
	}
	return atomicfile.WriteFile(filepath.Join(cfg.Out, "report.md"), []byte(sweepMarkdown(cfg, res, names)))
}

func sweepMarkdown(cfg SweepConfig, res *SweepResult, plots []string) string {
	var b strings.Builder
	s := cfg.Spec
	title := s.Name
	if title == "" {
		title = "sweep"
	}
	fmt.Fprintf(&b, "# Sweep: %s\n\n", title)
	if s.Description != "" {
		fmt.Fprintf(&b, "%s\n\n", strings.TrimSpace(s.Description))
	}
	when := time.Now().UTC().Format("2006-01-02 15:04 UTC")
	if cfg.Command != "" {
		fmt.Fprintf(&b, "Generated by `%s` (%s).\n\n", cfg.Command, when)
	} else {
		fmt.Fprintf(&b, "Generated %s.\n\n", when)
	}
	done := len(res.Results)
	fmt.Fprintf(&b, "%d of %d runs finished or failed; every run of one training setting uses the same seed, "+
		"so it starts from the same weights and sees the same data order as the others.", done, res.Rows.Len())
	if res.Remaining > 0 || done < res.Rows.Len() {
		fmt.Fprintf(&b, " **The sweep is incomplete: %d runs are still to do; run the same command again to continue.**", res.Rows.Len()-done)
	}
	b.WriteString("\n\n")
	if res.Rows.Len() > 0 {
		b.WriteString("Training settings of the first run (a swept training setting varies from run to run):\n\n")
		b.WriteString(settingsTable(res.Rows.Row(0).Config))
	}

	var warnings []string
	for r := range All(res.Rows) {
		got := res.Results[r.ID]
		if got == nil {
			continue
		}
		switch got.Status {
		case Failed:
			warnings = append(warnings, fmt.Sprintf("row %d (%s) FAILED: %s", r.Index+1, r.Label(), got.Error))
		case Diverged:
			warnings = append(warnings, fmt.Sprintf("row %d (%s) DIVERGED: %s", r.Index+1, r.Label(), got.Why))
		case Collapsed:
			warnings = append(warnings, fmt.Sprintf("row %d (%s) COLLAPSED: %s", r.Index+1, r.Label(), got.Why))
		}
	}
	if len(warnings) > 0 {
		b.WriteString("\n## Warnings\n\n")
		for _, w := range warnings {
			fmt.Fprintf(&b, "- **%s**\n", w)
		}
	}

	if len(plots) > 0 {
		b.WriteString("\n## Plots\n\nFinal test accuracy against each swept knob; one line per combination of the other knobs.\n\n")
		for _, p := range plots {
			fmt.Fprintf(&b, "![%s](%s)\n\n", strings.TrimSuffix(p, ".png"), p)
		}
	}

	knobs := sweptKnobs(res.Rows)
	base := baselines(res)
	b.WriteString("\n## Runs\n\n")
	if len(base) > 0 {
		b.WriteString("Δ is the final test accuracy minus that of the FP32 row with the same training settings, in percentage points.\n\n")
	}
	b.WriteString("| # | backend |")
	for _, k := range knobs {
		fmt.Fprintf(&b, " %s |", k)
	}
	b.WriteString(" status | final test acc | Δ fp32 | best test acc | final test loss | wall time | img/s | backend error statistics |\n|---:|---|")
	for range knobs {
		b.WriteString("---|")
	}
	b.WriteString("---|---:|---:|---:|---:|---:|---:|---|\n")
	for r := range All(res.Rows) {
		fmt.Fprintf(&b, "| %d | %s |", r.Index+1, r.Config.Backend)
		for _, k := range knobs {
			v, ok := knobValue(r, k)
			if !ok {
				v = "—"
			}
			fmt.Fprintf(&b, " %s |", v)
		}
		got := res.Results[r.ID]
		if got == nil {
			b.WriteString(" not run yet | | | | | | | |\n")
			continue
		}
		delta := "—"
		if fp := base[trainingKey(r.Config)]; fp != nil && fp.ID != r.ID && got.Status != Failed {
			delta = fmt.Sprintf("%+.2f", 100*float64(got.FinalTestAcc-fp.FinalTestAcc))
		}
		stats := "—"
		if got.BackendStats != nil {
			stats = statsText(map[string]any{"backend": got.Backend, "total": got.BackendStats})
		}
		fmt.Fprintf(&b, " %s | %s | %s | %s | %s | %s | %s | %s |\n", statusText(got.Status),
			pct(float64(got.FinalTestAcc)), delta, pct(float64(got.BestTestAcc)), num(float64(got.FinalTestLoss)),
			seconds(float64(got.WallSeconds)), rate(float64(got.ImagesPerSec)), stats)
	}

	b.WriteString(sweepCostMarkdown(res)) // see cost.go
	b.WriteString("\n## Files\n\n")
	b.WriteString("- `results.jsonl`: one JSON object per finished run (accuracies as fractions; null for NaN)\n")
	b.WriteString("- `plan.json`: the spec, its number of rows and a digest of their IDs; `mirage sweep --spec FILE --dry-run` lists the rows (older sweeps list them in plan.json)\n")
	b.WriteString("- `runs/ID/`: each run's metrics.jsonl, summary.json and model.safetensors (ID is the row's `id`)\n")
	return b.String()
}

func seconds(x float64) string {
	if !finite(x) {
		return "—"
	}
	return fmt.Sprintf("%.1f s", x)
}

func rate(x float64) string {
	if !finite(x) || x <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f", x)
}
