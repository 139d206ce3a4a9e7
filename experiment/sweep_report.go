package experiment

import (
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/mirage-go/mirage/internal/atomicfile"
	"github.com/mirage-go/mirage/train"
)

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
	md, err := sweepMarkdown(cfg, res, names, time.Now())
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(cfg.Out, "report.md"), []byte(md))
}

// sweepReport is what a sweep's report.md shows.
type sweepReport struct {
	Title, Description string
	// Command is the command line that ran the sweep ("" when unknown);
	// Generated is when the report was written.
	Command, Generated string
	Done, Total        int
	// Incomplete: Missing rows have no result yet.
	Incomplete bool
	Missing    int
	// First is the training configuration of the first row.
	First       *train.Config
	Warnings    []badRun
	Plots       []string
	Knobs       []string
	HasBaseline bool
	Runs        []sweepRun
	// Costs are the runs with costs (Got.Cost set).
	Costs []sweepRun
}

// sweepMarkdown renders a sweep's report.md, generated at when, with the
// given plots (file names in the sweep's directory).
func sweepMarkdown(cfg SweepConfig, res *SweepResult, plots []string, when time.Time) (string, error) {
	v := sweepReport{Title: cfg.Spec.Name, Description: cfg.Spec.Description, Command: cfg.Command,
		Generated: when.UTC().Format("2006-01-02 15:04 UTC"), Done: len(res.Results), Total: res.Rows.Len(),
		Warnings: badRuns(res.Rows, res.Results), Plots: plots, Knobs: sweptKnobs(res.Rows),
		HasBaseline: len(baselines(res)) > 0, Runs: sweepRuns(res)}
	if v.Title == "" {
		v.Title = "sweep"
	}
	v.Missing = v.Total - v.Done
	v.Incomplete = res.Remaining > 0 || v.Missing > 0
	if res.Rows.Len() > 0 {
		first := res.Rows.Row(0).Config
		v.First = &first
	}
	for _, r := range v.Runs {
		if r.Got != nil && r.Got.Cost != nil {
			v.Costs = append(v.Costs, r)
		}
	}
	return render("sweep_report.md.tmpl", v)
}
