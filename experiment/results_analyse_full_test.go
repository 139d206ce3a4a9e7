package experiment

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/train"
)

func finishedArm(label string, acc float64, status Status) armProgress {
	return armProgress{Arm: Arm{Label: label, Backend: label}, State: armFinished, EpochsDone: 3, Epochs: 3,
		Outcome: &Outcome{Status: status, ImagesPerSec: 100,
			Summary: train.Summary{FinalTestAcc: acc, BestTestAcc: acc + 0.01, WallSeconds: 60}}}
}

func TestParityRows(t *testing.T) {
	unfinished := armProgress{Arm: Arm{Label: "rns", Backend: "rns"}, State: armUnfinished, EpochsDone: 1, Epochs: 3, StateSaved: true}
	notStarted := armProgress{Arm: Arm{Label: "bfp", Backend: "bfp"}, Epochs: 3}

	rows := parityRows([]armProgress{finishedArm("fp32", 0.90, OK), unfinished, notStarted, finishedArm("analog", 0.885, OK)}, "fp32")
	require.Len(t, rows, 4)
	require.InDelta(t, 0.90, rows[0].Final, 1e-12)
	require.True(t, math.IsNaN(rows[0].Delta), "the reference has no Δ to itself")
	for _, r := range rows[1:3] {
		// An arm that has not finished has no accuracy, Δ, time or rate:
		// a partial run is never shown as final.
		for _, v := range []float64{r.Final, r.Best, r.Delta, r.WallSeconds, r.ImagesSec} {
			require.True(t, math.IsNaN(v), "arm %s", r.Arm.Label)
		}
	}
	require.InDelta(t, -1.5, rows[3].Delta, 1e-9)
	require.InDelta(t, 0.895, rows[3].Best, 1e-12)
	require.InDelta(t, 60, rows[3].WallSeconds, 0)
	require.InDelta(t, 100, rows[3].ImagesSec, 0)

	// Without a finished reference there is no Δ for anyone.
	refUnfinished := unfinished
	refUnfinished.Label = "fp32"
	rows = parityRows([]armProgress{refUnfinished, finishedArm("analog", 0.885, OK)}, "fp32")
	require.True(t, math.IsNaN(rows[1].Delta))
	require.InDelta(t, 0.885, rows[1].Final, 1e-12)
}

func TestSeedSpread(t *testing.T) {
	runs := []seedRun{
		{1, "fp32", 0.9923, true}, {1, "rns", 0.9924, true}, {1, "bfp", 0.9929, true},
		{2, "fp32", 0.9914, true}, {2, "rns", 0.9917, true}, {2, "bfp", 0.9000, false}, // bfp seed 2 collapsed
		{3, "fp32", 0.9919, true}, {3, "rns", 0.9880, true}, {3, "bfp", math.NaN(), false}, // bfp seed 3 unfinished
	}
	sums, spread := seedSpread(runs, "fp32")
	require.InDelta(t, 0.09, spread, 1e-9)
	require.Equal(t, []string{"fp32", "rns", "bfp"}, []string{sums[0].Label, sums[1].Label, sums[2].Label})

	fp := sums[0]
	require.Equal(t, 3, fp.Seeds)
	require.InDelta(t, (99.23+99.14+99.19)/3, fp.Mean, 1e-9)
	require.InDelta(t, 99.14, fp.Min, 1e-9)
	require.InDelta(t, 99.23, fp.Max, 1e-9)
	require.True(t, math.IsNaN(fp.MeanDelta))

	rns := sums[1]
	require.InDelta(t, (99.24+99.17+98.80)/3-(99.23+99.14+99.19)/3, rns.MeanDelta, 1e-9)
	require.False(t, rns.WithinRefSpread, "Δ -0.12 is outside a 0.09 spread")
	require.InDelta(t, 98.80, rns.Min, 1e-9)

	// bfp finished normally only with seed 1: its Δ is against FP32's seed 1
	// alone, not FP32's mean over all seeds.
	bfp := sums[2]
	require.Equal(t, 1, bfp.Seeds)
	require.Equal(t, 2, bfp.Missing)
	require.InDelta(t, 99.29-99.23, bfp.MeanDelta, 1e-9)
	require.True(t, bfp.WithinRefSpread)

	// One seed: no yardstick.
	sums, spread = seedSpread([]seedRun{{1, "fp32", 0.99, true}, {1, "rns", 0.98, true}}, "fp32")
	require.True(t, math.IsNaN(spread))
	require.False(t, sums[1].WithinRefSpread)
	require.InDelta(t, -1, sums[1].MeanDelta, 1e-9)
}

func TestNarrowestWidth(t *testing.T) {
	done := func(bits int, acc float64) widthRun { return widthRun{Bits: bits, Done: true, OK: true, Acc: acc} }
	bad := func(bits int) widthRun { return widthRun{Bits: bits, Done: true, Acc: 0.1} }
	cases := []struct {
		name   string
		runs   []widthRun
		fp32OK bool
		bits   int // 0: none chosen
	}{
		{"every width trains: the narrowest", []widthRun{done(8, 0.50), done(6, 0.495), done(7, 0.499)}, true, 6},
		{"exactly at the margin qualifies", []widthRun{done(6, 0.49), done(7, 0.50)}, true, 6},
		{"a narrow lucky run behind a failing one is not chosen", []widthRun{done(6, 0.50), bad(7), done(8, 0.50), done(9, 0.498)}, true, 8},
		{"a wider run outside the margin stops the walk", []widthRun{done(6, 0.50), done(7, 0.50), done(8, 0.48), done(9, 0.50)}, true, 9},
		{"not even the widest", []widthRun{done(6, 0.3), done(14, 0.45)}, true, 0},
		{"incomplete sweep chooses nothing", []widthRun{done(6, 0.5), {Bits: 7}}, true, 0},
		{"no FP32 baseline", []widthRun{done(6, 0.5)}, false, 0},
		{"no rows", nil, true, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := narrowestWidth(c.runs, 0.50, c.fp32OK, 1.0)
			require.NotEmpty(t, got.Why)
			require.Equal(t, c.bits != 0, got.Found, got.Why)
			require.Equal(t, c.bits, got.Bits, got.Why)
		})
	}
}
