package experiment

import (
	"bufio"
	"bytes"
	"encoding/json"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/train"
)

// tinySweep: an fp32 baseline and BFP at three mantissa widths, an MLP on
// 512 MNIST images: four rows of well under a second each.
const tinySweep = `
name: tiny
description: BFP width against FP32 on a slice of MNIST
base:
  model: mlp
  dataset: mnist
  epochs: 2
  batch_size: 64
  eval_batch_size: 256
  train_limit: 512
  test_limit: 256
groups:
  - name: baseline
    backend: fp32
  - name: bfp
    backend: bfp
    options: {tile: 32}
    grid:
      bfp-bits: [3, 5, 8]
`

func parseTiny(t *testing.T) *Spec {
	s, err := ParseSpec([]byte(tinySweep), "tiny.yaml")
	require.NoError(t, err)
	return s
}

func resultLines(t *testing.T, path string) []ResultRow {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var rows []ResultRow
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var r ResultRow
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r), "every line of results.jsonl is a JSON row")
		rows = append(rows, r)
	}
	return rows
}

func TestSweepResumesWithoutRerunningFinishedRows(t *testing.T) {
	out := t.TempDir()
	results := filepath.Join(out, "results.jsonl")

	// First invocation: stopped after two runs, as an interruption would.
	res, err := Sweep(SweepConfig{Registries: testReg(), Spec: parseTiny(t), Out: out, MaxRuns: 2}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 4, res.Rows.Len())
	require.Equal(t, 2, res.Ran)
	require.Equal(t, 0, res.Skipped)
	require.Equal(t, 2, res.Remaining)
	first := resultLines(t, results)
	require.Len(t, first, 2)
	stamp := map[string]time.Time{}
	for _, r := range first {
		fi, err := os.Stat(filepath.Join(r.Dir, "summary.json"))
		require.NoError(t, err)
		stamp[r.ID] = fi.ModTime()
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	require.NoError(t, err)
	require.Contains(t, string(md), "The sweep is incomplete: 2 runs are still to do")

	// The crash happened while appending a line, and while row 3 trained.
	f, err := os.OpenFile(results, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"id":"` + res.Rows.Row(2).ID + `","status":"o`)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	half := filepath.Join(out, "runs", res.Rows.Row(2).ID)
	require.NoError(t, os.MkdirAll(half, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(half, "metrics.jsonl"), []byte(`{"epoch":1,"test_acc":0.5}`+"\n"), 0o644))

	// Second invocation: only the two missing rows run.
	res, err = Sweep(SweepConfig{Registries: testReg(), Spec: parseTiny(t), Out: out}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 2, res.Ran, "only the unfinished rows run")
	require.Equal(t, 2, res.Skipped)
	require.Equal(t, 0, res.Remaining)
	all := resultLines(t, results)
	require.Len(t, all, 4, "the partial line is gone and each row has one line")
	ids := map[string]bool{}
	for _, r := range all {
		ids[r.ID] = true
		require.Len(t, r.TestAccCurve, 2, "row %d has both epochs", r.Index)
	}
	require.Len(t, ids, 4)
	for id, when := range stamp {
		fi, err := os.Stat(filepath.Join(out, "runs", id, "summary.json"))
		require.NoError(t, err)
		require.Equal(t, when, fi.ModTime(), "finished row %s was run again", id)
	}

	// Third invocation: nothing to do.
	res, err = Sweep(SweepConfig{Registries: testReg(), Spec: parseTiny(t), Out: out}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 0, res.Ran)
	require.Equal(t, 4, res.Skipped)
	require.Len(t, resultLines(t, results), 4)

	// The report: a plot of accuracy against the one swept knob, the FP32
	// baseline's row, and the distance of the BFP rows to it.
	data, err := os.ReadFile(filepath.Join(out, "accuracy-vs-bfp-bits.png"))
	require.NoError(t, err)
	_, err = png.Decode(bytes.NewReader(data))
	require.NoError(t, err)
	md, err = os.ReadFile(filepath.Join(out, "report.md"))
	require.NoError(t, err)
	require.Contains(t, string(md), "![accuracy-vs-bfp-bits](accuracy-vs-bfp-bits.png)")
	require.NotContains(t, string(md), "incomplete")
	require.Contains(t, string(md), "Δ fp32")
	// plan.json names the rows by count and digest, not one by one, and
	// reads back as the rows the sweep ran.
	var plan planFile
	data, err = os.ReadFile(filepath.Join(out, "plan.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &plan))
	require.Equal(t, 4, plan.RowCount)
	require.Empty(t, plan.Listed)
	spec, rows, err := readPlan(out, testReg())
	require.NoError(t, err)
	require.Equal(t, parseTiny(t).Name, spec.Name)
	require.Equal(t, 4, rows.Len())
	for i := range 4 {
		require.Equal(t, res.Rows.Row(i).ID, rows.Row(i).ID)
	}
}

func TestPlanExpandsGroupsAndLists(t *testing.T) {
	s, err := ParseSpec([]byte(`
base: {model: lenet, epochs: 1}
backend: rns
options: {rns-moduli: [63, 64, 65], bfp-bits: 6}
grid:
  noise-sigma: [0, 0.1]
groups:
  - name: plain
  - name: rrns
    grid: {rrns-redundant: 2, lr: [0.01, 0.02]}
  - name: analog
    backend: analog
    options: {adc-bits: 8}
`), "s.yaml")
	require.NoError(t, err)
	rows, err := Plan(s, testReg())
	require.NoError(t, err)
	require.Len(t, rows, 2+4+2)
	require.Equal(t, "63,64,65", rows[0].Config.BackendOptions["rns-moduli"])
	require.Equal(t, "lr=0.01 noise-sigma=0 rrns-redundant=2", rows[2].Label())
	// Keys expand in alphabetical order, the last fastest.
	require.Equal(t, []Knob{{"lr", "0.01"}, {"noise-sigma", "0"}, {"rrns-redundant", "2"}}, rows[2].Knobs)
	require.Equal(t, []Knob{{"lr", "0.01"}, {"noise-sigma", "0.1"}, {"rrns-redundant", "2"}}, rows[3].Knobs)
	require.Equal(t, 0.02, rows[4].Config.LR)
	require.Equal(t, "2", rows[4].Config.BackendOptions["rrns-redundant"])
	require.Equal(t, "analog", rows[6].Config.Backend)
	require.Equal(t, "8", rows[6].Config.BackendOptions["adc-bits"])
	require.NotContains(t, rows[6].Config.BackendOptions, "rns-moduli", "shared options apply only where the backend has them")
	require.Equal(t, "mnist", rows[0].Config.Dataset, "lenet's usual data set")
	require.Equal(t, train.Recipe(testReg(), "lenet", "mnist").BatchSize, rows[0].Config.BatchSize, "unset settings come from the recipe")
	ids := map[string]bool{}
	for i, r := range rows {
		require.Equal(t, i, r.Index)
		ids[r.ID] = true
	}
	require.Len(t, ids, len(rows), "row IDs are unique")
}

func TestSweepRefusesBadSpecBeforeRunning(t *testing.T) {
	tests := []struct {
		name, spec string
		want       []string
	}{
		{"unknown knob", `
base: {model: mlp}
backend: bfp
grid: {bfp-bitz: [4, 5]}`, []string{`unknown knob "bfp-bitz"`, "bfp-bits"}},
		{"invalid moduli in one row", `
base: {model: mlp}
backend: rns
options: {tile: 32}
grid: {rns-moduli: [special-k6, "6,9,10"]}`, []string{"row 2", "rns-moduli=6,9,10", "coprime", "nothing was run"}},
		{"knob of another backend", `
base: {model: mlp}
backend: rns
grid: {adc-bits: [6, 8]}`, []string{"row 1", "adc-bits", "does not apply to backend rns"}},
		{"tile overflows the moduli range", `
base: {model: mlp}
backend: rns
grid: {rns-moduli: [special-k5], tile: [64, 512]}`, []string{"row 2", "tile=512"}},
		{"unknown training setting", `
base: {model: mlp, learning_rate: 0.1}
backend: fp32`, []string{"base.learning_rate is not a training setting"}},
		{"bad training value", `
base: {model: mlp}
backend: fp32
grid: {epochs: [1, 0]}`, []string{"row 2", "--epochs 0"}},
		{"misspelt section", `
base: {model: mlp}
backend: fp32
grids: {epochs: [1]}`, []string{"grids"}},
		{"no model", `
backend: fp32`, []string{"base.model is required"}},
		{"no backend", `
base: {model: mlp}`, []string{"no backend"}},
		{"unknown model", `
base: {model: vgg}
backend: fp32`, []string{`unknown model "vgg"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "sweep")
			var err error
			if s, perr := ParseSpec([]byte(tc.spec), "bad.yaml"); perr != nil {
				err = perr
			} else {
				_, err = Sweep(SweepConfig{Registries: testReg(), Spec: s, Out: out}, io.Discard)
			}
			require.Error(t, err)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
			require.NoDirExists(t, out, "a bad spec must be refused before anything is written or run")
		})
	}
}

func TestParseSpecJSON(t *testing.T) {
	s, err := ParseSpec([]byte(`{"name": "j", "base": {"model": "mlp"}, "backend": "bfp", "grid": {"bfp-bits": [4, 6]}}`), "x.json")
	require.NoError(t, err)
	rows, err := Plan(s, testReg())
	require.NoError(t, err)
	require.Len(t, rows, 2)
	require.Equal(t, "4", rows[0].Config.BackendOptions["bfp-bits"], "JSON numbers become plain option text")
	_, err = ParseSpec([]byte(`{"name": "j", "grid": {}, "extra": 1}`), "x.json")
	require.ErrorContains(t, err, "extra")
}

func TestParseSpecEmpty(t *testing.T) {
	for _, data := range []string{"", "  \n\t\n"} {
		for _, name := range []string{"empty.yaml", "empty.json"} {
			_, err := ParseSpec([]byte(data), name)
			require.ErrorContains(t, err, name+" is empty", "%q", data)
		}
	}
}

func TestClassify(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name    string
		summary train.Summary
		metrics []train.EpochMetrics
		classes int
		want    Status
	}{
		{"healthy", train.Summary{FinalTestAcc: 0.9, FinalTestLoss: 0.3}, []train.EpochMetrics{{Epoch: 1, TrainLoss: 0.5, TestLoss: 0.3}}, 10, OK},
		{"nan training loss", train.Summary{FinalTestAcc: 0.9, FinalTestLoss: 0.3}, []train.EpochMetrics{{Epoch: 1, TrainLoss: nan, TestLoss: 0.3}}, 10, Diverged},
		{"flagged by train", train.Summary{FinalTestAcc: 0.9, FinalTestLoss: 0.3, Diverged: true}, nil, 10, Diverged},
		{"at chance", train.Summary{FinalTestAcc: 0.11, FinalTestLoss: 2.3}, nil, 10, Collapsed},
		{"just above the margin", train.Summary{FinalTestAcc: 0.16, FinalTestLoss: 2.2}, nil, 10, OK},
		{"binary at chance", train.Summary{FinalTestAcc: 0.52, FinalTestLoss: 0.69}, nil, 2, Collapsed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, why := Classify(&tc.summary, tc.metrics, tc.classes)
			require.Equal(t, tc.want, got)
			require.Equal(t, got == OK, why == "", "a non-OK status comes with an explanation")
		})
	}
}
