package bench

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/backend/fp32"
	gemmbench "github.com/mirage-go/mirage/internal/bench"
)

// BenchmarkTrainStep measures full FP32 training steps (forward, loss,
// backward, optimizer) of the default cases; -benchmem shows the
// allocations of a warm step.
func BenchmarkTrainStep(b *testing.B) {
	cases, err := ParseTrainCases("lenet:64,lenet:128,resnet20:128,bert:32", mirage.Default().Models)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range cases {
		b.Run(c.String(), func(b *testing.B) {
			step, err := NewTrainStep(c, fp32.New(), 1)
			if err != nil {
				b.Fatal(err)
			}
			for range 2 { // warm the tape's arena and the optimizer state
				if err := step.Run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := step.Run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(c.Batch*b.N)/b.Elapsed().Seconds(), "examples/s")
		})
	}
}

func TestParseTrainCases(t *testing.T) {
	for _, tc := range []struct {
		in, err string
		want    []string
	}{
		{in: "lenet:64, resnet20:128", want: []string{"lenet/b64", "resnet20/b128"}},
		{in: "lenet", err: `case "lenet": want MODEL:BATCH, e.g. resnet20:128`},
		{in: "vgg:8", err: `case "vgg:8": unknown model "vgg" (valid: mlp, lenet, resnet20, resnet18, bert)`},
		{in: "lenet:0", err: `case "lenet:0": batch size "0" is not a positive integer`},
		{in: " , ", err: `no cases in " , ": give MODEL:BATCH items such as lenet:64,resnet20:128`},
	} {
		got, err := ParseTrainCases(tc.in, mirage.Default().Models)
		if tc.err != "" {
			require.EqualError(t, err, tc.err)
			continue
		}
		require.NoError(t, err)
		var names []string
		for _, c := range got {
			names = append(names, c.String())
		}
		require.Equal(t, tc.want, names)
	}
}

// MeasureTrain reports one figure per repetition, the median of them, and
// a step time consistent with it; the model really trains (finite loss).
func TestMeasureTrain(t *testing.T) {
	res, err := MeasureTrain(trainCase(t, "lenet", 2), fp32.New(), TrainOptions{Warmup: 1, Steps: 2, Reps: 3})
	require.NoError(t, err)
	require.Len(t, res.Reps, 3)
	require.Equal(t, gemmbench.Median(res.Reps), res.ExamplesPerSec)
	require.Greater(t, res.ExamplesPerSec, 0.0)
	require.InDelta(t, 1000*2/res.ExamplesPerSec, res.StepMillis, 1e-9)

	var buf strings.Builder
	require.NoError(t, WriteTrainTable(&buf, []TrainResult{
		{Model: "lenet", Batch: 64, Backend: "fp32", ExamplesPerSec: 6400, StepMillis: 10},
		{Model: "lenet", Batch: 64, Backend: "rns", ExamplesPerSec: 3200, StepMillis: 20},
	}))
	require.Contains(t, buf.String(), "2.00x", "the rns row shows its step-time ratio to fp32")
}

// A training step on the synthetic batch learns: the loss after some
// steps is below the first one (the benchmark measures real work).
func TestTrainStepLearns(t *testing.T) {
	step, err := NewTrainStep(trainCase(t, "lenet", 8), fp32.New(), 1)
	require.NoError(t, err)
	require.NoError(t, step.Run())
	first := step.Loss()
	for range 20 {
		require.NoError(t, step.Run())
	}
	require.Less(t, step.Loss(), first)
}

// trainCase returns the case of a model of the default registry.
func trainCase(t testing.TB, model string, batch int) TrainCase {
	d, ok := mirage.Default().Models.Lookup(model)
	require.True(t, ok, model)
	return TrainCase{Model: d, Batch: batch}
}
