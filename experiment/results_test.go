package experiment

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/train"
)

// The fakes below write experiment outputs through the package's own types
// and writers (Comparison and writeComparison, Plan, ResultRow and
// appendResult, writeSweepReport), so they stay in the format the real
// commands write; only the training is skipped.

type fakeArm struct {
	label, backend string
	acc            float64 // final test accuracy; NaN for a diverged arm
	status         Status  // Failed: the arm has no outcome
}

func fakeCompareConfig() train.Config {
	cfg := train.Recipe(testReg(), "lenet", "mnist")
	cfg.Epochs, cfg.TrainLimit, cfg.TestLimit, cfg.Seed = 2, 1000, 500, 7
	return cfg
}

func writeFakeCompare(t *testing.T, dir string, cfg train.Config, arms []fakeArm) *Comparison {
	t.Helper()
	c := &Comparison{Command: "mirage compare --out " + dir, Created: "2030-01-01 00:00 UTC", Config: cfg,
		Classes: 10, InitialWeights: strings.Repeat("ab", 32)}
	var list []Arm
	for _, a := range arms {
		list = append(list, Arm{Label: a.label, Backend: a.backend})
	}
	c.Reference = referenceArm(list)
	for i, a := range arms {
		r := ArmResult{Arm: list[i]}
		if a.status == Failed {
			r.Error = "backend refused the tile"
			c.Arms = append(c.Arms, r)
			continue
		}
		epochs := cfg.Epochs
		if a.status == Diverged {
			epochs = 1 // stopped early
		}
		o := &Outcome{Dir: filepath.Join(dir, a.label), Status: a.status, ImagesPerSec: 1000,
			Summary: train.Summary{Model: cfg.Model, Dataset: cfg.Dataset, Backend: a.backend, Epochs: cfg.Epochs,
				FinalTestAcc: a.acc, BestTestAcc: a.acc, FinalTestLoss: 0.1, WallSeconds: 12.5}}
		if a.status == Diverged {
			o.Summary.FinalTestLoss, o.Summary.Diverged = math.NaN(), true
			o.Why = "training stopped after 1 of 2 epochs"
		}
		if a.status == Collapsed {
			o.Why = "final test accuracy is at chance level"
		}
		for e := 1; e <= epochs; e++ {
			o.Metrics = append(o.Metrics, train.EpochMetrics{Epoch: e, TrainLoss: 0.5 / float64(e), TestAcc: a.acc, TestLoss: 0.1, ImagesPerSec: 1000})
		}
		r.Outcome = o
		c.Arms = append(c.Arms, r)
	}
	c.Warnings = c.warnings()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, writeComparison(dir, c))
	return c
}

// fakeResult is the outcome of a sweep row, named by "group/label".
type fakeResult struct {
	acc    float64
	status Status
}

func ok(acc float64) fakeResult        { return fakeResult{acc, OK} }
func diverged() fakeResult             { return fakeResult{math.NaN(), Diverged} }
func collapsed(acc float64) fakeResult { return fakeResult{acc, Collapsed} }
func failed() fakeResult               { return fakeResult{math.NaN(), Failed} }

func rowKey(r Row) string { return r.Group + "/" + r.Label() }

