package experiment

import (
	"math"

	"github.com/mirage-go/mirage/train"
)

// compareReport is what a comparison's report.md shows.
type compareReport struct {
	C    *Comparison
	Arms []compareArm
	// Epochs are the rows of the per-epoch table, 1 to the configured
	// number of epochs.
	Epochs []epochRow
	// Costs are the arms with a cost.json, in arm order.
	Costs []armCost
}

// compareArm is an arm's line of the results table: Delta is its final
// test accuracy minus the reference arm's in points, NaN for the
// reference itself or when either is unknown.
type compareArm struct {
	Arm    *ArmResult
	Status Status
	Delta  float64
}

// epochRow is one epoch of every arm: nil for an arm without it.
type epochRow struct {
	Epoch int
	Cells []*train.EpochMetrics
}

// compareArms computes the results table of a comparison.
func compareArms(c *Comparison) []compareArm {
	ref := c.reference()
	out := make([]compareArm, len(c.Arms))
	for i := range c.Arms {
		a := &c.Arms[i]
		r := compareArm{Arm: a, Status: a.status(), Delta: math.NaN()}
		if a.Outcome != nil && ref != nil && ref.Outcome != nil && a.Label != ref.Label {
			r.Delta = 100 * (a.Outcome.Summary.FinalTestAcc - ref.Outcome.Summary.FinalTestAcc)
		}
		out[i] = r
	}
	return out
}

// epochRows lays out the arms' per-epoch metrics, one row per epoch.
func epochRows(c *Comparison) []epochRow {
	rows := make([]epochRow, c.Config.Epochs)
	for e := range rows {
		rows[e].Epoch = e + 1
		for _, a := range c.Arms {
			var m *train.EpochMetrics
			if a.Outcome != nil && e < len(a.Outcome.Metrics) {
				m = &a.Outcome.Metrics[e]
			}
			rows[e].Cells = append(rows[e].Cells, m)
		}
	}
	return rows
}

// compareMarkdown renders the comparison as report.md; costs are the
// arms' cost files by label (armCosts).
func compareMarkdown(c *Comparison, costs map[string]*train.CostFile) string {
	return mustRender("compare_report.md.tmpl", compareReport{C: c, Arms: compareArms(c), Epochs: epochRows(c), Costs: armCostRows(c, costs)})
}

func settingsTable(cfg train.Config) string {
	return mustRender("settings", cfg)
}

func lastTrainLoss(ms []train.EpochMetrics) float64 {
	if len(ms) == 0 {
		return math.NaN()
	}
	return ms[len(ms)-1].TrainLoss
}
