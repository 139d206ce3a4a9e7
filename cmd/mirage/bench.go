package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime"
	"time"

	"github.com/mirage-go/mirage/internal/bench"
	"github.com/mirage-go/mirage/internal/gemm"
	"github.com/mirage-go/mirage/internal/limits"
)

// benchGEMMCommand implements `mirage bench gemm`: the median GFLOP/s of
// every GEMM implementation in this binary (mirage, gonum, and openblas
// when built with -tags openblas) on each shape, measured interleaved.
// args are the arguments after "bench gemm".
func benchGEMMCommand(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench gemm", "bench gemm [--json] [--shapes LIST] [--reps N]", stdout)
	asJSON := fs.Bool("json", false, `print a JSON array of {"impl","m","n","k","gflops"} instead of a table`)
	shapeList := fs.String("shapes", "", "comma-separated shapes: names of the default shapes (square256, square512, square1024,\n"+
		"lenet-conv2-fwd|dX|dW, resnet20-stage1-..., resnet20-stage3-...) or MxNxK with optional :tA/:tB (default: all default shapes)")
	reps := intFlag(fs, "reps", 7, limits.Int{Min: 1, Max: math.MaxInt}, "timed repetitions per shape and implementation; the median is reported")
	minRepFlag := &limits.DurationFlag{Name: "--min-rep-time", Range: limits.Duration{Min: 0, OpenMin: true}, Value: 50 * time.Millisecond}
	fs.Var(minRepFlag, "min-rep-time", "shortest repetition: fast products are repeated within one")
	minRep := &minRepFlag.Value
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	shapes := bench.DefaultShapes()
	if *shapeList != "" {
		var err error
		if shapes, err = bench.ParseShapes(*shapeList); err != nil {
			return usageError{err}
		}
	}
	mem, err := limits.ReadMemory()
	if err != nil {
		return err
	}
	for _, s := range shapes {
		if err := mem.Check("shape "+s.String(), s.Bytes(), "give smaller sizes to --shapes"); err != nil {
			return usageError{err}
		}
	}
	load := bench.LoadAverage()
	results, err := bench.MeasureGEMM(bench.Impls(), shapes, bench.Options{Reps: *reps, MinRepTime: *minRep})
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(results)
	}
	fmt.Fprintf(stdout, "mirage kernels: %s; GOMAXPROCS %d; median of %d repetitions\n", gemm.KernelName(), runtime.GOMAXPROCS(0), *reps)
	if load != "" {
		fmt.Fprintf(stdout, "load average before the run: %s, after: %s\n", load, bench.LoadAverage())
	}
	if info := bench.OpenBLASInfo(); info != "" {
		fmt.Fprintf(stdout, "openblas: %s\n", info)
	}
	return bench.WriteGEMMTable(stdout, results)
}