// writeFakeSweep plans spec and writes the sweep's files with the given
// results; rows without a result are left "not run yet".
func writeFakeSweep(t *testing.T, dir, spec string, results map[string]fakeResult) *SweepResult {
	t.Helper()
	s, err := ParseSpec([]byte(spec), "fake.yaml")
	require.NoError(t, err)
	rows, digest, err := planGrid(context.Background(), s, testReg())
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, writePlan(dir, s, rows.Len(), digest))
	res := &SweepResult{Rows: rows, Results: map[string]*ResultRow{}}
	used := 0
	for r := range All(rows) {
		f, found := results[rowKey(r)]
		if !found {
			continue
		}
		used++
		got := &ResultRow{ID: r.ID, Index: r.Index, Group: r.Group, Backend: r.Config.Backend, Knobs: r.Knobs,
			Options: r.Config.BackendOptions, Status: f.status, Config: r.Config, Dir: filepath.Join(dir, "runs", r.ID),
			FinalTestAcc: jsonFloat(f.acc), BestTestAcc: jsonFloat(f.acc), FinalTestLoss: 0.1, FinalTrainLoss: 0.2,
			WallSeconds: 3, ImagesPerSec: 500}
		switch f.status {
		case Failed:
			got.Error = "out of memory"
		case Diverged:
			got.Why = "loss became NaN or infinite in epoch 1"
		case Collapsed:
			got.Why = "final test accuracy is at chance level"
		}
		require.NoError(t, appendResult(filepath.Join(dir, "results.jsonl"), got))
		res.Results[r.ID] = got
	}
	var keys []string
	for r := range All(rows) {
		keys = append(keys, rowKey(r))
	}
	require.Equal(t, len(results), used, "every fake result names a row; the rows are %q", keys)
	require.NoError(t, writeSweepReport(SweepConfig{Registries: testReg(), Spec: s, Out: dir}, res))
	return res
}

var testMachine = &Machine{CPUModel: "Test CPU 3000", NumCPU: 12, GOMAXPROCS: 6, OS: "linux", Arch: "amd64", GoVersion: "go1.99"}

// writeDoc writes a results document into docs/RESULTS.md under root and
// returns its text.
func writeDoc(t *testing.T, root string, compares, sweeps []string) string {
	t.Helper()
	out := filepath.Join(root, "docs", "RESULTS.md")
	require.NoError(t, WriteResults(ResultsConfig{Registries: testReg(), Compare: compares, Sweep: sweeps, Out: out,
		Command: "mirage results --test", Created: time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC), Machine: testMachine}))
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	return string(data)
}

// line returns the first line of md that starts with prefix.
func line(t *testing.T, md, prefix string) string {
	t.Helper()
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	t.Fatalf("no line starts with %q in:\n%s", prefix, md)
	return ""
}

var linkPattern = regexp.MustCompile(`\]\(([^)]+)\)`)

// requireLinksResolve checks that every link and image of the document
// is relative and names an existing file, read from the document's
// directory.
func requireLinksResolve(t *testing.T, docDir, md string) int {
	t.Helper()
	n := 0
	for _, m := range linkPattern.FindAllStringSubmatch(md, -1) {
		target := strings.Trim(m[1], "<>")
		if strings.HasPrefix(target, "#") {
			continue
		}
		n++
		require.False(t, filepath.IsAbs(target), "link %q must be relative to the document", target)
		require.FileExists(t, filepath.Join(docDir, filepath.FromSlash(target)))
	}
	return n
}

