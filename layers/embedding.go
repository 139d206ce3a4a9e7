package layers

import (
	"math/rand/v2"

	"github.com/mirage-go/mirage/autograd"
)

// Embedding is PyTorch's nn.Embedding: a lookup table of num vectors of
// size dim. Its input holds integer ids stored as float32 (exact below
// 2^24), any shape S; the output has shape S + (dim). An id outside
// [0, num) is reported through the tape's error, not a panic.
type Embedding struct {
	Name   string
	Weight *autograd.Tensor // (num, dim), named Name+".weight"
}

// NewEmbedding returns an embedding table initialised from N(0, 1), as in
// PyTorch.
func NewEmbedding(name string, num, dim int, rng *rand.Rand) *Embedding {
	e := &Embedding{Name: name, Weight: autograd.Param(name+".weight", num, dim)}
	InitNormal(e.Weight, 1, rng)
	return e
}

// Forward implements Module.
func (e *Embedding) Forward(t *autograd.Tape, ids *autograd.Tensor) *autograd.Tensor {
	return t.Embedding(ids, e.Weight)
}

// Params implements Module.
func (e *Embedding) Params() []*autograd.Tensor { return []*autograd.Tensor{e.Weight} }

// Buffers implements Module.
func (e *Embedding) Buffers() []*autograd.Tensor { return nil }

// SetTraining implements Module; Embedding behaves the same in both modes.
func (e *Embedding) SetTraining(bool) {}
