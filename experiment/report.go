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

// compareMarkdown renders the comparison as report.md; costs are the
// arms' cost files by label (armCosts).
func compareMarkdown(c *Comparison, costs map[string]*train.CostFile) (string, error) {
	return render("compare_report.md.tmpl", compareReport{C: c, Arms: compareArms(c), Epochs: epochRows(c), Costs: armCostRows(c, costs)})
}

func lastTrainLoss(ms []train.EpochMetrics) float64 {
	if len(ms) == 0 {
		return math.NaN()
	}
	return ms[len(ms)-1].TrainLoss
}
