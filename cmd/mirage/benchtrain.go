package main

import (
	"encoding/json"
	"fmt"
	"github.com/mirage-go/mirage/internal/limits"
	"io"
	"math"
	"runtime"
	"strings"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/bench"
	"github.com/mirage-go/mirage/experiment"
)

// benchTrainCommand implements `mirage bench train`: training examples per
// second (forward, loss, backward, optimizer step on synthetic data) of
// each model/batch case on each backend, the median of several timed
// repetitions after untimed warm-up steps, the backends of a case measured
// interleaved. args are the arguments after "bench train".
func benchTrainCommand(regs mirage.Registries, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench train", "bench train [--cases LIST] [--backends LIST] [--json]", stdout)
	caseList := fs.String("cases", "lenet:64,lenet:128,resnet20:128", "comma-separated MODEL:BATCH cases (models: "+strings.Join(regs.Models.Names(), ", ")+")")
	backendList := fs.String("backends", "fp32", "comma-separated backends, each with its defaults or with options as in mirage compare (e.g. fp32,rns,rns:rounding=stochastic); ratios are against the plain fp32")
	atLeast1 := limits.Int{Min: 1, Max: math.MaxInt}
	warmup := intFlag(fs, "warmup", 3, atLeast1, "untimed steps before measuring")
	steps := intFlag(fs, "steps", 5, atLeast1, "steps per timed repetition")
	reps := intFlag(fs, "reps", 5, atLeast1, "timed repetitions; the median is reported")
	asJSON := fs.Bool("json", false, `print a JSON array of {"model","batch","backend","examples_per_sec","step_ms","reps"} instead of a table`)
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole measurement to FILE (read it with go tool pprof)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cases, err := bench.ParseTrainCases(*caseList, regs.Models)
	if err != nil {
		return usageError{err}
	}
	reg := regs.Backends
	arms, err := experiment.ParseArms(*backendList, nil, reg)
	if err != nil {
		return usageError{err}
	}
	labels := make([]string, len(arms))
	for i, a := range arms {
		if _, err := reg.New(a.Backend, a.Options); err != nil { // check every arm before measuring
			return usageError{fmt.Errorf("--backends %s: %w", a.Label, err)}
		}
		labels[i] = a.Label
	}
	opts := bench.TrainOptions{Warmup: *warmup, Steps: *steps, Reps: *reps}
	stopProfile := func() error { return nil }
	if *cpuProfile != "" {
		if stopProfile, err = startCPUProfile(*cpuProfile); err != nil {
			return err
		}
	}
	var results []bench.TrainResult
	for _, c := range cases {
		// Fresh backends per case, so that statistics or state kept by one
		// measurement cannot affect the next; the backends of a case are
		// measured interleaved (see bench.MeasureTrainInterleaved).
		backends := make([]backend.Backend, len(arms))
		for i, a := range arms {
			b, err := reg.New(a.Backend, a.Options)
			if err != nil {
				return err
			}
			backends[i] = b
		}
		fmt.Fprintf(stderr, "measuring %s on %s ...\n", c, strings.Join(labels, ", "))
		rs, err := bench.MeasureTrainInterleaved(c, backends, opts)
		if err != nil {
			return err
		}
		for i := range rs {
			rs[i].Backend = labels[i] // the arm, options included, as compare names it
		}
		results = append(results, rs...)
	}
	if err := stopProfile(); err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(results)
	}
	fmt.Fprintf(stdout, "training speed, synthetic data; GOMAXPROCS %d; median of %d repetitions of %d steps after %d warm-up steps\n",
		runtime.GOMAXPROCS(0), *reps, *steps, *warmup)
	return bench.WriteTrainTable(stdout, results)
}
