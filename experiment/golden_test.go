package experiment

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/cost"
	"github.com/mirage-go/mirage/train"
)

// The golden tests render every document of this package from hand-made
// result directories and compare it byte for byte with testdata/*.golden.
// After an intended change of a document, rewrite them with
//
//	go test ./experiment -run Golden -update
//
// and review the diff of testdata/ like any other change.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// checkGolden compares got with testdata/name (given as an absolute path
// by goldenPath), or rewrites it under -update.
func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./experiment -run Golden -update to create it")
	require.Equal(t, string(want), got, "%s differs; if the change is intended, rerun with -update and review the diff", filepath.Base(path))
}

// goldenPath is testdata/name as an absolute path, so that a test may
// change its working directory afterwards.
func goldenPath(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	require.NoError(t, err)
	return p
}

// readFile returns the text of path.
func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(data)
}

// generatedAt matches the generation time in a sweep report, which is the
// time of writing.
var generatedAt = regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d UTC`)

// goldenFixtures writes, under the working directory, result directories
// covering every branch of the documents: comparisons with failed,
// diverged and collapsed arms and without an FP32 arm, costs and probes;
// sweeps over converter widths (answered, unanswerable, without FP32), noise
// and other knobs, complete and not; full-length comparisons finished,
// unfinished, absent and over seeds; and width sweeps run and not run.
func goldenFixtures(t *testing.T) ResultsConfig {
	cfg := fakeCompareConfig()

	// A comparison whose rns arm has a cost file and whose report has
	// probes, one of which a backend refused.
	require.NoError(t, os.MkdirAll("results/cmp/rns", 0o755))
	cf := train.CostFile{Accelerator: "mirage-1", Baseline: "gpu-1", Format: &cost.Format{Moduli: []int64{63, 64, 65}, Bits: 6, Tile: 128},
		Epochs: []train.CostEpoch{
			{Epoch: 1, Steps: 2, Accelerator: cost.Cost{Seconds: 1, Joules: 2}, Baseline: cost.Cost{Seconds: 3, Joules: 5}},
			{Epoch: 2, Steps: 2, Accelerator: cost.Cost{Seconds: 1, Joules: 3}, Baseline: cost.Cost{Seconds: 3, Joules: 7}},
		}}
	cf.Total.Accelerator.Total = cost.Cost{Seconds: 2, Joules: 5}
	cf.Total.Baseline.Total = cost.Cost{Seconds: 6, Joules: 12}
	cf.Total.Total = cost.Ratios{Speedup: 3, Energy: 2.4, EDP: 7.2}
	data, err := json.Marshal(cf)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile("results/cmp/rns/cost.json", data, 0o644))
	c := writeFakeCompare(t, "results/cmp", cfg, []fakeArm{
		{"fp32", "fp32", 0.98, OK}, {"rns", "rns", 0.975, OK}, {"bfp", "bfp", 0.9, Diverged}, {"analog", "analog", 0, Failed}})
	c.Arms[1].Outcome.Reused = true
	snr := 41.5
	c.Probes = []*ProbeReport{{Weights: "the initial weights", Batch: "the first 32 training images", Arms: []string{"rns", "bfp"},
		Rows: []ProbeRow{
			{Layer: "conv1", Role: "forward", Calls: 1, Shape: "32×6×25", Errors: []ProbeError{{RelErr: 0.0084, SNRdB: &snr}, {Exact: true}}},
			{Layer: "fc3", Role: "dW", Calls: 2, Shape: "10×84×32", Errors: []ProbeError{{RelErr: 0.02}, {Err: "tile too large"}}},
		},
		Total: []ProbeError{{RelErr: 0.01, SNRdB: &snr}, {Err: "tile too large"}}}}
	require.NoError(t, writeComparison("results/cmp", c))
	writeFakeCompare(t, "results/cmp-nofp32", cfg, []fakeArm{{"rns", "rns", 0.9, OK}, {"bfp", "bfp", 0.11, Collapsed}})

	writeFakeSweep(t, "results/bits", bitsSpec, map[string]fakeResult{"fp32/fp32": ok(0.99), "bfp/bfp-bits=3": ok(0.90),
		"bfp/bfp-bits=4": ok(0.987), "bfp/bfp-bits=5": ok(0.99), "k4/bfp-bits=3 rns-moduli=special-k4": diverged(),
		"k4/bfp-bits=4 rns-moduli=special-k4": ok(0.97), "k5/bfp-bits=3 rns-moduli=special-k5": ok(0.986),
		"k5/bfp-bits=4 rns-moduli=special-k5": ok(0.9905)})
	writeFakeSweep(t, "results/bits-none", bitsSpec, map[string]fakeResult{"fp32/fp32": ok(0.99), "bfp/bfp-bits=3": failed(),
		"bfp/bfp-bits=4": ok(0.95), "k4/bfp-bits=3 rns-moduli=special-k4": collapsed(0.1), "k5/bfp-bits=4 rns-moduli=special-k5": ok(0.97)})
	writeFakeSweep(t, "results/bits-nofp32", `
name: bfp only
base: {model: lenet, dataset: mnist, epochs: 2}
backend: bfp
grid: {bfp-bits: [4, 6]}
`, map[string]fakeResult{"/bfp-bits=4": ok(0.97), "/bfp-bits=6": ok(0.98)})
	writeFakeSweep(t, "results/noise", noiseSpec, map[string]fakeResult{
		"fp32/fp32": diverged(), "rns/noise-sigma=0.1 rrns-redundant=0": ok(0.989), "rns/noise-sigma=0.1 rrns-redundant=2": ok(0.991),
		"rns/noise-sigma=0.12 rrns-redundant=0": diverged(), "rns/noise-sigma=0.12 rrns-redundant=2": ok(0.988),
		"analog/adc-bits=8 noise-sigma=0.5": collapsed(0.11), "analog/adc-bits=8 noise-sigma=1": collapsed(0.10),
		"analog/adc-bits=12 noise-sigma=0.5": ok(0.98)})
	writeFakeSweep(t, "results/tiles", `
