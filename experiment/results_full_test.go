package experiment

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/train"
)

// writeArmRun writes what a run directory of arm a holds after epochs of
// cfg's epochs: metrics.jsonl, and summary.json once all are done, or a
// stand-in resumable state file before that.
func writeArmRun(t *testing.T, dir string, cfg train.Config, a Arm, epochs int, acc float64) {
	t.Helper()
	c := armConfig(cfg, a)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	var lines strings.Builder
	for e := 1; e <= epochs; e++ {
		m, err := json.Marshal(train.EpochMetrics{Epoch: e, TrainLoss: 1 / float64(e), TestAcc: acc, TestLoss: 0.3, ImagesPerSec: 250})
		require.NoError(t, err)
		lines.Write(append(m, '\n'))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "metrics.jsonl"), []byte(lines.String()), 0o644))
	if epochs < cfg.Epochs {
		require.NoError(t, os.WriteFile(filepath.Join(dir, train.StateFile), []byte("stand-in"), 0o644))
		return
	}
	s, err := json.Marshal(train.Summary{Model: c.Model, Dataset: c.Dataset, Backend: c.Backend, Epochs: c.Epochs, Seed: c.Seed,
		Config: c, FinalTestAcc: acc, BestTestAcc: acc, FinalTestLoss: 0.3, WallSeconds: 40})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "summary.json"), s, 0o644))
}

