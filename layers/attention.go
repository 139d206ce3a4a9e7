package layers

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/mirage-go/mirage/autograd"
)

// MaskedNegative is the additive bias that removes a key from attention.
// It is finite so that softmax never sees −∞ − (−∞); e^(−1e9) is 0 in
// float32 all the same.
const MaskedNegative = -1e9

// MultiHeadAttention is multi-head scaled dot-product self-attention with
// separate query, key, value and output projections (BERT's layout).
//
// For x of shape (N, L, D) with H heads of size d = D/H:
//
//	Q, K, V = x·Wqᵀ+bq, x·Wkᵀ+bk, x·Wvᵀ+bv, split into heads → (N·H, L, d)
//	P = softmax(Q·Kᵀ/√d + mask)          (N·H, L, L)
//	out = concat_heads(P·V)·Woᵀ + bo      (N, L, D)
//
// Every product goes through the tape's backend: the four projections are
// tagged name+".query", ".key", ".value", ".out", and the two batched
// products name+".qk" (Q·Kᵀ) and name+".av" (P·V), so an emulated
// accelerator sees attention exactly as it sees dense layers.
type MultiHeadAttention struct {
	Name                   string
	Heads                  int
	Query, Key, Value, Out *Linear
	// AttnDropout is applied to the attention probabilities P.
	AttnDropout *Dropout
}

// NewMultiHeadAttention returns self-attention over dim features with the
// given number of heads (dim must be divisible by heads) and dropout on
// the attention probabilities. Projections get PyTorch's default Linear
// initialisation.
func NewMultiHeadAttention(name string, dim, heads int, dropout float32, rng *rand.Rand) (*MultiHeadAttention, error) {
	if heads <= 0 || dim%heads != 0 {
		return nil, fmt.Errorf("attention %s: hidden size %d is not divisible by %d heads; choose a head count that divides it", name, dim, heads)
	}
	if dropout < 0 || dropout >= 1 {
		return nil, fmt.Errorf("attention %s: dropout %g is outside [0, 1)", name, dropout)
	}
	return &MultiHeadAttention{
		Name:        name,
		Heads:       heads,
		Query:       NewLinear(name+".query", dim, dim, true, rng),
		Key:         NewLinear(name+".key", dim, dim, true, rng),
		Value:       NewLinear(name+".value", dim, dim, true, rng),
		Out:         NewLinear(name+".out", dim, dim, true, rng),
		AttnDropout: NewDropout(dropout, rng),
	}, nil
}

// PaddingMask returns the additive attention mask for a batch of token ids
// (N, L) stored as float32, where id 0 is padding: shape (N, 1, 1, L), 0
// for real tokens and MaskedNegative for padding, so that no query attends
// to a padded key. It does not require a gradient.
func PaddingMask(ids *autograd.Tensor) *autograd.Tensor {
	if len(ids.Shape()) != 2 {
		panic(fmt.Sprintf("layers.PaddingMask: ids %v, want (N, L)", ids.Shape()))
	}
	n, l := ids.Dim(0), ids.Dim(1)
	m := autograd.Zeros(n, 1, 1, l)
	for i, id := range ids.Data() {
		if id == 0 {
			m.Data()[i] = MaskedNegative
		}
	}
	return m
}

// Forward implements Module: attention without a mask.
func (a *MultiHeadAttention) Forward(t *autograd.Tape, x *autograd.Tensor) *autograd.Tensor {
	return a.ForwardMasked(t, x, nil)
}

// ForwardMasked applies attention to x (N, L, D) with an additive mask of
// shape (N, 1, 1, L), typically from [PaddingMask], or nil for none.
func (a *MultiHeadAttention) ForwardMasked(t *autograd.Tape, x, mask *autograd.Tensor) *autograd.Tensor {
	if len(x.Shape()) != 3 {
		panic(fmt.Sprintf("layers.MultiHeadAttention %s: input %v, want (N, L, %d)", a.Name, x.Shape(), a.Query.In()))
	}
	n, l, dim := x.Dim(0), x.Dim(1), x.Dim(2)
	y := a.ForwardRows(t, t.Reshape(x, n*l, dim), n, mask)
	return t.Reshape(y, n, l, dim)
}

