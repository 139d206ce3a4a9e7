// Custommodel trains a model of its own with mirage as a library: a data
// set (two interleaved spirals), a network with a skip connection, the
// tape, an optimiser, and predictions through gorgonia.org/tensor.
//
//	go run ./examples/custommodel -epochs 20
package main

import (
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"

	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/backend/fp32"
	"github.com/mirage-go/mirage/datasets"
	"github.com/mirage-go/mirage/layers"
	"github.com/mirage-go/mirage/models"
	"github.com/mirage-go/mirage/optim"
)

// spirals is a datasets.Dataset: point i lies on arm i%2 of two spirals,
// with a little noise; the label is the arm.
type spirals struct{ n, seed int }

func (s spirals) Len() int          { return s.n }
func (s spirals) Shape() []int      { return []int{2} }
func (s spirals) Classes() []string { return []string{"arm 0", "arm 1"} }
func (s spirals) Example(i int, dst []float32, _ *rand.Rand) int {
	rng := rand.New(rand.NewPCG(uint64(s.seed), uint64(i)))
	r := 0.1 + 0.9*rng.Float64()
	angle := 3*math.Pi*r + math.Pi*float64(i%2)
	dst[0] = float32(r*math.Cos(angle) + 0.02*rng.NormFloat64())
	dst[1] = float32(r*math.Sin(angle) + 0.02*rng.NormFloat64())
	return i % 2
}

// skipNet is any struct implementing layers.Module: h = relu(in·x),
// h += relu(mid·h), logits = out·h.
type skipNet struct{ in, mid, out *layers.Linear }

func newSkipNet(hidden int, rng *rand.Rand) *skipNet {
	return &skipNet{
		in:  layers.NewLinear("in", 2, hidden, true, rng),
		mid: layers.NewLinear("mid", hidden, hidden, true, rng),
		out: layers.NewLinear("out", hidden, 2, true, rng),
	}
}

func (m *skipNet) Forward(t *autograd.Tape, x *autograd.Tensor) *autograd.Tensor {
	h := t.ReLU(m.in.Forward(t, x))
	h = t.Add(h, t.ReLU(m.mid.Forward(t, h)))
	return m.out.Forward(t, h)
}

func (m *skipNet) Params() []*autograd.Tensor {
	return append(append(m.in.Params(), m.mid.Params()...), m.out.Params()...)
}
func (m *skipNet) Buffers() []*autograd.Tensor { return nil }
func (m *skipNet) SetTraining(bool)            {}

func main() {
	epochs := flag.Int("epochs", 20, "training epochs")
	seed := flag.Uint64("seed", 1, "seed of the initialisation and the batch order")
	flag.Parse()

	model := newSkipNet(64, rand.New(rand.NewPCG(*seed, 0)))
	opt, err := optim.NewSGD(model.Params(), optim.SGDConfig{LR: 0.1, Momentum: 0.9})
	if err != nil {
		log.Fatal(err)
	}
	tape := autograd.NewTape(fp32.New())
	loader := datasets.NewLoader(spirals{n: 2000, seed: 1}, 32, true, false, *seed)
	for epoch := range *epochs {
		var lossSum float64
		it := loader.Epoch(epoch)
		for batch, ok := it.Next(); ok; batch, ok = it.Next() {
			tape.Reset()
			opt.ZeroGrad()
			x := autograd.New(batch.X, batch.N, 2)
			loss := tape.CrossEntropy(model.Forward(tape, x), batch.Labels, 0)
			if err := tape.Backward(loss); err != nil {
				log.Fatal(err)
			}
			opt.Step()
			lossSum += float64(loss.Item()) * float64(batch.N)
		}
		fmt.Printf("epoch %d: train loss %.4f\n", epoch+1, lossSum/2000)
	}

	// Predict on fresh points, handing the model gorgonia.org/tensor Dense.
	it := datasets.NewLoader(spirals{n: 1000, seed: 2}, 1000, false, false, 0).Epoch(0)
	defer it.Close()
	batch, _ := it.Next()
	logits, err := models.Predict(model, fp32.New(), batch.Inputs())
	if err != nil {
		log.Fatal(err)
	}
	correct := 0
	for i, label := range batch.Labels {
		row := logits.Float32s()[2*i : 2*i+2]
		if (row[1] > row[0]) == (label == 1) {
			correct++
		}
	}
	fmt.Printf("test accuracy %.1f%%\n", 100*float64(correct)/float64(batch.N))
}
