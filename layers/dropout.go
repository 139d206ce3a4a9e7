package layers

import (
	"fmt"
	"math/rand/v2"

	"github.com/mirage-go/mirage/autograd"
)

// Dropout is PyTorch's nn.Dropout: in training mode each element is zeroed
// with probability P and the survivors are scaled by 1/(1−P); in evaluation
// mode it is the identity. The layer owns its random generator, derived
// from the one given at construction, so a run with the same seed draws the
// same masks. Like PyTorch it starts in training mode.
type Dropout struct {
	P float32

	rng      *rand.Rand
	src      *rand.PCG // rng's source, see Generators
	training bool
}

// NewDropout returns a dropout layer with drop probability p in [0, 1).
// A p outside that range is a programming error and panics; validate user
// settings before building a model.
func NewDropout(p float32, rng *rand.Rand) *Dropout {
	if p < 0 || p >= 1 {
		panic(fmt.Sprintf("layers.NewDropout: probability %g is outside [0, 1)", p))
	}
	// An independent generator derived from rng, so that a layer that keeps
	// drawing random numbers has its own stream and does not shift the draws
	// of other layers when its use changes. Its source is kept so that its
	// position can be saved (see Stochastic).
	src := rand.NewPCG(rng.Uint64(), rng.Uint64())
	return &Dropout{P: p, rng: rand.New(src), src: src, training: true}
}

// Forward implements Module.
func (d *Dropout) Forward(t *autograd.Tape, x *autograd.Tensor) *autograd.Tensor {
	if !d.training || d.P == 0 {
		return x
	}
	return t.Dropout(x, d.P, d.rng)
}

// Params implements Module.
func (d *Dropout) Params() []*autograd.Tensor { return nil }

// Buffers implements Module.
func (d *Dropout) Buffers() []*autograd.Tensor { return nil }

// SetTraining implements Module.
func (d *Dropout) SetTraining(training bool) { d.training = training }

// Training reports whether the layer is in training mode.
func (d *Dropout) Training() bool { return d.training }
