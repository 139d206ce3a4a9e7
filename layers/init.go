package layers

import (
	"math"
	"math/rand/v2"

	"github.com/mirage-go/mirage/autograd"
)

// Weight initialisation. The defaults reproduce PyTorch's reset_parameters:
// nn.Linear and nn.Conv2d draw their weight from kaiming_uniform_(a=√5),
// whose bound gain·√(3/fan_in) with gain = √(2/(1+a²)) = √(1/3) simplifies
// to 1/√fan_in, and their bias from U(±1/√fan_in). Models that want another
// scheme (ResNet's Kaiming-normal, BERT's N(0, 0.02)) overwrite the weights
// with the exported helpers below after construction.

// DefaultBound returns PyTorch's default init bound 1/√fanIn for Linear and
// Conv2d weights and biases.
func DefaultBound(fanIn int) float64 {
	return 1 / math.Sqrt(float64(fanIn))
}

// InitUniform fills w with independent draws from U(−bound, bound).
func InitUniform(w *autograd.Tensor, bound float64, rng *rand.Rand) {
	for i := range w.Data() {
		w.Data()[i] = float32((2*rng.Float64() - 1) * bound)
	}
}

// InitNormal fills w with independent draws from N(0, std²).
func InitNormal(w *autograd.Tensor, std float64, rng *rand.Rand) {
	for i := range w.Data() {
		w.Data()[i] = float32(rng.NormFloat64() * std)
	}
}

// InitKaimingNormal fills w from N(0, 2/fan), PyTorch's
// kaiming_normal_(nonlinearity="relu") with fan = fan_in or fan_out as the
// caller chooses (for a convolution weight (out, in, kh, kw), fan_in is
// in·kh·kw and fan_out is out·kh·kw).
func InitKaimingNormal(w *autograd.Tensor, fan int, rng *rand.Rand) {
	InitNormal(w, math.Sqrt(2/float64(fan)), rng)
}

// InitConstant sets every element of w to v.
func InitConstant(w *autograd.Tensor, v float32) {
	for i := range w.Data() {
		w.Data()[i] = v
	}
}

// buffer returns a named tensor that does not require a gradient.
func buffer(name string, shape ...int) *autograd.Tensor {
	b := autograd.Zeros(shape...)
	b.Name = name
	return b
}
