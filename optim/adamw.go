package optim

import (
	"fmt"
	"math"

	"github.com/mirage-go/mirage/autograd"
)

// AdamWConfig holds the hyper-parameters of [AdamW]. Use
// [DefaultAdamWConfig] for PyTorch's defaults and change what you need.
type AdamWConfig struct {
	// LR is the learning rate (PyTorch default 1e-3).
	LR float64
	// Beta1 and Beta2 are the decay rates of the first and second moment
	// estimates (0.9, 0.999).
	Beta1, Beta2 float64
	// Eps is added to the denominator for numerical stability (1e-8).
	Eps float64
	// WeightDecay λ is decoupled: p ← p·(1 - lr·λ) before the Adam step
	// (0.01).
	WeightDecay float64
	// NoDecay, when set, selects parameters exempt from weight decay.
	NoDecay ParamFilter
}

// DefaultAdamWConfig returns torch.optim.AdamW's defaults with the given
// learning rate.
func DefaultAdamWConfig(lr float64) AdamWConfig {
	return AdamWConfig{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}
}

// AdamW is Adam with decoupled weight decay (Loshchilov & Hutter), following
// torch.optim.AdamW (amsgrad off) exactly. With t the parameter's step count
// starting at 1:
//
//	p ← p·(1 - lr·λ)
//	m ← β1·m + (1-β1)·g
//	v ← β2·v + (1-β2)·g²
//	p ← p - (lr / (1-β1^t)) · m / (√v / √(1-β2^t) + ε)
//
// Each parameter counts its own steps, so one that first receives a gradient
// late starts its bias correction at t = 1, as in PyTorch.
type AdamW struct {
	cfg    AdamWConfig
	params []*autograd.Tensor
	decay  []float64
	m, v   [][]float32 // moment estimates, nil until a parameter's first step
	steps  []int
}

// NewAdamW returns an AdamW optimizer for params, or an error naming the
// first invalid hyper-parameter.
func NewAdamW(params []*autograd.Tensor, cfg AdamWConfig) (*AdamW, error) {
	switch {
	case !(cfg.LR >= 0):
		return nil, fmt.Errorf("optim: AdamW learning rate %v must be >= 0", cfg.LR)
	case !(cfg.Beta1 >= 0 && cfg.Beta1 < 1):
		return nil, fmt.Errorf("optim: AdamW beta1 %v must be in [0, 1)", cfg.Beta1)
	case !(cfg.Beta2 >= 0 && cfg.Beta2 < 1):
		return nil, fmt.Errorf("optim: AdamW beta2 %v must be in [0, 1)", cfg.Beta2)
	case !(cfg.Eps >= 0):
		return nil, fmt.Errorf("optim: AdamW eps %v must be >= 0", cfg.Eps)
	case !(cfg.WeightDecay >= 0):
		return nil, fmt.Errorf("optim: AdamW weight decay %v must be >= 0", cfg.WeightDecay)
	}
	return &AdamW{
		cfg:    cfg,
		params: params,
		decay:  decayFor(params, cfg.WeightDecay, cfg.NoDecay),
		m:      make([][]float32, len(params)),
		v:      make([][]float32, len(params)),
		steps:  make([]int, len(params)),
	}, nil
}

// Step applies one AdamW update to every parameter that has a gradient.
func (o *AdamW) Step() {
	b1, b2 := float32(o.cfg.Beta1), float32(o.cfg.Beta2)
	eps := float32(o.cfg.Eps)
	for i, p := range o.params {
		grad := p.Grad()
		if grad == nil {
			continue
		}
		w := p.Data()
		if o.m[i] == nil {
			o.m[i] = make([]float32, len(w))
			o.v[i] = make([]float32, len(w))
		}
		m, v := o.m[i], o.v[i]
		o.steps[i]++
		t := float64(o.steps[i])
		keep := float32(1 - o.cfg.LR*o.decay[i])
		stepSize := float32(o.cfg.LR / (1 - math.Pow(o.cfg.Beta1, t)))
		sqrtBC2 := float32(math.Sqrt(1 - math.Pow(o.cfg.Beta2, t)))
		for j, g := range grad {
			w[j] *= keep
			m[j] = b1*m[j] + (1-b1)*g
			v[j] = b2*v[j] + (1-b2)*g*g
			denom := float32(math.Sqrt(float64(v[j])))/sqrtBC2 + eps
			w[j] -= stepSize * m[j] / denom
		}
	}
}

// ZeroGrad clears all gradients.
func (o *AdamW) ZeroGrad() { zeroGrads(o.params) }

// LR returns the current learning rate.
func (o *AdamW) LR() float64 { return o.cfg.LR }

// SetLR sets the learning rate for the following steps.
func (o *AdamW) SetLR(lr float64) { o.cfg.LR = lr }