func TestResultsCompareSection(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "runs", "lenet-mnist")
	c := writeFakeCompare(t, dir, fakeCompareConfig(), []fakeArm{
		{"fp32", "fp32", 0.99, OK},
		{"rns", "rns", 0.985, OK},
		{"bfp", "bfp", 0.9912, OK},
		{"analog", "analog", 0.1134, Collapsed},
		{"rns_noise-sigma=0.2", "rns", math.NaN(), Diverged},
		{"rns_tile=4096", "rns", 0, Failed},
	})
	require.Len(t, c.Warnings, 3, "collapsed, diverged and failed arms are warned about")
	md := writeDoc(t, root, []string{dir}, nil)

	// Header: generated, by which command, when, where.
	require.Contains(t, md, "do not edit it by hand")
	require.Contains(t, md, "    mirage results --test\n")
	require.Contains(t, md, "2030-01-02 03:04 UTC")
	require.Contains(t, md, "Test CPU 3000; 12 logical CPUs (runtime.NumCPU), GOMAXPROCS 6")

	// Overview: one row per comparison, a column per arm.
	over := line(t, md, "| [lenet on mnist](#lenet-on-mnist) |")
	for _, want := range []string{"99.00% (reference)", "98.50% (-0.50)", "99.12% (+0.12)", "11.34% (-87.66) **COLLAPSED**", "**DIVERGED**", "**FAILED**"} {
		require.Contains(t, over, want)
	}
	// Every warning of the report, verbatim, in the section and in the
	// overview's list of runs that did not train normally.
	for _, w := range c.Warnings {
		require.Contains(t, md, "- **"+w+"**\n")
		require.Contains(t, md, "lenet on mnist ("+dir+"): "+w)
	}
	// Shared settings.
	for _, want := range []string{"| epochs | 2 |", "| training examples | 1000 (spread evenly through the set) |", "| test examples | 500 (spread evenly through the set) |", "| batch size | 64 |", "| seed | 7 |"} {
		require.Contains(t, md, want)
	}
	// One table row per arm.
	for _, tc := range []struct{ prefix, want string }{
		{"| fp32 |", "| ok | 2/2 | 99.00% | 99.00% | — | 0.2500 | 12.5 s | 1000 |"},
		{"| rns |", "| ok | 2/2 | 98.50% | 98.50% | -0.50 |"},
		{"| bfp |", "| ok | 2/2 | 99.12% | 99.12% | +0.12 |"},
		{"| analog |", "| **COLLAPSED** | 2/2 | 11.34% | 11.34% | -87.66 |"},
		{"| rns_noise-sigma=0.2 |", "| **DIVERGED** | 1/2 | NaN | NaN | — |"},
		{"| rns_tile=4096 |", "| **FAILED** | — |"},
	} {
		require.Contains(t, line(t, md, tc.prefix), tc.want, tc.prefix)
	}
	require.Contains(t, md, "Arm rns_tile=4096 failed: backend refused the tile")

	// The report is linked and the curves embedded, relative to docs/.
	require.Contains(t, md, "[report](../runs/lenet-mnist/report.md)")
	require.Contains(t, md, "](../runs/lenet-mnist/accuracy.png)")
	require.Equal(t, 2, requireLinksResolve(t, filepath.Join(root, "docs"), md))
}

// An arm labelled by a backend's defaults that ran when the defaults were
// others is named with the settings that differ, so that no reader takes
// its accuracy for today's defaults'; arms whose settings are today's are
// not.
func TestResultsNamesArmsThatRanAtOtherDefaults(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "runs", "lenet-mnist")
	cfg := fakeCompareConfig()
	c := writeFakeCompare(t, dir, cfg, []fakeArm{{"fp32", "fp32", 0.99, OK}, {"rns", "rns", 0.985, OK}, {"bfp", "bfp", 0.99, OK}})
	for i := range c.Arms {
		o := c.Arms[i].Outcome
		o.Summary.Config = cfg
		o.Summary.Config.Backend = c.Arms[i].Backend
		b, err := train.NewBackend(o.Summary.Config, testReg())
		require.NoError(t, err)
		conf, ok := b.(backend.Configurer)
		if !ok {
			continue // fp32 records no settings
		}
		data, err := json.Marshal(conf.Config())
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(data, &m))
		if c.Arms[i].Label == "rns" { // as if it ran at the 6-bit defaults
			m["bfp_bits"], m["rns_moduli"] = 6, []int{63, 64, 65}
		}
		o.Summary.BackendConfig = m
	}
	require.NoError(t, writeComparison(dir, c))
	md := writeDoc(t, root, []string{dir}, nil)
	require.Contains(t, md, "**Arms that ran at other defaults.**")
	require.Contains(t, md, "- rns: bfp_bits: 6 → 7; ")
	require.Contains(t, md, "rns_moduli: [63,64,65] → [127,128,129]")
	require.NotContains(t, md, "- bfp: ")
	require.NotContains(t, md, "- fp32: ")
}

