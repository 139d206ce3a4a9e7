// Package optim updates model parameters from their gradients: the SGD and
// AdamW optimizers, learning-rate schedules and gradient-norm clipping.
//
// The update rules are PyTorch's (torch.optim.SGD and torch.optim.AdamW), to
// the letter, so that hyper-parameters carry over from PyTorch recipes. An
// optimizer works on a list of [autograd.Tensor] parameters and reads each
// one's Data and Grad. A parameter whose Grad is nil has not taken part in a
// backward pass yet and is skipped, as in PyTorch. ZeroGrad keeps the
// gradient buffers (filled with zeros) rather than dropping them, like
// PyTorch's zero_grad(set_to_none=False), so as not to reallocate them every
// step: a parameter that once had a gradient keeps being updated (weight
// decay, momentum) in steps where it receives none.
//
// A training step looks like:
//
//	opt, err := optim.NewSGD(model.Params(), optim.SGDConfig{LR: 0.1, Momentum: 0.9})
//	sched := optim.Warmup(optim.Cosine(0.1, 0, total), 100)
//	for step := range total {
//		opt.SetLR(sched.LR(step))
//		opt.ZeroGrad()
//		... forward, tape.Backward(loss) ...
//		optim.ClipGradNorm(model.Params(), 1.0) // optional
//		opt.Step()
//	}
//
// Arithmetic: parameters, gradients and optimizer state are float32 (as in
// PyTorch for float32 models); scalar coefficients such as bias corrections
// are computed in float64 and rounded once.
package optim

import (
	"strings"

	"github.com/mirage-go/mirage/autograd"
)

// Optimizer updates parameters in place from their gradients.
type Optimizer interface {
	// Step applies one update to every parameter that has a gradient.
	Step()
	// ZeroGrad clears the gradients of all parameters (keeping their
	// buffers) so that the next backward pass starts from zero.
	ZeroGrad()
	// LR is the current learning rate.
	LR() float64
	// SetLR changes the learning rate used by the following steps;
	// schedules drive it.
	SetLR(lr float64)
}

// ParamFilter selects parameters, for example those exempt from weight
// decay. It sees the whole tensor, so it can decide by name (p.Name) or by
// shape.
type ParamFilter func(p *autograd.Tensor) bool

// NameHasSuffix returns a filter selecting parameters whose name ends in one
// of the suffixes, e.g. NameHasSuffix(".bias").
func NameHasSuffix(suffixes ...string) ParamFilter {
	return func(p *autograd.Tensor) bool {
		for _, s := range suffixes {
			if strings.HasSuffix(p.Name, s) {
				return true
			}
		}
		return false
	}
}

// Vectors selects parameters with at most one dimension: biases and the
// scales and shifts of normalisation layers. Exempting exactly these from
// weight decay is the usual recipe (GPT-2, timm, nanoGPT).
func Vectors(p *autograd.Tensor) bool { return len(p.Shape()) <= 1 }

// decayFor returns the weight decay that applies to each parameter.
func decayFor(params []*autograd.Tensor, wd float64, exempt ParamFilter) []float64 {
	d := make([]float64, len(params))
	for i, p := range params {
		if exempt == nil || !exempt(p) {
			d[i] = wd
		}
	}
	return d
}

func zeroGrads(params []*autograd.Tensor) {
	for _, p := range params {
		p.ZeroGrad()
	}
}
