// Custommodel adds a model and a data set of its own to mirage and trains
// them with mirage as a library: a data set (two interleaved spirals) and
// a network with a skip connection, each registered with one line, then
// trained by train.Run — what `mirage train` runs — and asked for
// predictions through gorgonia.org/tensor.
//
//	go run ./examples/custommodel -epochs 20
package main

import (
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/backend/fp32"
	"github.com/mirage-go/mirage/datasets"
	"github.com/mirage-go/mirage/datasets/catalog"
	"github.com/mirage-go/mirage/layers"
	"github.com/mirage-go/mirage/models"
	"github.com/mirage-go/mirage/train"
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

	reg := mirage.Default() // mirage's own models, data sets and backends
	recipe := models.Recipe{Epochs: 20, BatchSize: 32, EvalBatchSize: 500, Optimizer: "sgd", LR: 0.1, Momentum: 0.9, Schedule: "constant"}
	must(reg.Models.Register(models.Descriptor{Name: "skipnet", About: "MLP with a skip connection",
		Input: datasets.Images, DefaultDataset: "spirals", Recipe: recipe,
		Build: func(spec models.Spec, rng *rand.Rand) (layers.Module, error) {
			return &skipNet{
				in:  layers.NewLinear("in", spec.InputShape[0], 64, true, rng),
				mid: layers.NewLinear("mid", 64, 64, true, rng),
				out: layers.NewLinear("out", 64, spec.NumClasses, true, rng),
			}, nil
		}}))
	must(reg.Datasets.Register(catalog.Generated{
		Description: catalog.Description{Name: "spirals", About: "two interleaved spirals", Input: datasets.Images},
		Make: func(catalog.Options) (datasets.Split, error) {
			return datasets.Split{Name: "spirals", Train: spirals{n: 2000, seed: 1}, Test: spirals{n: 1000, seed: 2}}, nil
		}}))

	cfg := train.Recipe(reg, "skipnet", "") // the model's recipe and data set
	cfg.Epochs, cfg.Seed, cfg.Progress = *epochs, *seed, false
	res, err := train.Run(cfg, reg, os.Stderr)
	must(err)
	for _, m := range res.Metrics {
		fmt.Printf("epoch %d: train loss %.4f\n", m.Epoch, m.TrainLoss)
	}

	// Predict on fresh points, handing the model gorgonia.org/tensor Dense.
	it := datasets.NewLoader(spirals{n: 1000, seed: 3}, 1000, false, false, 0).Epoch(0)
	defer it.Close()
	batch, _ := it.Next()
	logits, err := models.Predict(res.Model, fp32.New(), batch.Inputs())
	must(err)
	correct := 0
	for i, label := range batch.Labels {
		row := logits.Float32s()[2*i : 2*i+2]
		if (row[1] > row[0]) == (label == 1) {
			correct++
		}
	}
	fmt.Printf("test accuracy %.1f%%\n", 100*float64(correct)/float64(batch.N))
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