// bitsSpec sweeps BFP widths without RNS and two moduli sets with two
// widths each, against FP32: rows 1 fp32; 2-4 bfp 3, 4, 5; 5-6 k4 with
// 3, 4 bits; 7-8 k5 with 3, 4 bits.
const bitsSpec = `
name: bits
description: narrow converters
base: {model: lenet, dataset: mnist, epochs: 2}
options: {tile: 32}
groups:
  - name: fp32
    backend: fp32
  - name: bfp
    backend: bfp
    grid: {bfp-bits: [3, 4, 5]}
  - name: k4
    backend: rns
    grid: {rns-moduli: [special-k4], bfp-bits: [3, 4]}
  - name: k5
    backend: rns
    grid: {rns-moduli: [special-k5], bfp-bits: [3, 4]}
`

func TestResultsNarrowestConverters(t *testing.T) {
	const (
		fp   = "fp32/fp32"
		b3   = "bfp/bfp-bits=3"
		b4   = "bfp/bfp-bits=4"
		b5   = "bfp/bfp-bits=5"
		k4b3 = "k4/bfp-bits=3 rns-moduli=special-k4"
		k4b4 = "k4/bfp-bits=4 rns-moduli=special-k4"
		k5b3 = "k5/bfp-bits=3 rns-moduli=special-k5"
		k5b4 = "k5/bfp-bits=4 rns-moduli=special-k5"
	)
	for _, tc := range []struct {
		name    string
		results map[string]fakeResult
		want    []string          // substrings of the document
		rows    map[string]string // table line prefix → substring of that line
	}{
		{
			name: "narrower sets fall short or diverge",
			results: map[string]fakeResult{fp: ok(0.99), b3: ok(0.90), b4: ok(0.987), b5: ok(0.99),
				k4b3: diverged(), k4b4: ok(0.97), k5b3: ok(0.986), k5b4: ok(0.9905)},
			want: []string{
				"RNS: narrowest moduli set within 0.5 points of FP32: **special-k5 = {31, 32, 33}** (largest modulus 33, 5.04 bits), row 7 with bfp-bits 3: 98.60% (-0.40)",
				"RNS: narrowest BFP width within 0.5 points of FP32: **3 bits**, row 7",
				"BFP without noise: narrowest width within 0.5 points of FP32: **4 bits**, row 3: 98.70% (-0.30)",
				"FP32 baseline, row 1: final test accuracy **99.00%**",
				"- **row 5 (bfp-bits=3 rns-moduli=special-k4, backend rns) DIVERGED: loss became NaN or infinite in epoch 1**",
			},
			rows: map[string]string{
				"| 5 | k4 |":  "| special-k4 = {15, 16, 17} | 17 (4.09 bits) | 3 | — | **DIVERGED** | NaN | — | no |",
				"| 6 | k4 |":  "| ok | 97.00% | -2.00 | no |",
				"| 7 | k5 |":  "| ok | 98.60% | -0.40 | yes |",
				"| 8 | k5 |":  "| ok | 99.05% | +0.05 | yes |",
				"| 2 | bfp |": "| 3 | — | ok | 90.00% | -9.00 | no |",
				"| 3 | bfp |": "| 4 | — | ok | 98.70% | -0.30 | yes |",
			},
		},
		{
			// 100·(0.895 − 0.9) is −0.5000000000000004 in float64.
			name: "exactly half a point qualifies",
			results: map[string]fakeResult{fp: ok(0.9), b3: ok(0.895), b4: ok(0.9), b5: ok(0.9),
				k4b3: ok(0.895), k4b4: ok(0.85), k5b3: ok(0.9), k5b4: ok(0.9)},
			want: []string{
				"narrowest moduli set within 0.5 points of FP32: **special-k4 = {15, 16, 17}**",
				"RNS: narrowest BFP width within 0.5 points of FP32: **3 bits**, row 5",
				"BFP without noise: narrowest width within 0.5 points of FP32: **3 bits**, row 2: 89.50% (-0.50)",
			},
		},
		{
			name: "a collapsed run never qualifies, whatever its accuracy",
			results: map[string]fakeResult{fp: ok(0.99), b3: collapsed(0.99), b4: ok(0.99), b5: ok(0.99),
				k4b3: collapsed(0.99), k4b4: ok(0.99), k5b3: ok(0.99), k5b4: ok(0.99)},
			want: []string{
				"**special-k4 = {15, 16, 17}** (largest modulus 17, 4.09 bits), row 6 with bfp-bits 4",
				"RNS: narrowest BFP width within 0.5 points of FP32: **3 bits**, row 7",
				"BFP without noise: narrowest width within 0.5 points of FP32: **4 bits**, row 3",
			},
		},
		{
			name: "none within half a point",
			results: map[string]fakeResult{fp: ok(0.99), b3: ok(0.90), b4: ok(0.98), b5: ok(0.984),
				k4b3: diverged(), k4b4: collapsed(0.11), k5b3: ok(0.95), k5b4: ok(0.98)},
			want: []string{
				"RNS: narrowest moduli set within 0.5 points of FP32: **none**; the closest normal run, row 8 (bfp-bits=4 rns-moduli=special-k5), is at -1.00 points",
				"RNS: narrowest BFP width within 0.5 points of FP32: **none**",
				"BFP without noise: narrowest width within 0.5 points of FP32: **none**; the closest normal run, row 4 (bfp-bits=5), is at -0.60 points",
				"**row 6 (bfp-bits=4 rns-moduli=special-k4, backend rns) COLLAPSED",
			},
			rows: map[string]string{"| 6 | k4 |": "| **COLLAPSED** | 11.00% | -88.00 | no |"},
		},
		{
			name:    "no FP32 baseline",
			results: map[string]fakeResult{fp: failed(), b3: ok(0.99), k5b3: ok(0.99)},
			want: []string{
				"FP32 baseline, row 1: **FAILED**",
				"RNS: cannot be answered, the sweep has no finished FP32 run",
				"BFP without noise: cannot be answered",
				"**The sweep is incomplete: 5 of 8 runs have no result yet",
			},
			rows: map[string]string{"| 5 | k4 |": "| not run yet | — | — | — |", "| 7 | k5 |": "| ok | 99.00% | — | — |"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "sweeps", "bits")
			writeFakeSweep(t, dir, bitsSpec, tc.results)
			md := writeDoc(t, root, nil, []string{dir})
			for _, w := range tc.want {
				require.Contains(t, md, w)
			}
			for prefix, w := range tc.rows {
				require.Contains(t, line(t, md, prefix), w, prefix)
			}
			// The answers also head the document.
			overview := md[:strings.Index(md, "## Sweep bits")]
			require.Contains(t, overview, "Sweep bits — RNS:")
			require.Contains(t, overview, "Sweep bits — BFP without noise:")
			require.NotContains(t, md, "### Other runs", "every row belongs to the converter tables")
			require.Positive(t, requireLinksResolve(t, filepath.Join(root, "docs"), md))
		})
	}
}

