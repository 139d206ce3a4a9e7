package optim

import (
	"math"

	"github.com/mirage-go/mirage/autograd"
)

// ClipGradNorm rescales the gradients of params so that their global L2
// norm (all gradients taken as one vector) is at most maxNorm, and returns
// the norm before clipping, like torch.nn.utils.clip_grad_norm_:
//
//	total = ‖(g_1, …, g_n)‖₂
//	if total > maxNorm: g_i ← g_i · maxNorm/(total + 1e-6)
//
// The 1e-6 keeps the division finite and is PyTorch's. The norm is summed in
// float64. Parameters without a gradient are ignored. A non-finite total
// (an overflow or NaN in some gradient) is returned without touching the
// gradients, so the caller can notice and skip the step.
func ClipGradNorm(params []*autograd.Tensor, maxNorm float64) float64 {
	var sum float64
	for _, p := range params {
		for _, g := range p.Grad() {
			sum += float64(g) * float64(g)
		}
	}
	total := math.Sqrt(sum)
	if math.IsNaN(total) || math.IsInf(total, 0) {
		return total
	}
	coef := maxNorm / (total + 1e-6)
	if coef >= 1 {
		return total
	}
	c := float32(coef)
	for _, p := range params {
		g := p.Grad()
		for j := range g {
			g[j] *= c
		}
	}
	return total
}
