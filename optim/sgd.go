package optim

import (
	"fmt"

	"github.com/mirage-go/mirage/autograd"
)

// SGDConfig holds the hyper-parameters of [SGD]; the zero value of each
// optional field switches that feature off, as in torch.optim.SGD.
type SGDConfig struct {
	// LR is the learning rate (> 0).
	LR float64
	// Momentum is the momentum factor μ (0 = plain SGD).
	Momentum float64
	// Dampening τ scales the new gradient in the momentum buffer by 1-τ.
	Dampening float64
	// WeightDecay λ adds λ·p to the gradient (L2 penalty, coupled).
	WeightDecay float64
	// Nesterov uses Nesterov momentum; it needs Momentum > 0 and
	// Dampening = 0.
	Nesterov bool
	// NoDecay, when set, selects parameters exempt from weight decay.
	NoDecay ParamFilter
}

// SGD is stochastic gradient descent with optional momentum, Nesterov
// momentum and weight decay, following torch.optim.SGD exactly:
//
//	g ← grad + λ·p
//	if μ ≠ 0:
//	    b ← g                       on the parameter's first step
//	    b ← μ·b + (1-τ)·g           afterwards
//	    g ← g + μ·b  (Nesterov)  or  g ← b
//	p ← p - lr·g
//
// Note that the first step copies the gradient into the momentum buffer
// without dampening; this is PyTorch's rule and matters when τ ≠ 0.
type SGD struct {
	cfg    SGDConfig
	params []*autograd.Tensor
	decay  []float64
	buf    [][]float32 // momentum buffers, nil until a parameter's first step
}

// NewSGD returns an SGD optimizer for params, or an error naming the first
// invalid hyper-parameter.
func NewSGD(params []*autograd.Tensor, cfg SGDConfig) (*SGD, error) {
	switch {
	case !(cfg.LR >= 0):
		return nil, fmt.Errorf("optim: SGD learning rate %v must be >= 0", cfg.LR)
	case !(cfg.Momentum >= 0):
		return nil, fmt.Errorf("optim: SGD momentum %v must be >= 0", cfg.Momentum)
	case !(cfg.WeightDecay >= 0):
		return nil, fmt.Errorf("optim: SGD weight decay %v must be >= 0", cfg.WeightDecay)
	case cfg.Nesterov && (cfg.Momentum <= 0 || cfg.Dampening != 0):
		return nil, fmt.Errorf("optim: Nesterov momentum needs momentum > 0 and dampening 0 (got momentum %v, dampening %v)",
			cfg.Momentum, cfg.Dampening)
	}
	return &SGD{
		cfg:    cfg,
		params: params,
		decay:  decayFor(params, cfg.WeightDecay, cfg.NoDecay),
		buf:    make([][]float32, len(params)),
	}, nil
}

// Step applies one SGD update to every parameter that has a gradient.
func (o *SGD) Step() {
	lr := float32(o.cfg.LR)
	mu := float32(o.cfg.Momentum)
	damp := float32(1 - o.cfg.Dampening)
	for i, p := range o.params {
		grad := p.Grad()
		if grad == nil {
			continue
		}
		w := p.Data()
		wd := float32(o.decay[i])
		if mu == 0 {
			for j, g := range grad {
				g += wd * w[j]
				w[j] -= lr * g
			}
			continue
		}
		b := o.buf[i]
		first := b == nil
		if first {
			b = make([]float32, len(w))
			o.buf[i] = b
		}
		for j, g := range grad {
			g += wd * w[j]
			if first {
				b[j] = g
			} else {
				b[j] = mu*b[j] + damp*g
			}
			if o.cfg.Nesterov {
				g += mu * b[j]
			} else {
				g = b[j]
			}
			w[j] -= lr * g
		}
	}
}

// ZeroGrad clears all gradients.
func (o *SGD) ZeroGrad() { zeroGrads(o.params) }

// LR returns the current learning rate.
func (o *SGD) LR() float64 { return o.cfg.LR }

// SetLR sets the learning rate for the following steps.
func (o *SGD) SetLR(lr float64) { o.cfg.LR = lr }
