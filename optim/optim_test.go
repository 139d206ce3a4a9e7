package optim

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/autograd"
)

// The references below restate PyTorch's documented update rules in float64
// with plain loops, independently of the implementation. The optimizers work
// in float32, so results agree to float32 rounding accumulated over a few
// steps: we allow a relative error of 1e-5 (about 80 float32 ulps).
const refTol = 1e-5

type sgdRef struct {
	lr, mu, damp, wd float64
	nesterov         bool
}

// run applies the torch.optim.SGD algorithm (as printed in its docs) to p
// for each gradient in grads and returns the final parameter.
func (r sgdRef) run(p []float64, grads [][]float64) []float64 {
	p = append([]float64(nil), p...)
	var b []float64
	for t, g0 := range grads {
		g := make([]float64, len(p))
		for j := range p {
			g[j] = g0[j] + r.wd*p[j]
		}
		if r.mu != 0 {
			if t == 0 {
				b = append([]float64(nil), g...)
			} else {
				for j := range b {
					b[j] = r.mu*b[j] + (1-r.damp)*g[j]
				}
			}
			for j := range g {
				if r.nesterov {
					g[j] += r.mu * b[j]
				} else {
					g[j] = b[j]
				}
			}
		}
		for j := range p {
			p[j] -= r.lr * g[j]
		}
	}
	return p
}

type adamWRef struct{ lr, b1, b2, eps, wd float64 }

// run applies the torch.optim.AdamW algorithm (amsgrad off) as printed in
// its docs.
func (r adamWRef) run(p []float64, grads [][]float64) []float64 {
	p = append([]float64(nil), p...)
	m := make([]float64, len(p))
	v := make([]float64, len(p))
	for t0, g := range grads {
		t := float64(t0 + 1)
		for j := range p {
			p[j] -= r.lr * r.wd * p[j]
			m[j] = r.b1*m[j] + (1-r.b1)*g[j]
			v[j] = r.b2*v[j] + (1-r.b2)*g[j]*g[j]
			mHat := m[j] / (1 - math.Pow(r.b1, t))
			vHat := v[j] / (1 - math.Pow(r.b2, t))
			// PyTorch divides by sqrt(v)/sqrt(bc2) + eps, i.e. sqrt(vHat) + eps.
			p[j] -= r.lr * mHat / (math.Sqrt(vHat) + r.eps)
		}
	}
	return p
}

// problem is a parameter vector and a sequence of gradients for it.
type problem struct {
	p     []float64
	grads [][]float64
}

func randomProblem(seed uint64, n, steps int) problem {
	rng := rand.New(rand.NewPCG(seed, 7))
	pr := problem{p: make([]float64, n)}
	for j := range pr.p {
		pr.p[j] = float64(float32(rng.NormFloat64()))
	}
	for range steps {
		g := make([]float64, n)
		for j := range g {
			g[j] = float64(float32(rng.NormFloat64()))
		}
		pr.grads = append(pr.grads, g)
	}
	return pr
}

// runOptimizer feeds pr's gradients to the optimizer built by mk and
// returns the final parameter.
func runOptimizer(t *testing.T, pr problem, mk func([]*autograd.Tensor) (Optimizer, error)) []float32 {
	t.Helper()
	x := autograd.Param("w", len(pr.p))
	for j, v := range pr.p {
		x.Data()[j] = float32(v)
	}
	opt, err := mk([]*autograd.Tensor{x})
	require.NoError(t, err)
	g := make([]float32, len(pr.p))
	x.SetGrad(g)
	for _, step := range pr.grads {
		opt.ZeroGrad()
		for j, v := range step {
			g[j] += float32(v)
		}
		opt.Step()
	}
	return x.Data()
}

func requireClose(t *testing.T, want []float64, got []float32) {
	t.Helper()
	require.Len(t, got, len(want))
	for j := range want {
		require.InDelta(t, want[j], float64(got[j]), refTol*math.Max(1, math.Abs(want[j])), "element %d", j)
	}
}