const noiseSpec = `
name: noise
description: accuracy against noise
base: {model: lenet, dataset: mnist, epochs: 2}
groups:
  - name: fp32
    backend: fp32
  - name: rns
    backend: rns
    options: {rns-moduli: special-k6, bfp-bits: 6, tile: 128}
    grid: {noise-sigma: [0.1, 0.12], rrns-redundant: [0, 2]}
  - name: analog
    backend: analog
    options: {bfp-bits: 6, tile: 128}
    grid: {noise-sigma: [0.5, 1], adc-bits: [8, 12]}
`

func TestResultsNoiseTable(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "noise")
	writeFakeSweep(t, dir, noiseSpec, map[string]fakeResult{
		"fp32/fp32":                             ok(0.99),
		"rns/noise-sigma=0.1 rrns-redundant=0":  ok(0.989),
		"rns/noise-sigma=0.1 rrns-redundant=2":  ok(0.991),
		"rns/noise-sigma=0.12 rrns-redundant=0": diverged(),
		"rns/noise-sigma=0.12 rrns-redundant=2": ok(0.988),
		"analog/adc-bits=8 noise-sigma=0.5":     collapsed(0.11),
		"analog/adc-bits=8 noise-sigma=1":       collapsed(0.10),
		"analog/adc-bits=12 noise-sigma=0.5":    ok(0.98),
		// adc-bits=12 noise-sigma=1 has not run yet.
	})
	md := writeDoc(t, root, nil, []string{dir})

	require.Contains(t, md, "| σ | rrns-redundant=0 | rrns-redundant=2 |")
	require.Equal(t, "| 0.1 | 98.90% (-0.10) | 99.10% (+0.10) |", line(t, md, "| 0.1 |"))
	require.Equal(t, "| 0.12 | **DIVERGED** | 98.80% (-0.20) |", line(t, md, "| 0.12 |"))
	require.Contains(t, md, "| σ | adc-bits=8 | adc-bits=12 |")
	require.Equal(t, "| 0.5 | 11.00% (-88.00) **COLLAPSED** | 98.00% (-1.00) |", line(t, md, "| 0.5 |"))
	require.Equal(t, "| 1 | 10.00% (-89.00) **COLLAPSED** | not run yet |", line(t, md, "| 1 |"))
	require.Contains(t, md, "FP32 baseline, row 1: final test accuracy **99.00%**")
	require.Contains(t, md, "**The sweep is incomplete: 1 of 9 runs have no result yet")
	require.Contains(t, md, "row 4 (noise-sigma=0.12 rrns-redundant=0, backend rns) DIVERGED")
	require.NotContains(t, md, "Narrowest moduli", "a noise sweep varies neither moduli nor BFP width")
	require.NotContains(t, md, "### Other runs")
	// The sweep drew one noise plot per backend; both are embedded.
	require.FileExists(t, filepath.Join(dir, "accuracy-vs-noise-sigma-rns.png"))
	require.Contains(t, md, "](../noise/accuracy-vs-noise-sigma-rns.png)")
	require.Contains(t, md, "](../noise/accuracy-vs-noise-sigma-analog.png)")
	requireLinksResolve(t, filepath.Join(root, "docs"), md)
}

