package autograd

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/mirage-go/mirage/backend"
)

// GradCheck compares the analytic gradients of f with central finite
// differences. f builds a computation on the tape from inputs and returns
// any tensor; GradCheck reduces it to the scalar Σ out·r with a fixed random
// r so that every output element contributes, then perturbs every element of
// every input that requires a gradient by ±eps.
//
// An element passes when |analytic − numeric| ≤ atol + rtol·|numeric|. The
// error names the first failing input and element. Float32 central
// differences are accurate to about 1e-3 relative with eps = 1e-2 on
// values of order one; callers state their tolerances next to the test.
func GradCheck(b backend.Backend, f func(t *Tape) *Tensor, inputs []*Tensor, eps, atol, rtol float64) error {
	rng := rand.New(rand.NewPCG(1, 2))
	var weights []float32
	eval := func(record bool) (float64, *Tape, *Tensor) {
		t := NewTape(b)
		t.SetNoGrad(!record)
		out := f(t)
		if weights == nil {
			weights = make([]float32, out.Numel())
			for i := range weights {
				weights[i] = float32(rng.NormFloat64())
			}
		}
		var s float64
		for i, v := range out.data {
			s += float64(v) * float64(weights[i])
		}
		return s, t, out
	}
	for _, in := range inputs {
		in.SetGrad(nil)
	}
	_, tape, out := eval(true)
	if err := tape.Err(); err != nil {
		return err
	}
	// Seed the output with the projection weights instead of calling
	// Backward on a scalar: this checks every output element.
	if !out.requiresGrad {
		return fmt.Errorf("gradcheck: output does not require a gradient")
	}
	copy(out.gradBuf(), weights)
	for i := len(tape.nodes) - 1; i >= 0; i-- {
		n := tape.nodes[i]
		if n.out.grad != nil {
			n.backward(n.out.grad)
		}
	}
	if err := tape.Err(); err != nil {
		return err
	}
	for k, in := range inputs {
		if !in.requiresGrad {
			continue
		}
		analytic := append([]float32(nil), in.gradBuf()...)
		for i := range in.data {
			orig := in.data[i]
			in.data[i] = orig + float32(eps)
			plus, _, _ := eval(false)
			in.data[i] = orig - float32(eps)
			minus, _, _ := eval(false)
			in.data[i] = orig
			numeric := (plus - minus) / (2 * eps)
			diff := math.Abs(float64(analytic[i]) - numeric)
			if diff > atol+rtol*math.Abs(numeric) || math.IsNaN(diff) {
				return fmt.Errorf("gradcheck: input %d (%s) element %d: analytic %.6g, numeric %.6g (|diff| %.3g > %.3g + %.3g·|numeric|)",
					k, in, i, analytic[i], numeric, diff, atol, rtol)
			}
		}
	}
	return nil
}
