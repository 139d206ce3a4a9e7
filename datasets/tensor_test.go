package datasets

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"
)

// tokenSet has n sequences of 3 token ids: sequence i is (1, i, i+2),
// labelled i%2, over a vocabulary of vocab ids.
type tokenSet struct{ n, vocab int }

func (s tokenSet) Len() int          { return s.n }
func (s tokenSet) Shape() []int      { return []int{3} }
func (s tokenSet) Classes() []string { return []string{"negative", "positive"} }
func (s tokenSet) VocabSize() int    { return s.vocab }
func (s tokenSet) Example(i int, dst []float32, _ *rand.Rand) int {
	dst[0], dst[1], dst[2] = 1, float32(i), float32(i+2)
	return i % 2
}

// firstBatch returns the first batch of an unshuffled loader over ds as
// tensors.
func firstBatch(t *testing.T, ds Dataset, batchSize int) (x, y *tensor.Dense) {
	t.Helper()
	it := NewLoader(ds, batchSize, false, false, 1).Epoch(0)
	defer it.Close()
	b, ok := it.Next()
	require.True(t, ok)
	return b.Inputs(), b.Targets()
}

func TestBatchTensors(t *testing.T) {
	tests := []struct {
		name      string
		ds        Dataset
		wantShape tensor.Shape
		wantX     any
		wantY     []int
	}{
		{"images are float32", fakeSet{n: 5}, tensor.Shape{3, 2}, []float32{0, -1, 1, -1, 2, -1}, []int{0, 1, 2}},
		{"token ids are integers", tokenSet{n: 5, vocab: 10}, tensor.Shape{3, 3}, []int{1, 0, 2, 1, 1, 3, 1, 2, 4}, []int{0, 1, 0}},
		{"a subset keeps token ids", Subset(tokenSet{n: 6, vocab: 10}, 3), tensor.Shape{3, 3}, []int{1, 0, 2, 1, 2, 4, 1, 4, 6}, []int{0, 0, 0}},
		{"a subset of images stays float32", Subset(fakeSet{n: 10}, 5), tensor.Shape{3, 2}, []float32{0, -1, 2, -1, 4, -1}, []int{0, 2, 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x, y := firstBatch(t, tc.ds, 3)
			require.Equal(t, tc.wantShape, x.Shape())
			require.Equal(t, tc.wantX, x.Data())
			require.Equal(t, tensor.Shape{3}, y.Shape())
			require.Equal(t, tc.wantY, y.Data())
		})
	}
}

// The tensors are copies: the loader reuses its buffers, the caller keeps
// what it was given.
func TestBatchTensorsAreCopies(t *testing.T) {
	it := NewLoader(fakeSet{n: 4}, 2, false, false, 1).Epoch(0)
	defer it.Close()
	b, ok := it.Next()
	require.True(t, ok)
	x, y := b.Inputs(), b.Targets()
	b.X[0], b.Labels[0] = 99, 99
	require.Equal(t, float32(0), x.Data().([]float32)[0])
	require.Equal(t, 0, y.Data().([]int)[0])
}

// A batch assembled by hand, without a loader, reads as N flat examples.
func TestHandMadeBatchInputs(t *testing.T) {
	b := Batch{X: []float32{1, 2, 3, 4, 5, 6}, Labels: []int{0, 1}, N: 2}
	x := b.Inputs()
	require.Equal(t, tensor.Shape{2, 3}, x.Shape())
	require.Equal(t, []float32{1, 2, 3, 4, 5, 6}, x.Data())
}

func TestVocabSize(t *testing.T) {
	require.Equal(t, 0, VocabSize(fakeSet{n: 3}))
	require.Equal(t, 7, VocabSize(tokenSet{n: 3, vocab: 7}))
	require.Equal(t, 7, VocabSize(Subset(tokenSet{n: 3, vocab: 7}, 2)))
	require.Equal(t, 0, VocabSize(Subset(fakeSet{n: 3}, 2)))
}