func TestResultsOtherSweepsGetAPlainTable(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "tiles")
	writeFakeSweep(t, dir, `
name: tiles
base: {model: lenet, dataset: mnist, epochs: 2}
groups:
  - name: fp32
    backend: fp32
  - name: rns
    backend: rns
    grid: {tile: [32, 64]}
`, map[string]fakeResult{"fp32/fp32": ok(0.99), "rns/tile=32": failed(), "rns/tile=64": ok(0.9874)})
	md := writeDoc(t, root, nil, []string{dir})
	require.Contains(t, md, "### Runs\n")
	require.Contains(t, line(t, md, "| 1 | fp32 |"), "| ok | 99.00% | (baseline) |")
	require.Contains(t, line(t, md, "| 2 | rns |"), "| tile=32 | **FAILED** | — | — |")
	require.Contains(t, line(t, md, "| 3 | rns |"), "| tile=64 | ok | 98.74% | -0.26 | 98.74% | 0.2000 | 3.0 s | 500 |")
	require.Contains(t, md, "row 2 (tile=32, backend rns) FAILED: out of memory")
	require.NotContains(t, md, "Narrowest")
	require.Contains(t, md, "](../tiles/accuracy-vs-tile.png)")
}

func TestResultsRefusesMissingOrWrongDirectories(t *testing.T) {
	root := t.TempDir()
	cmp := filepath.Join(root, "cmp")
	writeFakeCompare(t, cmp, fakeCompareConfig(), []fakeArm{{"fp32", "fp32", 0.99, OK}})
	sweep := filepath.Join(root, "sweep")
	writeFakeSweep(t, sweep, bitsSpec, map[string]fakeResult{"fp32/fp32": ok(0.99)})
	empty := filepath.Join(root, "empty")
	require.NoError(t, os.MkdirAll(empty, 0o755))
	planOnly := filepath.Join(root, "plan-only")
	require.NoError(t, os.MkdirAll(planOnly, 0o755))
	data, err := os.ReadFile(filepath.Join(sweep, "plan.json"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(planOnly, "plan.json"), data, 0o644))
	badJSON := filepath.Join(root, "bad-json")
	require.NoError(t, os.MkdirAll(badJSON, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(badJSON, "report.json"), []byte("{not json"), 0o644))
	badLine := filepath.Join(root, "bad-line")
	require.NoError(t, os.MkdirAll(badLine, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(badLine, "plan.json"), data, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(badLine, "results.jsonl"), []byte("garbage\n{}\n"), 0o644))
	missing := filepath.Join(root, "nope")

	for _, tc := range []struct {
		name             string
		compares, sweeps []string
		want             []string
	}{
		{"nothing", nil, nil, []string{"nothing to report"}},
		{"missing compare dir", []string{missing}, nil, []string{missing + ": no such directory", "mirage compare"}},
		{"missing sweep dir", nil, []string{missing}, []string{missing + ": no such directory", "mirage sweep"}},
		{"no report.json", []string{empty}, nil, []string{empty + ": no report.json", "mirage compare --out " + empty}},
		{"sweep given as compare", []string{sweep}, nil, []string{sweep + ": no report.json", "pass it with --sweep"}},
		{"no plan.json", nil, []string{empty}, []string{empty + ": no plan.json", "mirage sweep"}},
		{"compare given as sweep", nil, []string{cmp}, []string{cmp + ": no plan.json", "pass it with --compare"}},
		{"no results.jsonl", nil, []string{planOnly}, []string{planOnly + ": no results.jsonl", "8 runs"}},
		{"corrupt report.json", []string{badJSON}, nil, []string{badJSON + ": report.json is not a comparison report"}},
		{"corrupt results line", nil, []string{badLine}, []string{badLine + ": results.jsonl line 1 is not a result row"}},
		{"every problem at once", []string{missing, cmp}, []string{empty}, []string{missing + ": no such directory", empty + ": no plan.json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(root, tc.name, "RESULTS.md")
			err := WriteResults(ResultsConfig{Registries: testReg(), Compare: tc.compares, Sweep: tc.sweeps, Out: out})
			require.Error(t, err)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
			require.NotContains(t, err.Error(), "\n", "one-line error")
			require.NoFileExists(t, out, "nothing is written when an input is bad")
		})
	}
}