func TestSGDMatchesPyTorchRule(t *testing.T) {
	pr := randomProblem(1, 17, 6)
	for _, tc := range []struct {
		name string
		cfg  SGDConfig
	}{
		{"plain", SGDConfig{LR: 0.1}},
		{"weight decay", SGDConfig{LR: 0.1, WeightDecay: 0.05}},
		{"momentum", SGDConfig{LR: 0.05, Momentum: 0.9}},
		{"momentum dampening", SGDConfig{LR: 0.05, Momentum: 0.9, Dampening: 0.3}},
		{"nesterov", SGDConfig{LR: 0.05, Momentum: 0.9, Nesterov: true}},
		{"nesterov weight decay", SGDConfig{LR: 0.05, Momentum: 0.8, Nesterov: true, WeightDecay: 5e-4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := sgdRef{lr: tc.cfg.LR, mu: tc.cfg.Momentum, damp: tc.cfg.Dampening, wd: tc.cfg.WeightDecay, nesterov: tc.cfg.Nesterov}
			got := runOptimizer(t, pr, func(ps []*autograd.Tensor) (Optimizer, error) { return NewSGD(ps, tc.cfg) })
			requireClose(t, ref.run(pr.p, pr.grads), got)
		})
	}
}

// TestSGDFirstStepBuffer pins PyTorch's first-step rule with numbers worked
// by hand: p=1, constant gradient 1, lr 0.1, momentum 0.9, dampening 0.5.
// Step 1: b=g=1 (no dampening), p=0.9. Step 2: b=0.9·1+0.5·1=1.4, p=0.76.
// Step 3: b=0.9·1.4+0.5=1.76, p=0.584.
func TestSGDFirstStepBuffer(t *testing.T) {
	pr := problem{p: []float64{1}, grads: [][]float64{{1}, {1}, {1}}}
	got := runOptimizer(t, pr, func(ps []*autograd.Tensor) (Optimizer, error) {
		return NewSGD(ps, SGDConfig{LR: 0.1, Momentum: 0.9, Dampening: 0.5})
	})
	requireClose(t, []float64{0.584}, got)
}

func TestAdamWMatchesPyTorchRule(t *testing.T) {
	pr := randomProblem(2, 19, 8)
	for _, tc := range []struct {
		name string
		cfg  AdamWConfig
	}{
		{"defaults", DefaultAdamWConfig(1e-3)},
		{"large lr and decay", AdamWConfig{LR: 0.1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1}},
		{"no decay other betas", AdamWConfig{LR: 0.01, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := adamWRef{lr: tc.cfg.LR, b1: tc.cfg.Beta1, b2: tc.cfg.Beta2, eps: tc.cfg.Eps, wd: tc.cfg.WeightDecay}
			got := runOptimizer(t, pr, func(ps []*autograd.Tensor) (Optimizer, error) { return NewAdamW(ps, tc.cfg) })
			requireClose(t, ref.run(pr.p, pr.grads), got)
		})
	}
}

// TestAdamWFirstStep: p=1, g=0.5, lr 0.1, decay 0.01. Decay gives 0.999;
// m=0.05, v=2.5e-4, bias-corrected m̂=0.5, v̂=0.25, so the step is
// 0.1·0.5/(0.5+1e-8) ≈ 0.1 and p ≈ 0.899.
func TestAdamWFirstStep(t *testing.T) {
	pr := problem{p: []float64{1}, grads: [][]float64{{0.5}}}
	got := runOptimizer(t, pr, func(ps []*autograd.Tensor) (Optimizer, error) {
		return NewAdamW(ps, DefaultAdamWConfig(0.1))
	})
	requireClose(t, []float64{0.999 - 0.1*0.5/(0.5+1e-8)}, got)
}

