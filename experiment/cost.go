package experiment

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/mirage-go/mirage/internal/atomicfile"
	"github.com/mirage-go/mirage/train"
)

// readCost reads a run's cost.json: nil when the run has none (backends
// that do not count their GEMM shapes, such as fp32).
func readCost(dir string) (*train.CostFile, error) {
	data, err := os.ReadFile(filepath.Join(dir, "cost.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c train.CostFile
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: unreadable cost.json: %v", dir, err)
	}
	return &c, nil
}

// armCosts returns the cost files of the arms that have one, by label.
func (c *Comparison) armCosts() map[string]*train.CostFile {
	out := map[string]*train.CostFile{}
	for _, a := range c.Arms {
		if a.Outcome == nil {
			continue
		}
		if cf, err := readCost(a.Outcome.Dir); err == nil && cf != nil {
			out[a.Label] = cf
		}
	}
	return out
}

// costMarkdown is the report's cost section: what each arm's training
// GEMMs would have cost on the accelerator and the baseline.
func (c *Comparison) costMarkdown() string {
	costs := c.armCosts()
	if len(costs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n## Hardware cost\n\n")
	b.WriteString("What each arm's training steps would have cost, from the GEMMs it actually made (shapes, counts, " +
		"tiles with a zero block skipped), priced by package cost (see COST.md) on the accelerator and on the baseline, " +
		"each at its preset's size (no iso scaling). Totals include the non-GEMM work, estimated and the same on both. " +
		"Arms without a cost.json (fp32) are left out. Ratios are baseline / accelerator.\n\n")
	b.WriteString("| arm | format | final test acc | accelerator | time | energy | EDP (J·s) | power | baseline | time | energy | speedup | energy ratio | EDP ratio |\n")
	b.WriteString("|---|---|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|\n")
	for _, a := range c.Arms {
		cf := costs[a.Label]
		if cf == nil {
			continue
		}
		acc, base, r := cf.Total.Accelerator.Total, cf.Total.Baseline.Total, cf.Total.Total
		format := "—"
		if cf.Format != nil {
			format = fmt.Sprintf("moduli %v, %d bits, tile %d", cf.Format.Moduli, cf.Format.Bits, cf.Format.Tile)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %.3g s | %.3g J | %.3g | %.3g W | %s | %.3g s | %.3g J | %.3gx | %.3gx | %.3gx |\n",
			a.Label, format, pct(a.Outcome.Summary.FinalTestAcc), cf.Accelerator, acc.Seconds, acc.Joules, acc.EDP(), acc.Watts(),
			cf.Baseline, base.Seconds, base.Joules, r.Speedup, r.Energy, r.EDP)
	}
	b.WriteString("\n![test accuracy against the energy spent](accuracy-vs-energy.png)\n")
	return b.String()
}

// energyChart draws test accuracy after each epoch against the energy
// spent so far on the accelerator, one line per arm with a cost.json, and
// the first such arm's GEMMs on the baseline as a dashed reference.
func (c *Comparison) energyChart() (chart, bool) {
	costs := c.armCosts()
	ch := chart{Title: fmt.Sprintf("%s on %s: accuracy against energy", c.Config.Model, c.Config.Dataset),
		XLabel: "energy of the training steps so far (J)", YLabel: "test accuracy (%)", LegendBottom: true}
	var ref *series
	for _, a := range c.Arms {
		cf := costs[a.Label]
		if cf == nil {
			continue
		}
		s := series{Label: a.Label + " on " + cf.Accelerator}
		base := series{Label: a.Label + "'s GEMMs on " + cf.Baseline, Reference: true}
		var accJ, baseJ float64
		for i, e := range cf.Epochs {
			if i >= len(a.Outcome.Metrics) {
				break
			}
			accJ += e.Accelerator.Joules
			baseJ += e.Baseline.Joules
			acc := 100 * a.Outcome.Metrics[i].TestAcc
			s.X, s.Y = append(s.X, accJ), append(s.Y, acc)
			base.X, base.Y = append(base.X, baseJ), append(base.Y, acc)
		}
		ch.Series = append(ch.Series, s)
		if ref == nil {
			ref = &base
		}
	}
	if ref == nil {
		return ch, false
	}
	ch.Series = append(ch.Series, *ref)
	return ch, true
}

// writeEnergyChart writes accuracy-vs-energy.png when an arm has costs.
func writeEnergyChart(dir string, c *Comparison) error {
	ch, ok := c.energyChart()
	if !ok {
		return nil
	}
	img, err := ch.png()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "accuracy-vs-energy.png"), img)
}

