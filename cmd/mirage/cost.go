package main

import (
	"encoding/json"
	"fmt"
	"github.com/mirage-go/mirage/internal/limits"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/rns"
	"github.com/mirage-go/mirage/bench"
	"github.com/mirage-go/mirage/cost"
	"github.com/mirage-go/mirage/layers"
	"github.com/mirage-go/mirage/models"
	"github.com/mirage-go/mirage/train"
)

func costCommand(reg mirage.Registries, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("cost", "cost [--model NAME] [--batch-size N] [--hw PRESET|--params FILE] [--baseline PRESET|--baseline-params FILE] [--iso none|energy|area] [--json]", stdout)
	model := fs.String("model", "resnet20", "model whose training step is priced: "+strings.Join(reg.Models.Names(), ", "))
	batch := intFlag(fs, "batch-size", 128, limits.Int{Min: 1, Max: 1 << 16}, "batch size of the step")
	hw := fs.String("hw", "mirage-isca24", "accelerator parameter preset: "+strings.Join(cost.Presets(), ", "))
	params := fs.String("params", "", "accelerator parameter file (YAML, see cost/presets); overrides --hw")
	baseline := fs.String("baseline", "systolic-bf16-128x128", "baseline parameter preset")
	baselineParams := fs.String("baseline-params", "", "baseline parameter file (YAML); overrides --baseline")
	isoName := fs.String("iso", "none", "scale the baseline's number of arrays before comparing: none, energy (equal power on the GEMMs) or area (equal area)")
	asJSON := fs.Bool("json", false, "print the comparison as JSON")
	from := fs.String("from", "", "price the GEMMs of a training run instead: its cost.json (written by mirage train --out DIR)")
	showPreset := fs.String("show-preset", "", "print a preset's parameter file (with the sources of its numbers) and exit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *showPreset != "" {
		data, err := cost.PresetSource(*showPreset)
		if err != nil {
			return usageError{err}
		}
		_, err = stdout.Write(data)
		return err
	}
	modelDesc, ok := reg.Models.Lookup(*model)
	if !ok {
		return usageError{fmt.Errorf("unknown --model %q (valid: %s)", *model, strings.Join(reg.Models.Names(), ", "))}
	}
	iso, err := cost.ParseIso(*isoName)
	if err != nil {
		return usageError{err}
	}
	accP, err := loadParams(*hw, *params)
	if err != nil {
		return err
	}
	baseP, err := loadParams(*baseline, *baselineParams)
	if err != nil {
		return err
	}
	acc, err := cost.New(accP)
	if err != nil {
		return err
	}
	base, err := cost.New(baseP)
	if err != nil {
		return err
	}
	var w cost.Workload
	if *from != "" {
		w, err = readRunCost(*from)
		*model, *batch = *from, 0
	} else {
		w, err = recordStep(modelDesc, *batch, accP.Format)
	}
	if err != nil {
		return err
	}
	cmp, err := cost.Compare(acc, base, w, iso)
	if err != nil {
		return err
	}
	if *asJSON {
		data, err := json.MarshalIndent(costReport{Model: *model, Batch: *batch, Steps: w.Steps, Records: w.Records, NonGEMM: w.NonGEMM, Comparison: cmp}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, string(data))
		return err
	}
	if *from != "" {
		fmt.Fprintf(stdout, "%s: %d training steps, %d GEMM calls in %d shapes\n", *from, w.Steps, countCalls(w.Records), len(w.Records))
	} else {
		fmt.Fprintf(stdout, "%s, batch %d, one training step: %d GEMM calls in %d shapes\n", *model, *batch, countCalls(w.Records), len(w.Records))
	}
	writeComparison(stdout, cmp, w.NonGEMM)
	return nil
}

// costReport is the JSON output of mirage cost.
type costReport struct {
	Model   string        `json:"model"`
	Batch   int           `json:"batch"`
	Steps   int64         `json:"steps"`
	Records []cost.Record `json:"records"`
	NonGEMM cost.NonGEMM  `json:"non_gemm_work"`
	cost.Comparison
}

// readRunCost reads the records of a run's cost.json.
func readRunCost(file string) (cost.Workload, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return cost.Workload{}, fmt.Errorf("--from: %w", err)
	}
	var cf train.CostFile
	if err := json.Unmarshal(data, &cf); err != nil {
		return cost.Workload{}, fmt.Errorf("--from %s: not a cost.json: %v", file, err)
	}
	if len(cf.Records) == 0 {
		return cost.Workload{}, fmt.Errorf("--from %s: no GEMM records", file)
	}
	if cf.Format != nil {
		if err := cf.Format.Validate(); err != nil {
			return cost.Workload{}, fmt.Errorf("--from %s: format: %w", file, err)
		}
	}
	var steps int64
	for _, e := range cf.Epochs {
		steps += e.Steps
	}
	return cost.Workload{Records: cf.Records, Format: cf.Format, NonGEMM: cf.NonGEMM, Steps: steps}, nil
}

// loadParams reads file if set, else the preset.
func loadParams(preset, file string) (*cost.Params, error) {
	if file != "" {
		return cost.Load(file)
	}
	p, err := cost.Preset(preset)
	if err != nil {
		return nil, usageError{err}
	}
	return p, nil
}

