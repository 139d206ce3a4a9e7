// Custombackend writes a backend of its own — int8 GEMMs with stochastic
// rounding and a scale per row of A and per column of B — registers it
// next to the shipped ones with a typed configuration, and compares it
// with fp32: the error of one product, then training the same model.
//
//	go run ./examples/custombackend -steps 300
package main

import (
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/fp32"
	"github.com/mirage-go/mirage/models"
	"github.com/mirage-go/mirage/optim"
)

// int8SR implements backend.Backend. Its one method, MatMul, gets every
// product of the model: forward passes and both gradients.
type int8SR struct{ rng *rand.Rand }

func (*int8SR) Name() string { return "int8-sr" }

func (b *int8SR) MatMul(_ backend.Call, g backend.GEMM) error {
	if err := g.Validate(); err != nil {
		return err
	}
	a, sa := b.quantise(g.M, g.K, g.AtA) // the rows of op(A), then the columns of op(B)
	bt, sb := b.quantise(g.N, g.K, func(j, p int) float32 { return g.AtB(p, j) })
	for i := range g.M {
		for j := range g.N {
			var sum int32 // exact for K below 2^31/127² ≈ 133,000
			for p := range g.K {
				sum += int32(a[i*g.K+p]) * int32(bt[j*g.K+p])
			}
			if !g.Accumulate {
				g.C[i*g.LDC+j] = 0 // C holds garbage unless accumulating
			}
			g.C[i*g.LDC+j] += float32(sum) * sa[i] * sb[j]
		}
	}
	return nil
}

// quantise rounds each of n vectors of length k to int8 on a scale of its
// own (max |x| ↦ 127), stochastically: x/s rounds up with probability
// equal to its fractional part, so the rounding is unbiased.
func (b *int8SR) quantise(n, k int, at func(v, p int) float32) ([]int8, []float32) {
	q, scale := make([]int8, n*k), make([]float32, n)
	for v := range n {
		var amax float32
		for p := range k {
			amax = max(amax, float32(math.Abs(float64(at(v, p)))))
		}
		if amax == 0 {
			continue
		}
		scale[v] = amax / 127
		for p := range k {
			x := float64(at(v, p) / scale[v])
			q[v*k+p] = int8(max(-127, min(127, math.Floor(x+b.rng.Float64()))))
		}
	}
	return q, scale
}

// int8Config is the backend's typed configuration. Its knob is bound as a
// flag, so that the registry can set it from text: a command line, a
// sweep spec, a compare arm (int8-sr:int8-seed=7).
type int8Config struct{ Seed uint64 }

func (c *int8Config) BindFlags(fs *flag.FlagSet) {
	fs.Uint64Var(&c.Seed, "int8-seed", c.Seed, "seed of the stochastic rounding")
}

func (c *int8Config) Validate() error { return nil } // every seed is valid

// int8Backend describes the backend to a registry: name, defaults and
// constructor. Registering it is the one line a new backend needs.
func int8Backend() backend.Descriptor {
	return backend.Descriptor{Name: "int8-sr", Help: "int8 GEMMs with stochastic rounding",
		NewConfig: func() backend.Config { return &int8Config{Seed: 3} },
		New: func(c backend.Config) (backend.Backend, error) {
			return &int8SR{rand.New(rand.NewPCG(c.(*int8Config).Seed, 4))}, nil
		}}
}

func main() {
	steps := flag.Int("steps", 300, "training steps per backend")
	flag.Parse()
	rng := rand.New(rand.NewPCG(1, 2))

	// One product: relative error against fp32.
	g := backend.GEMM{M: 64, N: 64, K: 256, A: randn(rng, 64*256), LDA: 256, B: randn(rng, 256*64), LDB: 64, LDC: 64}
	want, got := make([]float32, 64*64), make([]float32, 64*64)
	g.C = want
	must(fp32.New().MatMul(backend.Call{}, g))
	g.C = got
	must((&int8SR{rng}).MatMul(backend.Call{}, g))
	var num, den float64
	for i := range want {
		num += math.Pow(float64(got[i]-want[i]), 2)
		den += math.Pow(float64(want[i]), 2)
	}
	fmt.Printf("one 64x64x256 product: relative error %.2e\n", math.Sqrt(num/den))

	// Training the same model from the same seed: the label of x is the
	// sign of x₀+x₁.
	x, labels := randn(rng, 256*8), make([]int, 256)
	for i := range labels {
		if x[i*8]+x[i*8+1] > 0 {
			labels[i] = 1
		}
	}
	reg := mirage.Default().Backends
	must(reg.Add(int8Backend()))
	for _, name := range []string{"fp32", "int8-sr"} {
		b, err := reg.New(name, nil) // the defaults
		must(err)
		model, err := models.MLPModel().New(models.Spec{InputShape: []int{8}, NumClasses: 2, MLPHidden: []int{32}, Seed: 1})
		must(err)
		opt, err := optim.NewSGD(model.Params(), optim.SGDConfig{LR: 0.05, Momentum: 0.9})
		must(err)
		tape := autograd.NewTape(b)
		var loss *autograd.Tensor
		for range *steps {
			tape.Reset()
			opt.ZeroGrad()
			loss = tape.CrossEntropy(model.Forward(tape, autograd.New(x, 256, 8)), labels, 0)
			must(tape.Backward(loss))
			opt.Step()
		}
		fmt.Printf("%-8s final training loss %.4f\n", b.Name(), loss.Item())
	}
}

func randn(rng *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(rng.NormFloat64())
	}
	return out
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