// ForwardRows is attention on a batch of n sequences stored as rows:
// x is (N·L, D) with sequence b in rows b·L … b·L+L−1, and so is the
// result. Transformers keep their hidden states in this layout so that the
// projections are plain 2-D GEMMs. mask is (N, 1, 1, L) or nil.
func (a *MultiHeadAttention) ForwardRows(t *autograd.Tape, x *autograd.Tensor, n int, mask *autograd.Tensor) *autograd.Tensor {
	dim := a.Query.In()
	if len(x.Shape()) != 2 || x.Dim(1) != dim || n <= 0 || x.Dim(0)%n != 0 {
		panic(fmt.Sprintf("layers.MultiHeadAttention %s: input %v is not %d sequences of %d-feature rows", a.Name, x.Shape(), n, dim))
	}
	l := x.Dim(0) / n
	if mask != nil && (len(mask.Shape()) != 4 || mask.Dim(0) != n || mask.Dim(1) != 1 || mask.Dim(2) != 1 || mask.Dim(3) != l) {
		panic(fmt.Sprintf("layers.MultiHeadAttention %s: mask %v, want (%d, 1, 1, %d)", a.Name, mask.Shape(), n, l))
	}
	h := a.Heads
	d := dim / h
	q := splitHeads(t, a.Query.Forward(t, x), n, h)
	k := splitHeads(t, a.Key.Forward(t, x), n, h)
	v := splitHeads(t, a.Value.Forward(t, x), n, h)
	scores := t.BatchedMatMul(q, k, false, true, a.Name+".qk") // (N·H, L, L)
	scores = scaleAndMask(t, scores, float32(1/math.Sqrt(float64(d))), mask, h)
	p := a.AttnDropout.Forward(t, t.Softmax(scores))
	ctx := t.BatchedMatMul(p, v, false, false, a.Name+".av") // (N·H, L, d)
	return a.Out.Forward(t, mergeHeads(t, ctx, n, h))
}

// splitHeads turns rows x (N·L, H·d) into per-head sequences (N·H, L, d):
// out[b·H+j, i, e] = x[b·L+i, j·d+e]. It is the reshape-transpose-reshape
// of PyTorch's attention code as one copy.
func splitHeads(t *autograd.Tape, x *autograd.Tensor, n, h int) *autograd.Tensor {
	rows, dim := x.Dim(0), x.Dim(1)
	l, d := rows/n, dim/h
	src := x.Data()
	// each calls f(outOffset, inOffset) for every run of d contiguous values.
	each := func(f func(o, i int)) {
		for b := 0; b < n; b++ {
			for j := 0; j < h; j++ {
				for i := 0; i < l; i++ {
					f(((b*h+j)*l+i)*d, (b*l+i)*dim+j*d)
				}
			}
		}
	}
	return t.Custom([]int{n * h, l, d}, []*autograd.Tensor{x}, func(o []float32) {
		each(func(oo, io int) { copy(o[oo:oo+d], src[io:io+d]) })
	}, func(g []float32) {
		gx := autograd.GradBuffer(x)
		each(func(oo, io int) { addTo(gx[io:io+d], g[oo:oo+d]) })
	})
}

// mergeHeads is the inverse of splitHeads: (N·H, L, d) → (N·L, H·d).
func mergeHeads(t *autograd.Tape, x *autograd.Tensor, n, h int) *autograd.Tensor {
	l, d := x.Dim(1), x.Dim(2)
	dim := h * d
	src := x.Data()
	each := func(f func(o, i int)) {
		for b := 0; b < n; b++ {
			for j := 0; j < h; j++ {
				for i := 0; i < l; i++ {
					f((b*l+i)*dim+j*d, ((b*h+j)*l+i)*d)
				}
			}
		}
	}
	return t.Custom([]int{n * l, dim}, []*autograd.Tensor{x}, func(o []float32) {
		each(func(oo, io int) { copy(o[oo:oo+d], src[io:io+d]) })
	}, func(g []float32) {
		gx := autograd.GradBuffer(x)
		each(func(oo, io int) { addTo(gx[io:io+d], g[oo:oo+d]) })
	})
}

// scaleAndMask returns s·scores + mask for scores (N·H, L, L) and an
// additive mask (N, 1, 1, L) (or nil), broadcasting the mask over heads
// and queries. Fusing the two saves a pass over the largest tensor of
// attention; the mask is a constant, so the gradient is just s·g.
func scaleAndMask(t *autograd.Tape, scores *autograd.Tensor, s float32, mask *autograd.Tensor, h int) *autograd.Tensor {
	l := scores.Dim(2)
	src := scores.Data()
	return t.Custom(scores.Shape(), []*autograd.Tensor{scores}, func(o []float32) {
		for r := 0; r < len(src)/l; r++ { // r = (b·H + j)·L + i
			row, dst := src[r*l:(r+1)*l], o[r*l:(r+1)*l]
			if mask == nil {
				for c, v := range row {
					dst[c] = s * v
				}
				continue
			}
			m := mask.Data()[(r/(h*l))*l : (r/(h*l)+1)*l]
			for c, v := range row {
				dst[c] = s*v + m[c]
			}
		}
	}, func(g []float32) {
		gs := autograd.GradBuffer(scores)
		for i, v := range g {
			gs[i] += s * v
		}
	})
}

// addTo adds src into dst elementwise.
func addTo(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] += v
	}
}

// Generators implements Stochastic.
func (a *MultiHeadAttention) Generators() []*rand.PCG { return CollectGenerators(a.parts()...) }

func (a *MultiHeadAttention) parts() []Module {
	return []Module{a.Query, a.Key, a.Value, a.Out, a.AttnDropout}
}

// Params implements Module.
func (a *MultiHeadAttention) Params() []*autograd.Tensor {
	return Collect(Module.Params, a.parts()...)
}

// Buffers implements Module.
func (a *MultiHeadAttention) Buffers() []*autograd.Tensor { return nil }

// SetTraining implements Module.
func (a *MultiHeadAttention) SetTraining(training bool) { SetTrainingAll(training, a.parts()...) }
