package models

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"

	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/backend/fp32"
	"github.com/mirage-go/mirage/layers"
)

func tinyBERTSpec() Spec {
	return Spec{InputShape: []int{6}, NumClasses: 2, VocabSize: 20, Seed: 3,
		BERT: &BERTConfig{Hidden: 16, Layers: 1, Heads: 2, FFN: 32, LayerNormEps: 1e-12}}
}

// forward runs m in evaluation mode on float32 data through the tape, the
// path training takes; Predict must give the same values bit for bit.
func forward(t *testing.T, m layers.Module, data []float32, shape ...int) []float32 {
	t.Helper()
	m.SetTraining(false)
	tape := autograd.NewTape(fp32.New())
	tape.SetNoGrad(true)
	y := m.Forward(tape, autograd.New(data, shape...))
	require.NoError(t, tape.Err())
	return append([]float32(nil), y.Data()...)
}

func TestPredictImagesMatchesForward(t *testing.T) {
	m, err := New("lenet", Spec{InputShape: []int{1, 28, 28}, NumClasses: 10, Seed: 1})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]float32, 3*28*28)
	for i := range data {
		data[i] = float32(rng.NormFloat64())
	}
	want := forward(t, m, data, 3, 1, 28, 28)
	x := tensor.New(tensor.WithShape(3, 1, 28, 28), tensor.WithBacking(data))
	got, err := Predict(m, fp32.New(), x)
	require.NoError(t, err)
	require.Equal(t, tensor.Shape{3, 10}, got.Shape())
	require.Equal(t, want, got.Data())
}

func TestPredictTokenIDsMatchesForward(t *testing.T) {
	m, err := New("bert", tinyBERTSpec())
	require.NoError(t, err)
	ids := []int{1, 5, 7, 19, 0, 0, 1, 2, 3, 4, 5, 6}
	floats := make([]float32, len(ids))
	for i, id := range ids {
		floats[i] = float32(id)
	}
	want := forward(t, m, floats, 2, 6)
	ids32, ids64 := make([]int32, len(ids)), make([]int64, len(ids))
	for i, id := range ids {
		ids32[i], ids64[i] = int32(id), int64(id)
	}
	for _, backing := range []any{ids, ids32, ids64} {
		got, err := Predict(m, fp32.New(), tensor.New(tensor.WithShape(2, 6), tensor.WithBacking(backing)))
		require.NoError(t, err)
		require.Equal(t, tensor.Shape{2, 2}, got.Shape())
		require.Equal(t, want, got.Data(), "ids as %T", backing)
	}
}

func TestPredictRejectsBadInput(t *testing.T) {
	lenet, err := New("lenet", Spec{InputShape: []int{1, 28, 28}, NumClasses: 10, Seed: 1})
	require.NoError(t, err)
	bert, err := New("bert", tinyBERTSpec())
	require.NoError(t, err)
	ids := func(v ...int) *tensor.Dense { return tensor.New(tensor.WithShape(1, len(v)), tensor.WithBacking(v)) }
	tests := []struct {
		name  string
		model layers.Module
		x     *tensor.Dense
		want  string
	}{
		{"no tensor", lenet, nil, "no input tensor"},
		{"float64", lenet, tensor.New(tensor.WithShape(1, 1, 28, 28), tensor.WithBacking(make([]float64, 784))), "dtype float64"},
		{"scalar", lenet, tensor.New(tensor.FromScalar(float32(1))), "scalar"},
		{"three channels into LeNet", lenet, tensor.New(tensor.WithShape(1, 3, 28, 28), tensor.WithBacking(make([]float32, 3*784))), "input of shape (1, 3, 28, 28)"},
		{"negative id", bert, ids(1, -2, 3, 0, 0, 0), "token id -2 at position 1"},
		{"id past float32's integers", bert, ids(1, math.MaxInt32, 3, 0, 0, 0), "outside [0, 2^24)"},
		{"id outside the vocabulary", bert, ids(1, 20, 3, 0, 0, 0), "token id 20"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Predict(tc.model, fp32.New(), tc.x)
			require.ErrorContains(t, err, tc.want)
			require.Nil(t, out)
		})
	}
}
