package models

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/backend/fp32"
	"github.com/mirage-go/mirage/layers"
)

// sgdStep applies plain SGD with momentum 0.9 (PyTorch's formulation) and
// clears the gradients. It lives here so the models' tests do not depend
// on package optim.
func sgdStep(params []*autograd.Tensor, velocity map[*autograd.Tensor][]float32, lr float32) {
	for _, p := range params {
		v := velocity[p]
		if v == nil {
			v = make([]float32, p.Numel())
			velocity[p] = v
		}
		for i, g := range p.Grad() {
			v[i] = 0.9*v[i] + g
			p.Data()[i] -= lr * v[i]
		}
		p.ZeroGrad()
	}
}

// adam applies Adam (β = 0.9, 0.999, ε = 1e-8, no weight decay) and clears
// the gradients; transformers barely move under plain SGD from BERT's
// N(0, 0.02) initialisation.
type adam struct {
	m, v map[*autograd.Tensor][]float32
	step int
}

func (a *adam) update(params []*autograd.Tensor, lr float64) {
	if a.m == nil {
		a.m, a.v = map[*autograd.Tensor][]float32{}, map[*autograd.Tensor][]float32{}
	}
	a.step++
	c1 := 1 - math.Pow(0.9, float64(a.step))
	c2 := 1 - math.Pow(0.999, float64(a.step))
	for _, p := range params {
		if a.m[p] == nil {
			a.m[p], a.v[p] = make([]float32, p.Numel()), make([]float32, p.Numel())
		}
		m, v := a.m[p], a.v[p]
		for i, g := range p.Grad() {
			m[i] = 0.9*m[i] + 0.1*g
			v[i] = 0.999*v[i] + 0.001*g*g
			p.Data()[i] -= float32(lr * float64(m[i]) / c1 / (math.Sqrt(float64(v[i])/c2) + 1e-8))
		}
		p.ZeroGrad()
	}
}

// trainLoss runs steps of SGD with momentum (or Adam when useAdam) on one
// fixed batch and returns the first and last training loss.
func trainLoss(t *testing.T, m layers.Module, x *autograd.Tensor, labels []int, steps int, lr float32, useAdam bool) (first, last float32) {
	velocity := map[*autograd.Tensor][]float32{}
	var opt adam
	tp := autograd.NewTape(fp32.New())
	for s := 0; s < steps; s++ {
		tp.Reset()
		loss := tp.CrossEntropy(m.Forward(tp, x), labels, 0)
		require.NoError(t, tp.Backward(loss))
		if s == 0 {
			first = loss.Item()
		}
		last = loss.Item()
		if useAdam {
			opt.update(m.Params(), float64(lr))
		} else {
			sgdStep(m.Params(), velocity, lr)
		}
	}
	return first, last
}

// TestResNet20Memorises fits ResNet-20 to 16 random 8×8 images with random
// labels: a model whose blocks, shortcuts or batch norm were miswired
// could not drive the loss from ≈ ln 4 to near zero in 40 steps.
func TestResNet20Memorises(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	m := NewResNet20(3, 4, rng)
	x := autograd.Zeros(16, 3, 8, 8)
	layers.InitNormal(x, 1, rng)
	labels := make([]int, 16)
	for i := range labels {
		labels[i] = rng.IntN(4)
	}
	first, last := trainLoss(t, m, x, labels, 40, 0.05, false)
	require.Greater(t, first, float32(1.0), "initial loss should be near ln 4 ≈ 1.39")
	require.Less(t, last, float32(0.1))
}

// TestBERTLearnsToFindAToken trains a small BERT to say whether token 5
// occurs in a padded sequence. The answer must travel from any position to
// [CLS] through attention, so this exercises the whole encoder and the
// mask; the task is learnable to 100% on its training set.
func TestBERTLearnsToFindAToken(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	const n, l, vocab = 32, 8, 12
	m, err := NewBERT(BERTConfig{Vocab: vocab, MaxLen: l, Hidden: 16, Layers: 2, Heads: 2, FFN: 32,
		NumClasses: 2, LayerNormEps: 1e-12}, rng)
	require.NoError(t, err)
	ids := autograd.Zeros(n, l)
	labels := make([]int, n)
	for b := 0; b < n; b++ {
		length := 3 + rng.IntN(l-3)
		labels[b] = b % 2
		ids.Data()[b*l] = 1 // [CLS]
		for i := 1; i < length; i++ {
			tok := 6 + rng.IntN(vocab-6) // anything but 5
			ids.Data()[b*l+i] = float32(tok)
		}
		if labels[b] == 1 {
			ids.Data()[b*l+1+rng.IntN(length-1)] = 5
		}
	}
	first, last := trainLoss(t, m, ids, labels, 150, 3e-3, true)
	require.Greater(t, first, float32(0.5), "initial loss should be near ln 2 ≈ 0.69")
	require.Less(t, last, float32(0.1))

	m.SetTraining(false)
	tp := autograd.NewTape(fp32.New())
	tp.SetNoGrad(true)
	logits := m.Forward(tp, ids).Data()
	for b := 0; b < n; b++ {
		pred := 0
		if logits[2*b+1] > logits[2*b] {
			pred = 1
		}
		require.Equal(t, labels[b], pred, "sequence %d", b)
	}
}
