package models

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/backend/fp32"
	"github.com/mirage-go/mirage/layers"
)

// BERT lists the generator of every dropout layer (embeddings, pooled
// output, and per encoder layer the attention probabilities, the attention
// branch and the feed-forward branch), and restoring their saved positions
// into a fresh model reproduces the masks the original draws next. This is
// what a resumed training run relies on. The models without dropout list
// none.
func TestGeneratorsRestoreDropoutMasks(t *testing.T) {
	build := func() *BERT {
		m, err := NewBERT(BERTConfig{Vocab: 11, MaxLen: 6, Hidden: 8, Layers: 2, Heads: 2, FFN: 16,
			Dropout: 0.5, NumClasses: 3, LayerNormEps: 1e-5}, rand.New(rand.NewPCG(4, 4)))
		require.NoError(t, err)
		return m
	}
	ids := autograd.New([]float32{1, 5, 9, 2, 3, 4, 1, 3, 10, 4, 7, 6}, 2, 6)
	forward := func(m *BERT) []float32 {
		tp := autograd.NewTape(fp32.New())
		return append([]float32(nil), m.Forward(tp, ids).Data()...)
	}

	orig := build()
	gens := layers.Generators(orig)
	require.Len(t, gens, 2+3*2)
	forward(orig) // move the generators on
	var saved [][]byte
	for _, g := range gens {
		b, err := g.MarshalBinary()
		require.NoError(t, err)
		saved = append(saved, b)
	}
	want := forward(orig)

	resumed := build()
	require.NotEqual(t, want, forward(build()), "dropout is active: a fresh model draws other masks")
	for i, g := range layers.Generators(resumed) {
		require.NoError(t, g.UnmarshalBinary(saved[i]))
	}
	require.Equal(t, want, forward(resumed))

	for _, name := range []string{"mlp", "lenet", "resnet20"} {
		m, err := New(name, Spec{InputShape: []int{1, 28, 28}, NumClasses: 10, Seed: 1})
		require.NoError(t, err)
		require.Empty(t, layers.Generators(m), name)
	}
}