// recordStep runs one training step of model on synthetic data through the
// rns backend (noise-free) in format f (the default rns format when nil)
// and returns its GEMM records, from the backend's per-shape counts. A
// recorder around the backend counts the calls independently, and the two
// must agree: the rns backend is not a Convolver, so convolutions reach it
// as im2col GEMMs through MatMul, which the recorder sees one by one.
func recordStep(model models.Descriptor, batch int, f *cost.Format) (cost.Workload, error) {
	opts := backend.Options{"noise-sigma": "0", "stats-every": "0"}
	if f != nil {
		opts["rns-moduli"] = joinInts(f.Moduli)
		opts["bfp-bits"] = strconv.Itoa(f.Bits)
		opts["tile"] = strconv.Itoa(f.Tile)
		if len(f.Redundant) > 0 {
			opts["rrns-redundant"] = joinInts(f.Redundant)
		}
	}
	b, err := rns.Factory(opts)
	if err != nil {
		return cost.Workload{}, fmt.Errorf("the accelerator's format: %w", err)
	}
	rec := &backend.Recorder{Inner: b}
	step, err := bench.NewTrainStep(bench.TrainCase{Model: model, Batch: batch}, rec, 1)
	if err != nil {
		return cost.Workload{}, err
	}
	if err := step.Run(); err != nil {
		return cost.Workload{}, err
	}
	records := cost.FromShapes(b.(backend.ShapeReporter).GEMMShapes())
	if n, want := countCalls(records), int64(len(rec.Calls())); n != want {
		return cost.Workload{}, fmt.Errorf("internal error: the backend counted %d GEMMs, the recorder saw %d", n, want)
	}
	opsPerParam := float64(cost.OpsPerParamSGD)
	if model.Recipe.Optimizer == "adamw" {
		opsPerParam = cost.OpsPerParamAdamW
	}
	params := int64(layers.CountParams(step.Model))
	w := cost.Workload{Records: records, Steps: 1, NonGEMM: cost.EstimateNonGEMM(records, params, 1, opsPerParam)}
	if f != nil {
		w.Format = f
	}
	return w, nil
}

func joinInts(xs []int64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.FormatInt(x, 10)
	}
	return strings.Join(s, ",")
}

func countCalls(records []cost.Record) int64 {
	var n int64
	for _, r := range records {
		n += r.Count
	}
	return n
}

// writeComparison prints the per-layer table, the totals and the ratios.
func writeComparison(w io.Writer, c cost.Comparison, work cost.NonGEMM) {
	a, b := c.Accelerator, c.Baseline
	fmt.Fprintf(w, "accelerator %s (%d arrays, %.3g mm²) vs baseline %s (%d arrays, %.3g mm²), iso %s\n\n",
		a.Hardware, a.Arrays, a.AreaMM2, b.Hardware, b.Arrays, b.AreaMM2, c.Iso)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "layer\trole\tacc time\tacc energy\tbase time\tbase energy\tspeedup\tenergy ratio\t")
	brow := map[string]cost.Row{}
	for _, r := range b.Rows {
		brow[r.Layer+"/"+r.Role] = r
	}
	for _, r := range a.Rows {
		o := brow[r.Layer+"/"+r.Role]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Layer, r.Role, seconds(r.Seconds), joules(r.Joules),
			seconds(o.Seconds), joules(o.Joules), ratio(o.Seconds, r.Seconds), ratio(o.Joules, r.Joules))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\ttime\tenergy\tEDP (J·s)\tpower\t")
	for _, x := range []struct {
		name string
		c    cost.Cost
	}{{"accelerator GEMMs", a.GEMM}, {"baseline GEMMs", b.GEMM}, {"non-GEMM (each)", a.NonGEMM}, {"accelerator total", a.Total}, {"baseline total", b.Total}} {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.3g\t%s\t\n", x.name, seconds(x.c.Seconds), joules(x.c.Joules), x.c.EDP(), watts(x.c.Watts()))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nbaseline / accelerator, GEMMs: speedup %.3gx, energy %.3gx, EDP %.3gx, power %.3gx\n", c.GEMM.Speedup, c.GEMM.Energy, c.GEMM.EDP, c.GEMM.Power)
	fmt.Fprintf(w, "baseline / accelerator, total: speedup %.3gx, energy %.3gx, EDP %.3gx, power %.3gx\n", c.Total.Speedup, c.Total.Energy, c.Total.EDP, c.Total.Power)
	fmt.Fprintf(w, "non-GEMM work: %.3g FP32 ops (%s), on the same host for both\n", work.Ops, work.Basis)
	fmt.Fprintf(w, "\naccelerator GEMM energy by component: %s\n", components(a.GEMM))
	fmt.Fprintf(w, "baseline GEMM energy by component:    %s\n", components(b.GEMM))
}

// components lists a cost's energy components, largest first, with shares.
func components(c cost.Cost) string {
	keys := slices.Collect(maps.Keys(c.Energy))
	slices.SortFunc(keys, func(x, y string) int {
		if c.Energy[x] != c.Energy[y] {
			if c.Energy[x] > c.Energy[y] {
				return -1
			}
			return 1
		}
		return strings.Compare(x, y)
	})
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		share := 0.0
		if c.Joules > 0 {
			share = 100 * c.Energy[k] / c.Joules
		}
		parts = append(parts, fmt.Sprintf("%s %s (%.1f%%)", k, joules(c.Energy[k]), share))
	}
	return strings.Join(parts, ", ")
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3gx", a/b)
}

// si formats x with an SI prefix and unit.
func si(x float64, unit string) string {
	prefixes := []struct {
		scale float64
		p     string
	}{{1e3, "k"}, {1, ""}, {1e-3, "m"}, {1e-6, "µ"}, {1e-9, "n"}, {1e-12, "p"}}
	if x == 0 {
		return "0 " + unit
	}
	for _, p := range prefixes {
		if x >= p.scale {
			return fmt.Sprintf("%.3g %s%s", x/p.scale, p.p, unit)
		}
	}
	return fmt.Sprintf("%.3g %s", x, unit)
}

func seconds(x float64) string { return si(x, "s") }
func joules(x float64) string  { return si(x, "J") }
func watts(x float64) string   { return si(x, "W") }
