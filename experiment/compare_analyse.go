package experiment

// The analysis behind a comparison's report.md, as pure functions over
// its typed arms: each arm's Δ to the reference arm and the per-epoch
// table. Its cost rows are in cost.go (armCostRows).

import (
	"math"

	"github.com/mirage-go/mirage/train"
)

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
