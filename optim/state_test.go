package optim

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/autograd"
)

// newParams returns two named parameters with random values.
func newParams(rng *rand.Rand) []*autograd.Tensor {
	a, b := autograd.Zeros(3, 4), autograd.Zeros(4)
	a.Name, b.Name = "fc.weight", "fc.bias"
	for _, p := range []*autograd.Tensor{a, b} {
		p.SetRequiresGrad(true)
		for i := range p.Data() {
			p.Data()[i] = float32(rng.NormFloat64())
		}
	}
	return []*autograd.Tensor{a, b}
}

func setGrads(params []*autograd.Tensor, rng *rand.Rand) {
	for _, p := range params {
		g := make([]float32, p.Numel())
		for i := range g {
			g[i] = float32(rng.NormFloat64())
		}
		p.SetGrad(g)
	}
}

func clone(params []*autograd.Tensor) []*autograd.Tensor {
	out := make([]*autograd.Tensor, len(params))
	for i, p := range params {
		out[i] = autograd.New(append([]float32(nil), p.Data()...), p.Shape()...)
		out[i].Name = p.Name
		out[i].SetRequiresGrad(true)
	}
	return out
}

// An optimizer rebuilt from another's State continues bit for bit as the
// original does: momentum, moments and step counts (AdamW's bias
// correction) all come across.
func TestStateRoundTrip(t *testing.T) {
	builders := map[string]func([]*autograd.Tensor) Optimizer{
		"sgd-nesterov": func(p []*autograd.Tensor) Optimizer {
			o, err := NewSGD(p, SGDConfig{LR: 0.1, Momentum: 0.9, Nesterov: true, WeightDecay: 1e-3})
			require.NoError(t, err)
			return o
		},
		"sgd-dampening": func(p []*autograd.Tensor) Optimizer {
			o, err := NewSGD(p, SGDConfig{LR: 0.05, Momentum: 0.8, Dampening: 0.3})
			require.NoError(t, err)
			return o
		},
		"adamw": func(p []*autograd.Tensor) Optimizer {
			o, err := NewAdamW(p, DefaultAdamWConfig(1e-2))
			require.NoError(t, err)
			return o
		},
	}
	for name, build := range builders {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			params := newParams(rng)
			opt := build(params)
			for range 5 {
				setGrads(params, rng)
				opt.Step()
			}
			state := opt.(Stateful).State()
			resumedParams := clone(params)
			resumed := build(resumedParams)
			resumed.SetLR(123) // overwritten by the state
			require.NoError(t, resumed.(Stateful).SetState(state))
			require.Equal(t, opt.LR(), resumed.LR())
			grads := rand.New(rand.NewPCG(3, 4))
			for range 4 {
				setGrads(params, grads)
				for i, p := range params {
					resumedParams[i].SetGrad(append([]float32(nil), p.Grad()...))
				}
				opt.Step()
				resumed.Step()
			}
			for i := range params {
				require.Equal(t, params[i].Data(), resumedParams[i].Data(), "%s after resuming", params[i].Name)
			}
			// State returns copies: changing them changes nothing.
			for _, bufs := range state.Buffers {
				for _, b := range bufs {
					b[0] = 1e9
				}
			}
			require.NotEqual(t, float32(1e9), opt.(Stateful).State().Buffers["fc.bias"][firstKind(state)][0])
		})
	}
}

func firstKind(s State) string {
	for k := range s.Buffers["fc.bias"] {
		return k
	}
	return ""
}

func TestSetStateRefusesMismatches(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	params := newParams(rng)
	adam, err := NewAdamW(params, DefaultAdamWConfig(1e-3))
	require.NoError(t, err)
	setGrads(params, rng)
	adam.Step()
	good := adam.State()
	sgd, err := NewSGD(params, SGDConfig{LR: 0.1, Momentum: 0.9})
	require.NoError(t, err)
	plain, err := NewSGD(params, SGDConfig{LR: 0.1})
	require.NoError(t, err)
	sgd.Step()
	sgdState := sgd.State()

	edit := func(f func(s *State)) State {
		s := adam.State()
		f(&s)
		return s
	}
	for _, tc := range []struct {
		name  string
		opt   Stateful
		state State
		want  string
	}{
		{"unknown parameter", adam, edit(func(s *State) { s.Buffers["fc2.weight"] = s.Buffers["fc.bias"] }), `"fc2.weight", which is not a parameter`},
		{"wrong length", adam, edit(func(s *State) { s.Buffers["fc.bias"]["exp_avg"] = make([]float32, 5) }), "has 5 values, the parameter 4"},
		{"missing buffer", adam, edit(func(s *State) { delete(s.Buffers["fc.bias"], "exp_avg_sq") }), "want [exp_avg exp_avg_sq]"},
		{"zero steps", adam, edit(func(s *State) { s.Steps["fc.bias"] = 0 }), "step count 0"},
		{"steps without buffers", adam, edit(func(s *State) { delete(s.Buffers, "fc.bias") }), "steps but no buffers"},
		{"infinite lr", adam, edit(func(s *State) { s.LR = math.Inf(1) }), "learning rate"},
		{"NaN lr", adam, edit(func(s *State) { s.LR = math.NaN() }), "learning rate"},
		{"adam state into sgd", sgd, good, "keeps none"},
		{"momentum into plain sgd", plain, sgdState, "without momentum has no buffers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.opt.State()
			err := tc.opt.SetState(tc.state)
			require.ErrorContains(t, err, tc.want)
			require.Equal(t, before, tc.opt.State(), "unchanged after a refused state")
		})
	}
}