func TestResultsFullLengthWithUnfinishedArms(t *testing.T) {
	root := t.TempDir()
	base := fakeCompareConfig()
	base.Epochs = 3
	arms := []Arm{{Label: "fp32", Backend: "fp32"}, {Label: "rns", Backend: "rns"}, {Label: "bfp", Backend: "bfp"},
		{Label: "analog_adc-bits=6", Backend: "analog", Options: map[string]string{"adc-bits": "6"}}}
	running := CompareConfig{Registries: testReg(), Base: base, Arms: arms, Out: filepath.Join(root, "results", "running"),
		Command: "mirage compare --backends fp32,rns,bfp,analog:adc-bits=6 --out results/running"}
	writeArmRun(t, filepath.Join(running.Out, "fp32"), base, arms[0], 3, 0.91)
	writeArmRun(t, filepath.Join(running.Out, "rns"), base, arms[1], 1, 0.97) // better so far, but unfinished
	// The analog directory holds a finished run of other settings.
	other := base
	other.Epochs = 2
	writeArmRun(t, filepath.Join(running.Out, "analog_adc-bits=6"), other, arms[3], 2, 0.5)

	absent := CompareConfig{Registries: testReg(), Base: base, Arms: arms[2:], Out: filepath.Join(root, "results", "absent"), Command: "mirage compare --out results/absent"}

	// A finished comparison with an arm at chance (other settings than the
	// comparisons above, so that it is no seed of theirs).
	doneBase := base
	doneBase.LR = 3 * base.LR
	done := CompareConfig{Registries: testReg(), Base: doneBase, Arms: []Arm{arms[0], arms[3]}, Out: filepath.Join(root, "results", "done"),
		Command: "mirage compare --backends fp32,analog:adc-bits=6 --out results/done"}
	writeArmRun(t, filepath.Join(done.Out, "fp32"), doneBase, arms[0], 3, 0.91)
	writeArmRun(t, filepath.Join(done.Out, "analog_adc-bits=6"), doneBase, arms[3], 3, 0.0996)
	report, err := json.Marshal(Comparison{Command: done.Command, Config: doneBase, Classes: 10})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(done.Out, "report.json"), report, 0o644))

	// Two seeds of one comparison, both finished, for the seed summary
	// (other training settings than the comparisons above, which would
	// otherwise count as a third seed).
	var seeds []CompareConfig
	for seed, accs := range map[uint64][2]float64{1: {0.990, 0.992}, 2: {0.986, 0.983}} {
		c := base
		c.Seed, c.LR = seed, 2*base.LR
		plan := CompareConfig{Registries: testReg(), Base: c, Arms: arms[:2], Out: filepath.Join(root, "results", fmt.Sprintf("seed%d", seed)), Command: "mirage compare --seed N"}
		writeArmRun(t, filepath.Join(plan.Out, "fp32"), c, arms[0], 3, accs[0])
		writeArmRun(t, filepath.Join(plan.Out, "rns"), c, arms[1], 3, accs[1])
		seeds = append(seeds, plan)
	}
	if seeds[0].Base.Seed > seeds[1].Base.Seed {
		seeds[0], seeds[1] = seeds[1], seeds[0]
	}

	widthDir := filepath.Join(root, "results", "adc")
	writeFakeSweep(t, widthDir, `
name: adc
base: {model: lenet, dataset: mnist, epochs: 1, train_limit: 1000}
groups:
  - {name: fp32, backend: fp32}
  - {name: analog, backend: analog, grid: {adc-bits: [6, 8, 10]}}
`, map[string]fakeResult{"fp32/fp32": ok(0.60), "analog/adc-bits=6": collapsed(0.11), "analog/adc-bits=8": ok(0.595), "analog/adc-bits=10": ok(0.61)})

	out := filepath.Join(root, "RESULTS.md")
	require.NoError(t, WriteResults(ResultsConfig{Registries: testReg(),
		Full: append(append([]CompareConfig{}, seeds...), running, absent, done), WidthSweeps: []string{widthDir, filepath.Join(root, "results", "adc-missing")},
		Out: out, Command: "mirage results --full ...", Created: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), Machine: testMachine,
	}))
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	md := string(data)

	require.Contains(t, md, "Test CPU 3000", "the machine header is kept")
	require.Contains(t, md, "1 of 4 arms finished")
	require.Contains(t, md, "**Unfinished arms are shown with how far they got")
	require.Equal(t, "| fp32 | fp32 | defaults | finished | 3/3 | 91.00% | 91.00% | (reference) | 40.0 s | 250 |", line(t, md, "| fp32 | fp32 | defaults | finished | 3/3 | 91"))
	// The unfinished arm's 97% after one epoch is nowhere a final accuracy.
	rns := line(t, md, "| rns | rns | defaults | **unfinished**: 1 of 3 epochs done, resumable state saved; ")
	require.Contains(t, rns, "its resumable state is unreadable", "the stand-in state file is no safetensors file, and the document says so")
	require.True(t, strings.HasSuffix(rns, " | 1/3 | — | — | — | — | — |"), rns)
	require.NotContains(t, md, "97.00%")
	require.Equal(t, "| bfp | bfp | defaults | not started | 0/3 | — | — | — | — | — |", line(t, md, "| bfp |"))
	require.Contains(t, line(t, md, "| analog_adc-bits=6 |"), "**other settings**")
	require.Contains(t, line(t, md, "| analog_adc-bits=6 |"), "epochs differ")
	require.Contains(t, md, "No accuracy plot yet")

	require.Contains(t, md, "**Not run yet**: `"+absent.Out+"` does not exist. Arms: bfp, analog_adc-bits=6.")

	// The arm at chance is named under its table in a list of its own,
	// with plain emphasis (no bold inside bold), and the paragraph after
	// the list is not part of it.
	require.Contains(t, line(t, md, "| analog_adc-bits=6 | analog | `adc-bits=6` | **COLLAPSED** |"), "| 3/3 | 9.96% |")
	require.Contains(t, md, "\n- **analog_adc-bits=6 COLLAPSED**: final test accuracy 10.0% is at chance level (10.0% for 10 classes)\n\n")

	// Seeds: fp32 99.0 and 98.6 (spread 0.40); rns 99.2 and 98.3, mean Δ −0.05.
	require.Contains(t, md, "**fp32 spread: 0.40 points.**")
	require.Equal(t, "| rns | 2 | 98.75% | 98.30 – 99.20% | -0.05 | yes |", line(t, md, "| rns | 2 |"))

	// Width rule: 6 collapsed, 8 and 10 within a point of 60%: 8 bits.
	require.Contains(t, md, "**Chosen: 8 bits**")
	require.Contains(t, md, "6 bits did not train normally")
	require.Contains(t, md, "#### Sweep `"+filepath.Join(root, "results", "adc-missing")+"`\n\n**Not run yet**")
	bits, why, err := NarrowestADCWidth(widthDir, testReg())
	require.NoError(t, err)
	require.Equal(t, 8, bits)
	require.Contains(t, why, "8 bits: 59.50% against FP32's 60.00%")
	_, _, err = NarrowestADCWidth(filepath.Join(root, "results", "adc-missing"), testReg())
	require.ErrorContains(t, err, "not been run yet")

	requireLinksResolve(t, root, md)
}