name: tiles
base: {model: lenet, dataset: mnist, epochs: 2}
groups:
  - {name: fp32, backend: fp32}
  - {name: rns, backend: rns, grid: {tile: [32, 64]}}
`, map[string]fakeResult{"fp32/fp32": ok(0.99), "rns/tile=32": failed(), "rns/tile=64": ok(0.9874)})

	base := cfg
	base.Epochs = 3
	arms := []Arm{{Label: "fp32", Backend: "fp32"}, {Label: "rns", Backend: "rns"}, {Label: "bfp", Backend: "bfp"},
		{Label: "analog_adc-bits=6", Backend: "analog", Options: map[string]string{"adc-bits": "6"}}}
	running := CompareConfig{Base: base, Arms: arms, Out: "results/running", Command: "mirage compare --out results/running"}
	writeArmRun(t, "results/running/fp32", base, arms[0], 3, 0.91)
	writeArmRun(t, "results/running/rns", base, arms[1], 1, 0.97)
	other := base
	other.Epochs = 2
	writeArmRun(t, "results/running/analog_adc-bits=6", other, arms[3], 2, 0.5)
	absent := CompareConfig{Base: base, Arms: arms[2:], Out: "results/absent", Command: "mirage compare --out results/absent"}
	var full []CompareConfig
	for seed, accs := range [][2]float64{{0.990, 0.992}, {0.986, 0.983}, {0.988, 0.11}} {
		c := base
		// Another learning rate than the comparisons above, which would
		// otherwise join these seeds as a fourth.
		c.Seed, c.LR = uint64(seed+1), 2*base.LR
		plan := CompareConfig{Base: c, Arms: arms[:2], Out: fmt.Sprintf("results/seed%d", seed+1), Command: "mirage compare --seed N"}
		writeArmRun(t, plan.Out+"/fp32", c, arms[0], 3, accs[0])
		writeArmRun(t, plan.Out+"/rns", c, arms[1], 3, accs[1])
		full = append(full, plan)
	}
	// The first seed's comparison finished with a report and its plot.
	writeFakeCompare(t, "results/seed1-report", cfg, []fakeArm{{"fp32", "fp32", 0.99, OK}, {"rns", "rns", 0.992, OK}})
	for _, name := range []string{"report.json", "accuracy.png"} {
		data, err := os.ReadFile("results/seed1-report/" + name)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile("results/seed1/"+name, data, 0o644))
	}
	writeFakeSweep(t, "results/adc", `
name: adc
description: |
  choose the
  narrowest ADC width
base: {model: lenet, dataset: mnist, epochs: 1, train_limit: 1000}
groups:
  - {name: fp32, backend: fp32}
  - {name: analog, backend: analog, grid: {adc-bits: [6, 8, 10]}}
`, map[string]fakeResult{"fp32/fp32": ok(0.60), "analog/adc-bits=6": collapsed(0.11), "analog/adc-bits=8": ok(0.595), "analog/adc-bits=10": ok(0.61)})
	return ResultsConfig{
		Registries:  testReg(),
		Full:        append(full, running, absent),
		WidthSweeps: []string{"results/adc", "results/adc-missing"},
		Compare:     []string{"results/cmp", "results/cmp-nofp32"},
		Sweep:       []string{"results/bits", "results/bits-none", "results/bits-nofp32", "results/noise", "results/tiles"},
		Out:         "RESULTS.md", Command: "mirage results --golden",
		Created: time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC), Machine: testMachine,
	}
}

func TestGoldenDocuments(t *testing.T) {
	golden := map[string]string{}
	for _, name := range []string{"results.golden", "compare_report.golden", "compare_report_nofp32.golden",
		"sweep_report_bits.golden", "sweep_report_bits_none.golden", "sweep_report_nofp32.golden", "sweep_report_noise.golden",
		"sweep_report_tiles.golden"} {
		golden[name] = goldenPath(t, name)
	}
	t.Chdir(t.TempDir())
	cfg := goldenFixtures(t)
	require.NoError(t, WriteResults(cfg))
	checkGolden(t, golden["results.golden"], readFile(t, "RESULTS.md"))
	checkGolden(t, golden["compare_report.golden"], readFile(t, "results/cmp/report.md"))
	checkGolden(t, golden["compare_report_nofp32.golden"], readFile(t, "results/cmp-nofp32/report.md"))
	for name, dir := range map[string]string{"sweep_report_bits.golden": "bits", "sweep_report_bits_none.golden": "bits-none",
		"sweep_report_nofp32.golden": "bits-nofp32", "sweep_report_noise.golden": "noise", "sweep_report_tiles.golden": "tiles"} {
		md := generatedAt.ReplaceAllString(readFile(t, "results/"+dir+"/report.md"), "2030-01-02 03:04 UTC")
		checkGolden(t, golden[name], md)
	}
}

// A template that fails is an error of the writer, never a panic.
func TestRenderErrorsAreErrors(t *testing.T) {
	_, err := render("no-such-template", nil)
	require.ErrorContains(t, err, "no-such-template")
	_, err = render("sweep_report.md.tmpl", struct{}{})
	require.ErrorContains(t, err, "rendering sweep_report.md.tmpl")
}
