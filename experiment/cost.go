package experiment

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

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

// armCost is an arm's line of the hardware cost table.
type armCost struct {
	Label, Format string
	FinalTestAcc  float64
	Watts         float64
	CostColumns
}

// armCostRows computes the cost table of a comparison: one row per arm
// with a cost file, in arm order.
func armCostRows(c *Comparison, costs map[string]*train.CostFile) []armCost {
	var out []armCost
	for _, a := range c.Arms {
		cf := costs[a.Label]
		if cf == nil {
			continue
		}
		r := armCost{Label: a.Label, Format: "—", FinalTestAcc: a.Outcome.Summary.FinalTestAcc,
			Watts: cf.Total.Accelerator.Total.Watts(), CostColumns: costColumnsOf(cf)}
		if cf.Format != nil {
			r.Format = fmt.Sprintf("moduli %v, %d bits, tile %d", cf.Format.Moduli, cf.Format.Bits, cf.Format.Tile)
		}
		out = append(out, r)
	}
	return out
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
	c := costColumnsOf(cf)
	return &c
}

// costColumnsOf is the columns of a cost file.
func costColumnsOf(cf *train.CostFile) CostColumns {
	a, b, r := cf.Total.Accelerator.Total, cf.Total.Baseline.Total, cf.Total.Total
	return CostColumns{Accelerator: cf.Accelerator, Baseline: cf.Baseline, Seconds: a.Seconds, Joules: a.Joules, EDP: a.EDP(),
		BaseSeconds: b.Seconds, BaseJoules: b.Joules, Speedup: r.Speedup, EnergyRatio: r.Energy, EDPRatio: r.EDP}
}