// CostColumns are a sweep row's cost columns: the run's training GEMMs
// (and the estimated non-GEMM work) on the accelerator and the baseline.
type CostColumns struct {
	Accelerator string  `json:"accelerator"`
	Baseline    string  `json:"baseline"`
	Seconds     float64 `json:"seconds"`
	Joules      float64 `json:"joules"`
	EDP         float64 `json:"edp"`
	BaseSeconds float64 `json:"baseline_seconds"`
	BaseJoules  float64 `json:"baseline_joules"`
	Speedup     float64 `json:"speedup"`
	EnergyRatio float64 `json:"energy_ratio"`
	EDPRatio    float64 `json:"edp_ratio"`
}

// costColumns reads a run directory's cost.json into columns; nil when
// there is none or it is unreadable (the row is still reported).
func costColumns(dir string) *CostColumns {
	cf, err := readCost(dir)
	if err != nil || cf == nil {
		return nil
	}
	a, b, r := cf.Total.Accelerator.Total, cf.Total.Baseline.Total, cf.Total.Total
	return &CostColumns{Accelerator: cf.Accelerator, Baseline: cf.Baseline, Seconds: a.Seconds, Joules: a.Joules, EDP: a.EDP(),
		BaseSeconds: b.Seconds, BaseJoules: b.Joules, Speedup: r.Speedup, EnergyRatio: r.Energy, EDPRatio: r.EDP}
}

// sweepCostMarkdown is the sweep report's cost table: accuracy against
// the energy of every run that has costs.
func sweepCostMarkdown(res *SweepResult) string {
	var b strings.Builder
	knobs := sweptKnobs(res.Rows)
	for r := range All(res.Rows) {
		got := res.Results[r.ID]
		if got == nil || got.Cost == nil {
			continue
		}
		if b.Len() == 0 {
			fmt.Fprintf(&b, "\n## Hardware cost\n\nWhat each run's training steps would have cost on %s and on %s "+
				"(package cost, see COST.md), from the GEMMs it made; totals include the estimated non-GEMM work. "+
				"Ratios are baseline / accelerator.\n\n| # | backend |", got.Cost.Accelerator, got.Cost.Baseline)
			for _, k := range knobs {
				fmt.Fprintf(&b, " %s |", k)
			}
			b.WriteString(" final test acc | time | energy | EDP (J·s) | baseline time | baseline energy | speedup | energy ratio | EDP ratio |\n|---:|---|")
			for range knobs {
				b.WriteString("---|")
			}
			b.WriteString("---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		}
		fmt.Fprintf(&b, "| %d | %s |", r.Index+1, r.Config.Backend)
		for _, k := range knobs {
			v, ok := knobValue(r, k)
			if !ok {
				v = "—"
			}
			fmt.Fprintf(&b, " %s |", v)
		}
		c := got.Cost
		fmt.Fprintf(&b, " %s | %.3g s | %.3g J | %.3g | %.3g s | %.3g J | %.3gx | %.3gx | %.3gx |\n",
			pct(float64(got.FinalTestAcc)), c.Seconds, c.Joules, c.EDP, c.BaseSeconds, c.BaseJoules, c.Speedup, c.EnergyRatio, c.EDPRatio)
	}
	return b.String()
}
