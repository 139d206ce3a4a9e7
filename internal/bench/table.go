package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteGEMMTable prints results as one row per shape and one GFLOP/s
// column per implementation, followed by mirage's speed-up over each other
// implementation.
func WriteGEMMTable(w io.Writer, results []Result) error {
	var impls []string
	seen := map[string]bool{}
	type row struct {
		shape  Shape
		gflops map[string]float64
	}
	var rows []*row
	byShape := map[Shape]*row{}
	for _, r := range results {
		if !seen[r.Impl] {
			seen[r.Impl] = true
			impls = append(impls, r.Impl)
		}
		rw := byShape[r.Shape]
		if rw == nil {
			rw = &row{shape: r.Shape, gflops: map[string]float64{}}
			byShape[r.Shape] = rw
			rows = append(rows, rw)
		}
		rw.gflops[r.Impl] = r.GFLOPS
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "shape\tm×n×k\t")
	for _, impl := range impls {
		fmt.Fprintf(tw, "%s GFLOP/s\t", impl)
	}
	for _, impl := range impls {
		if impl != "mirage" && seen["mirage"] {
			fmt.Fprintf(tw, "mirage/%s\t", impl)
		}
	}
	fmt.Fprintln(tw)
	for _, rw := range rows {
		fmt.Fprintf(tw, "%s\t%s\t", rw.shape.Name, rw.shape)
		for _, impl := range impls {
			fmt.Fprintf(tw, "%.1f\t", rw.gflops[impl])
		}
		for _, impl := range impls {
			if impl != "mirage" && seen["mirage"] {
				fmt.Fprintf(tw, "%.2fx\t", rw.gflops["mirage"]/rw.gflops[impl])
			}
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}