// TestSkipsParamsWithoutGrad checks that a parameter without a gradient is
// untouched, and that AdamW starts its bias correction at its own first
// step (so its first move is ≈ lr, not a fraction of it).
func TestSkipsParamsWithoutGrad(t *testing.T) {
	for _, tc := range []struct {
		name string
		mk   func([]*autograd.Tensor) (Optimizer, error)
	}{
		{"sgd", func(ps []*autograd.Tensor) (Optimizer, error) {
			return NewSGD(ps, SGDConfig{LR: 0.1, Momentum: 0.9, WeightDecay: 0.1})
		}},
		{"adamw", func(ps []*autograd.Tensor) (Optimizer, error) { return NewAdamW(ps, DefaultAdamWConfig(0.1)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := autograd.Param("a", 2), autograd.Param("b", 2)
			copy(a.Data(), []float32{1, 2})
			copy(b.Data(), []float32{3, 4})
			opt, err := tc.mk([]*autograd.Tensor{a, b})
			require.NoError(t, err)
			a.SetGrad([]float32{1, 1})
			for range 3 {
				opt.Step()
			}
			require.Equal(t, []float32{3, 4}, b.Data(), "b has no gradient and must not move")
			require.NotEqual(t, []float32{1, 2}, a.Data())
		})
	}
	t.Run("adamw late start", func(t *testing.T) {
		a, b := autograd.Param("a", 1), autograd.Param("b", 1)
		b.Data()[0] = 1
		opt, err := NewAdamW([]*autograd.Tensor{a, b}, AdamWConfig{LR: 0.1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
		require.NoError(t, err)
		a.SetGrad([]float32{1})
		for range 5 {
			opt.Step()
		}
		b.SetGrad([]float32{1})
		opt.Step()
		require.InDelta(t, 0.9, float64(b.Data()[0]), 1e-6)
	})
}

func TestNoDecayFilter(t *testing.T) {
	w, bias := autograd.Param("fc.weight", 1, 1), autograd.Param("fc.bias", 1)
	w.Data()[0], bias.Data()[0] = 1, 1
	w.SetGrad([]float32{0})
	bias.SetGrad([]float32{0})
	for _, tc := range []struct {
		name   string
		filter ParamFilter
	}{{"by name", NameHasSuffix(".bias")}, {"vectors", Vectors}} {
		t.Run(tc.name, func(t *testing.T) {
			w.Data()[0], bias.Data()[0] = 1, 1
			opt, err := NewSGD([]*autograd.Tensor{w, bias}, SGDConfig{LR: 0.1, WeightDecay: 0.5, NoDecay: tc.filter})
			require.NoError(t, err)
			opt.Step()
			require.InDelta(t, 0.95, float64(w.Data()[0]), 1e-7, "weight decays: 1 - 0.1·0.5·1")
			require.Equal(t, float32(1), bias.Data()[0], "bias is exempt")
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		msg  string
	}{
		{"negative lr", second(NewSGD(nil, SGDConfig{LR: -1})), "learning rate"},
		{"NaN lr", second(NewSGD(nil, SGDConfig{LR: math.NaN()})), "learning rate"},
		{"negative momentum", second(NewSGD(nil, SGDConfig{LR: 1, Momentum: -0.1})), "momentum"},
		{"nesterov without momentum", second(NewSGD(nil, SGDConfig{LR: 1, Nesterov: true})), "Nesterov"},
		{"nesterov with dampening", second(NewSGD(nil, SGDConfig{LR: 1, Momentum: 0.9, Dampening: 0.1, Nesterov: true})), "Nesterov"},
		{"beta1 = 1", second(NewAdamW(nil, AdamWConfig{LR: 1, Beta1: 1, Beta2: 0.9})), "beta1"},
		{"beta2 < 0", second(NewAdamW(nil, AdamWConfig{LR: 1, Beta1: 0.9, Beta2: -1})), "beta2"},
		{"negative decay", second(NewAdamW(nil, AdamWConfig{LR: 1, Beta1: 0.9, Beta2: 0.9, WeightDecay: -1})), "weight decay"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorContains(t, tc.err, tc.msg)
		})
	}
}

func second[T any](_ T, err error) error { return err }

func TestSetLR(t *testing.T) {
	for _, opt := range []Optimizer{
		must(NewSGD(nil, SGDConfig{LR: 0.1})),
		must(NewAdamW(nil, DefaultAdamWConfig(0.1))),
	} {
		require.Equal(t, 0.1, opt.LR())
		opt.SetLR(0.02)
		require.Equal(t, 0.02, opt.LR())
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestClipGradNorm(t *testing.T) {
	newParams := func() []*autograd.Tensor {
		a, b, c := autograd.Param("a", 2), autograd.Param("b", 1), autograd.Param("c", 3)
		a.SetGrad([]float32{3, 4})
		b.SetGrad([]float32{12})
		return []*autograd.Tensor{a, b, c} // c has no gradient; total norm is 13
	}
	t.Run("clips to maxNorm", func(t *testing.T) {
		ps := newParams()
		total := ClipGradNorm(ps, 6.5)
		require.InDelta(t, 13, total, 1e-12)
		coef := 6.5 / (13 + 1e-6)
		require.InDeltaSlice(t, []float64{3 * coef, 4 * coef}, f64(ps[0].Grad()), 1e-6)
		require.InDeltaSlice(t, []float64{12 * coef}, f64(ps[1].Grad()), 1e-6)
		require.Nil(t, ps[2].Grad())
	})
	t.Run("leaves small gradients alone", func(t *testing.T) {
		ps := newParams()
		require.InDelta(t, 13, ClipGradNorm(ps, 20), 1e-12)
		require.Equal(t, []float32{3, 4}, ps[0].Grad())
	})
	t.Run("non-finite norm untouched", func(t *testing.T) {
		ps := newParams()
		ps[1].Grad()[0] = float32(math.NaN())
		require.True(t, math.IsNaN(ClipGradNorm(ps, 1)))
		require.Equal(t, []float32{3, 4}, ps[0].Grad())
	})
}

func f64(xs []float32) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(x)
	}
	return out
}

func TestSchedules(t *testing.T) {
	const base, lo = 0.1, 0.001
	oc := OneCycleLR{Max: 1, TotalSteps: 100}
	for _, tc := range []struct {
		name string
		s    Schedule
		t    int
		want float64
	}{
		{"constant", Constant(0.3), 1000, 0.3},
		{"step start", StepLR{Base: base, StepSize: 10, Gamma: 0.5}, 0, base},
		{"step before boundary", StepLR{Base: base, StepSize: 10, Gamma: 0.5}, 9, base},
		{"step at boundary", StepLR{Base: base, StepSize: 10, Gamma: 0.5}, 10, base / 2},
		{"step two boundaries", StepLR{Base: base, StepSize: 10, Gamma: 0.5}, 25, base / 4},
		{"cosine start", CosineAnnealing{Base: base, Min: lo, Steps: 100}, 0, base},
		{"cosine middle", CosineAnnealing{Base: base, Min: lo, Steps: 100}, 50, (base + lo) / 2},
		{"cosine quarter", CosineAnnealing{Base: base, Min: lo, Steps: 100}, 25, lo + (base-lo)*(1+math.Sqrt2/2)/2},
		{"cosine end", CosineAnnealing{Base: base, Min: lo, Steps: 100}, 100, lo},
		{"cosine past end", CosineAnnealing{Base: base, Min: lo, Steps: 100}, 150, lo},
		{"warmup start", LinearWarmup{Steps: 10, StartFactor: 0.1, After: Constant(base)}, 0, 0.1 * base},
		{"warmup middle", LinearWarmup{Steps: 10, After: Constant(base)}, 5, base / 2},
		{"warmup hands over", LinearWarmup{Steps: 10, After: CosineAnnealing{Base: base, Min: lo, Steps: 100}}, 10, base},
		{"warmup then cosine", LinearWarmup{Steps: 10, After: CosineAnnealing{Base: base, Min: lo, Steps: 100}}, 60, (base + lo) / 2},
		{"multistep before", MultiStep(base, []int{10, 20}, 0.1), 9, base},
		{"multistep first", MultiStep(base, []int{10, 20}, 0.1), 10, base * 0.1},
		{"multistep both", MultiStep(base, []int{10, 20}, 0.1), 30, base * 0.01},
		{"warmup constructor start", Warmup(Constant(base), 4), 0, base / 4},
		{"warmup constructor end", Warmup(Constant(base), 4), 3, base * (0.25 + 0.75*3.0/4)},
		{"cosine constructor", Cosine(base, lo, 100), 50, (base + lo) / 2},
		{"onecycle constructor", OneCycle(2, 100), 29, 2},
		// OneCycle, 100 steps, PyTorch defaults: starts at max/25, peaks at
		// step 0.3·100-1 = 29, ends at max/25/1e4 at step 99.
		{"onecycle start", oc, 0, 1.0 / 25},
		{"onecycle peak", oc, 29, 1},
		{"onecycle warm-up middle", oc, 14, 1.0/25 + (1-1.0/25)*(1-math.Cos(math.Pi*14/29))/2},
		{"onecycle anneal middle", oc, 64, (1 + 1.0/25/1e4) / 2},
		{"onecycle end", oc, 99, 1.0 / 25 / 1e4},
		{"onecycle past end", oc, 120, 1.0 / 25 / 1e4},
		{"onecycle one-step warm-up", OneCycleLR{Max: 1, TotalSteps: 10, PctStart: 0.1}, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.InDelta(t, tc.want, tc.s.LR(tc.t), 1e-12)
		})
	}
}
