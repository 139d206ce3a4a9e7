package models

import (
	"math/rand/v2"
	"testing"

	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/backend/fp32"
)

// benchTrainStep measures one forward + backward pass (no optimizer) of a
// model on the FP32 backend and reports examples per second.
func benchTrainStep(b *testing.B, name string, spec Spec, batch int) {
	m, err := New(name, spec)
	if err != nil {
		b.Fatal(err)
	}
	x := autograd.Zeros(append([]int{batch}, spec.InputShape...)...)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range x.Data() {
		if spec.VocabSize > 0 {
			x.Data()[i] = float32(1 + rng.IntN(spec.VocabSize-1))
		} else {
			x.Data()[i] = float32(rng.NormFloat64())
		}
	}
	labels := make([]int, batch)
	tp := autograd.NewTape(fp32.New())
	b.ResetTimer()
	for range b.N {
		tp.Reset()
		for _, p := range m.Params() {
			p.ZeroGrad()
		}
		if err := tp.Backward(tp.CrossEntropy(m.Forward(tp, x), labels, 0)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "examples/s")
}

func BenchmarkTrainStepLeNet(b *testing.B) {
	benchTrainStep(b, "lenet", Spec{InputShape: []int{1, 28, 28}, NumClasses: 10}, 128)
}

func BenchmarkTrainStepResNet20(b *testing.B) {
	benchTrainStep(b, "resnet20", Spec{InputShape: []int{3, 32, 32}, NumClasses: 10}, 128)
}

func BenchmarkTrainStepBERT(b *testing.B) {
	benchTrainStep(b, "bert", Spec{InputShape: []int{128}, NumClasses: 2, VocabSize: 8000}, 32)
}
