package experiment

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/mirage-go/mirage/train"
)

// series is one line of a chart.
type series struct {
	Label string
	X, Y  []float64
	// Reference draws a thin grey dashed line without markers: a baseline
	// to read the other lines against.
	Reference bool
}

// chart is a line chart with one line per series.
type chart struct {
	Title, XLabel, YLabel string
	Series                []series
	// XNames, when set, labels the integer x positions 0, 1, ... with
	// these names (a knob with non-numeric values such as moduli presets).
	XNames []string
	// LegendBottom puts the legend in the lower right corner, where rising
	// curves (accuracy) leave room.
	LegendBottom bool
}

// png renders the chart as a PNG image at 96 dpi: a 16×10 cm plot (about
// 600×380 pixels, a size that reads well embedded in GitHub Markdown) with
// the legend in a strip to its right, where it cannot hide a line. Points
// that are NaN or infinite (a diverged run) are left out; the series keeps
// its legend entry with a note.
func (c chart) png() ([]byte, error) {
	p := plot.New()
	p.Title.Text = c.Title
	p.X.Label.Text = c.XLabel
	p.Y.Label.Text = c.YLabel
	p.Add(plotter.NewGrid())
	legend := plot.NewLegend()
	legend.Top, legend.Left = true, true
	drawn, integral := false, true
	var labels []string
	for i, s := range c.Series {
		var pts plotter.XYs
		for j := range s.X {
			if finite(s.X[j]) && finite(s.Y[j]) {
				pts = append(pts, plotter.XY{X: s.X[j], Y: s.Y[j]})
				integral = integral && s.X[j] == math.Trunc(s.X[j])
			}
		}
		label := s.Label
		col := plotutil.Color(i)
		switch {
		case len(pts) == 0:
			// Still named in the legend, so a reader sees the run existed.
			label += " (no finite values)"
			labels = append(labels, label)
			legend.Add(label, &plotter.Line{LineStyle: draw.LineStyle{Color: col, Width: vg.Points(1.5), Dashes: []vg.Length{vg.Points(2), vg.Points(2)}}})
			continue
		case len(pts) < len(s.X):
			label += " (NaN/Inf points omitted)"
		}
		drawn = true
		labels = append(labels, label)
		if s.Reference {
			line, err := plotter.NewLine(pts)
			if err != nil {
				return nil, err
			}
			line.Color, line.Width = color.Gray{Y: 96}, vg.Points(1)
			line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			p.Add(line)
			legend.Add(label, line)
			continue
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, err
		}
		line.Color, line.Width = col, vg.Points(1.5)
		line.Dashes = plotutil.Dashes(i / len(plotutil.DefaultColors))
		// Distinct glyphs keep two lines with the same values (an A/A
		// comparison) both visible.
		points.Color, points.Shape = col, plotutil.Shape(i)
		p.Add(line, points)
		legend.Add(label, line, points)
	}
	if !drawn {
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
		p.Title.Text += " (no finite values)"
	}
	switch {
	case len(c.XNames) > 0:
		p.NominalX(c.XNames...)
		p.X.Min, p.X.Max = -0.5, float64(len(c.XNames))-0.5
	case drawn && integral:
		p.X.Tick.Marker = integerTicks{}
	}
	p.Y.Tick.Marker = preciseTicks{}

	var legendWidth vg.Length
	for _, l := range labels {
		legendWidth = max(legendWidth, legend.TextStyle.Width(" "+l))
	}
	legendWidth += legend.ThumbnailWidth + 4*vg.Millimeter
	legendWidth = min(legendWidth, 16*vg.Centimeter) // arms named by their options are long
	width, height := 16*vg.Centimeter+legendWidth, 10*vg.Centimeter
	img := vgimg.PngCanvas{Canvas: vgimg.New(width, height)}
	dc := draw.New(img)
	p.Draw(draw.Crop(dc, 0, -legendWidth, 0, 0))
	legend.Draw(draw.Crop(dc, width-legendWidth+2*vg.Millimeter, 0, 0, -8*vg.Millimeter))
	var buf bytes.Buffer
	if _, err := img.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("rendering %q: %w", c.Title, err)
	}
	return buf.Bytes(), nil
}

// preciseTicks are gonum's default ticks with labels of up to four
// significant digits, so that close values (losses of 2.21 and 2.19) do
// not get the same label.
type preciseTicks struct{}

func (preciseTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'g', 4, 64)
		}
	}
	return ticks
}

// integerTicks labels whole numbers only (epochs), about eight of them.
type integerTicks struct{}

func (integerTicks) Ticks(lo, hi float64) []plot.Tick {
	step := math.Max(1, math.Ceil((hi-lo)/8))
	var ticks []plot.Tick
	for x := math.Ceil(lo); x <= hi; x += step {
		ticks = append(ticks, plot.Tick{Value: x, Label: strconv.Itoa(int(x))})
	}
	return ticks
}

// epochCharts draws test accuracy and training loss per epoch, one line per
// labelled run.
func epochCharts(title string, labels []string, runs [][]train.EpochMetrics) (acc, loss chart) {
	acc = chart{Title: title + ": test accuracy", XLabel: "epoch", YLabel: "test accuracy (%)", LegendBottom: true}
	loss = chart{Title: title + ": training loss", XLabel: "epoch", YLabel: "mean training loss"}
	for i, ms := range runs {
		a := series{Label: labels[i]}
		l := series{Label: labels[i]}
		for _, m := range ms {
			a.X, a.Y = append(a.X, float64(m.Epoch)), append(a.Y, 100*m.TestAcc)
			l.X, l.Y = append(l.X, float64(m.Epoch)), append(l.Y, m.TrainLoss)
		}
		acc.Series = append(acc.Series, a)
		loss.Series = append(loss.Series, l)
	}
	return acc, loss
}
