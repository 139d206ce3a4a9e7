package train

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// A diverged epoch (NaN loss) must still be written and read back, with
// NaN as null in the file, and every other field unchanged.
func TestMetricsJSONWithNonFiniteNumbers(t *testing.T) {
	tests := []struct {
		name string
		in   EpochMetrics
		want string
	}{
		{"finite", EpochMetrics{Epoch: 1, TrainLoss: 0.5, TrainAcc: 0.9, TestLoss: 0.25, TestAcc: 0.95, LR: 0.01, Seconds: 2, ImagesPerSec: 100},
			`{"epoch":1,"train_loss":0.5,"train_acc":0.9,"test_loss":0.25,"test_acc":0.95,"lr":0.01,"seconds":2,"images_per_sec":100}`},
		{"nan and inf", EpochMetrics{Epoch: 2, TrainLoss: math.NaN(), TestLoss: math.Inf(1), TestAcc: 0.1, Diverged: true},
			`{"epoch":2,"train_loss":null,"train_acc":0,"test_loss":null,"test_acc":0.1,"lr":0,"seconds":0,"images_per_sec":0,"diverged":true}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := json.Marshal(tc.in)
			require.NoError(t, err)
			require.JSONEq(t, tc.want, string(data))
			var back EpochMetrics
			require.NoError(t, json.Unmarshal(data, &back))
			require.Equal(t, tc.in.Epoch, back.Epoch)
			require.Equal(t, tc.in.Diverged, back.Diverged)
			for _, pair := range [][2]float64{{tc.in.TrainLoss, back.TrainLoss}, {tc.in.TestLoss, back.TestLoss}, {tc.in.TestAcc, back.TestAcc}} {
				if math.IsNaN(pair[0]) || math.IsInf(pair[0], 0) {
					require.True(t, math.IsNaN(pair[1]), "a non-finite number reads back as NaN")
				} else {
					require.Equal(t, pair[0], pair[1])
				}
			}
		})
	}
}

func TestSummaryJSONWithNaNLoss(t *testing.T) {
	s := Summary{Model: "mlp", Epochs: 3, FinalTestLoss: math.NaN(), FinalTestAcc: 0.1, BestTestAcc: 0.5, Diverged: true,
		Config: Config{Model: "mlp", LR: 0.1}}
	data, err := json.Marshal(s)
	require.NoError(t, err)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(data, &raw))
	require.Nil(t, raw["final_test_loss"])
	require.Equal(t, 0.5, raw["best_test_acc"])
	require.Equal(t, "mlp", raw["model"])
	var back Summary
	require.NoError(t, json.Unmarshal(data, &back))
	require.True(t, math.IsNaN(back.FinalTestLoss))
	require.Equal(t, 0.1, back.FinalTestAcc)
	require.Equal(t, s.Config, back.Config)
	require.True(t, back.Diverged)
}