// An interrupted sweep can leave a partial last line in results.jsonl;
// the document ignores it and says so, and leaves the file as it is (the
// sweep itself cuts the line when it resumes).
func TestResultsIgnoresAPartialLastLineWithoutTouchingIt(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "s")
	writeFakeSweep(t, dir, bitsSpec, map[string]fakeResult{"fp32/fp32": ok(0.99), "bfp/bfp-bits=3": ok(0.989)})
	path := filepath.Join(dir, "results.jsonl")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"id": "abc", "status": "o`)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	md := writeDoc(t, root, nil, []string{dir})
	require.Contains(t, md, "The last line of its results.jsonl is unfinished")
	require.Contains(t, md, "BFP without noise: narrowest width within 0.5 points of FP32: **3 bits**, row 2: 98.90% (-0.10) (2 of these runs have no result")
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, before, after)
}

func TestWidthAndAnchor(t *testing.T) {
	for _, tc := range []struct {
		moduli []int64
		want   string
	}{
		{[]int64{63, 64, 65}, "65 (6.02 bits)"},
		{[]int64{255, 256, 257}, "257 (8.01 bits)"},
		{[]int64{7, 9, 11}, "11 (3.46 bits)"},
		{nil, "?"},
	} {
		require.Equal(t, tc.want, widthText(tc.moduli), fmt.Sprint(tc.moduli))
	}
	require.Equal(t, "resnet20-on-cifar10", anchor("resnet20 on cifar10"))
	require.Equal(t, "sweep-rns-bits", anchor("Sweep rns-bits"))
}
