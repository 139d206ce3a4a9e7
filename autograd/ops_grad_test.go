package autograd

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend/fp32"
)

// distinct returns a tensor whose elements are a random permutation of
// 0.1·(i − n/2) + 0.05: no zero (ReLU kink), neighbours differ by 0.1 ≫ the finite-difference step, so
// max-pooling's choice of maximum cannot flip during a gradient check.
func distinct(rng *rand.Rand, shape ...int) *Tensor {
	x := Zeros(shape...)
	for i, p := range rng.Perm(len(x.data)) {
		x.data[i] = 0.1*float32(p-len(x.data)/2) + 0.05
	}
	return x.SetRequiresGrad(true)
}

// constant returns a tensor that does not require a gradient.
func constant(rng *rand.Rand, shape ...int) *Tensor {
	return randn(rng, shape...).SetRequiresGrad(false)
}

// TestOpGradients checks every op's backward against central finite
// differences (GradCheck). Tolerance: |analytic − numeric| ≤ 2e-3 + 2e-2·|numeric|
// with step 1e-2 (gcAtol, gcRtol, gcEps), unless a case states otherwise.
func TestOpGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	type gcase struct {
		name   string
		inputs []*Tensor
		f      func(tp *Tape, in []*Tensor) *Tensor
	}
	cases := []gcase{
		// Existing ops.
		{"Sum", []*Tensor{randn(rng, 2, 3)}, func(tp *Tape, in []*Tensor) *Tensor { return tp.Sum(in[0]) }},
		{"Mean", []*Tensor{randn(rng, 2, 3)}, func(tp *Tape, in []*Tensor) *Tensor { return tp.Mean(in[0]) }},
		{"Scale", []*Tensor{randn(rng, 2, 3)}, func(tp *Tape, in []*Tensor) *Tensor { return tp.Scale(in[0], -1.5) }},
		{"ReLU", []*Tensor{distinct(rng, 3, 4)}, func(tp *Tape, in []*Tensor) *Tensor { return tp.ReLU(in[0]) }},
		{"Linear", []*Tensor{randn(rng, 3, 4), randn(rng, 2, 4), randn(rng, 2)}, func(tp *Tape, in []*Tensor) *Tensor {
			return tp.Linear(in[0], in[1], in[2], "fc")
		}},
		// Shape ops.
		{"Reshape", []*Tensor{randn(rng, 2, 3, 4)}, func(tp *Tape, in []*Tensor) *Tensor {
			return tp.Mul(tp.Reshape(in[0], 4, -1), tp.Reshape(in[0], 4, 6)) // x used twice: gradients add
		}},
		{"Transpose2D", []*Tensor{randn(rng, 3, 4)}, func(tp *Tape, in []*Tensor) *Tensor { return tp.Transpose(in[0]) }},
		{"Transpose4D", []*Tensor{randn(rng, 2, 3, 1, 4)}, func(tp *Tape, in []*Tensor) *Tensor { return tp.Transpose(in[0], 0, 2, 3, 1) }},
		{"Concat0", []*Tensor{randn(rng, 1, 3), randn(rng, 2, 3), randn(rng, 3, 3)}, func(tp *Tape, in []*Tensor) *Tensor {
			return tp.Concat(0, in...)
		}},
		{"Concat1", []*Tensor{randn(rng, 2, 1, 2), randn(rng, 2, 3, 2)}, func(tp *Tape, in []*Tensor) *Tensor { return tp.Concat(1, in...) }},
		{"ConcatLast", []*Tensor{randn(rng, 2, 2, 1), randn(rng, 2, 2, 3)}, func(tp *Tape, in []*Tensor) *Tensor { return tp.Concat(-1, in...) }},
		{"Slice", []*Tensor{randn(rng, 2, 5, 3)}, func(tp *Tape, in []*Tensor) *Tensor { return tp.Slice(in[0], 1, 1, 4) }},
		{"SliceLast", []*Tensor{randn(rng, 2, 5)}, func(tp *Tape, in []*Tensor) *Tensor { return tp.Slice(in[0], -1, 0, 2) }},
		// Activations.
		{"GELU", []*Tensor{randn(rng, 3, 5)}, func(tp *Tape, in []*Tensor) *Tensor { return tp.GELU(in[0]) }},
		{"Tanh", []*Tensor{randn(rng, 3, 5)}, func(tp *Tape, in []*Tensor) *Tensor { return tp.Tanh(in[0]) }},
		{"Sigmoid", []*Tensor{randn(rng, 3, 5)}, func(tp *Tape, in []*Tensor) *Tensor { return tp.Sigmoid(in[0]) }},
		{"Softmax", []*Tensor{randn(rng, 2, 3, 4)}, func(tp *Tape, in []*Tensor) *Tensor { return tp.Softmax(in[0]) }},
		{"LogSoftmax", []*Tensor{randn(rng, 2, 3, 4)}, func(tp *Tape, in []*Tensor) *Tensor { return tp.LogSoftmax(in[0]) }},
		{"CrossEntropy", []*Tensor{randn(rng, 4, 5)}, func(tp *Tape, in []*Tensor) *Tensor {
			return tp.CrossEntropy(in[0], []int{0, 4, 2, 2}, 0)
		}},
		{"CrossEntropySmoothed", []*Tensor{randn(rng, 4, 5)}, func(tp *Tape, in []*Tensor) *Tensor {
			return tp.CrossEntropy(in[0], []int{1, 3, 0, 4}, 0.2)
		}},
		// Convolution: padding, stride, rectangular kernels, with and without bias.
		{"Conv2d3x3Pad1", []*Tensor{randn(rng, 2, 2, 5, 5), randn(rng, 3, 2, 3, 3), randn(rng, 3)}, func(tp *Tape, in []*Tensor) *Tensor {
			return tp.Conv2d(in[0], in[1], in[2], 1, 1, "conv")
		}},
		{"Conv2dStride2", []*Tensor{randn(rng, 2, 2, 6, 5), randn(rng, 3, 2, 3, 3), nil}, func(tp *Tape, in []*Tensor) *Tensor {
			return tp.Conv2d(in[0], in[1], nil, 2, 1, "conv")
		}},
		{"Conv2d2x3NoPad", []*Tensor{randn(rng, 1, 3, 4, 5), randn(rng, 2, 3, 2, 3), randn(rng, 2)}, func(tp *Tape, in []*Tensor) *Tensor {
			return tp.Conv2d(in[0], in[1], in[2], 1, 0, "conv")
		}},
		{"Conv2d5x5NoPad", []*Tensor{randn(rng, 2, 2, 7, 6), randn(rng, 3, 2, 5, 5), randn(rng, 3)}, func(tp *Tape, in []*Tensor) *Tensor {
			return tp.Conv2d(in[0], in[1], in[2], 1, 0, "conv")
		}},
		{"Conv2d5x5Pad3", []*Tensor{randn(rng, 1, 2, 4, 3), randn(rng, 2, 2, 5, 5), nil}, func(tp *Tape, in []*Tensor) *Tensor {
			return tp.Conv2d(in[0], in[1], nil, 1, 3, "conv")
		}},
		{"Conv2d1x1", []*Tensor{randn(rng, 2, 3, 3, 3), randn(rng, 4, 3, 1, 1), nil}, func(tp *Tape, in []*Tensor) *Tensor {
			return tp.Conv2d(in[0], in[1], nil, 1, 0, "conv")
		}},
		{"Conv2dConstInput", []*Tensor{constant(rng, 2, 1, 4, 4), randn(rng, 2, 1, 3, 3), randn(rng, 2)}, func(tp *Tape, in []*Tensor) *Tensor {
			return tp.Conv2d(in[0], in[1], in[2], 1, 1, "conv")
		}},
		// Pooling.
		{"MaxPool2x2", []*Tensor{distinct(rng, 2, 2, 4, 4)}, func(tp *Tape, in []*Tensor) *Tensor { return tp.MaxPool2d(in[0], 2, 2, 0) }},
		{"MaxPool3x3s2p1", []*Tensor{distinct(rng, 1, 2, 5, 5)}, func(tp *Tape, in []*Tensor) *Tensor { return tp.MaxPool2d(in[0], 3, 2, 1) }},
		{"AvgPool2x2", []*Tensor{randn(rng, 2, 2, 4, 4)}, func(tp *Tape, in []*Tensor) *Tensor { return tp.AvgPool2d(in[0], 2, 2, 0) }},
		{"AvgPool3x3s1p1", []*Tensor{randn(rng, 1, 2, 4, 4)}, func(tp *Tape, in []*Tensor) *Tensor { return tp.AvgPool2d(in[0], 3, 1, 1) }},
		{"GlobalAvgPool", []*Tensor{randn(rng, 2, 3, 2, 3)}, func(tp *Tape, in []*Tensor) *Tensor { return tp.GlobalAvgPool(in[0]) }},
		// Normalisation (training: batch statistics depend on x).
		{"BatchNorm2dTrain", []*Tensor{randn(rng, 3, 2, 2, 2), randn(rng, 2), randn(rng, 2)}, func(tp *Tape, in []*Tensor) *Tensor {
			return tp.BatchNorm(in[0], in[1], in[2], Zeros(2), Full(1, 2), true, 0.1, 1e-5)
		}},
		{"BatchNorm1dTrain", []*Tensor{randn(rng, 5, 3), randn(rng, 3), randn(rng, 3)}, func(tp *Tape, in []*Tensor) *Tensor {
			return tp.BatchNorm(in[0], in[1], in[2], nil, nil, true, 0.1, 1e-5)
		}},
		{"BatchNormEval", []*Tensor{randn(rng, 2, 2, 2, 2), randn(rng, 2), randn(rng, 2)}, func(tp *Tape, in []*Tensor) *Tensor {
			rv := Full(0.5, 2)
			rv.data[1] = 2
			return tp.BatchNorm(in[0], in[1], in[2], Full(0.3, 2), rv, false, 0.1, 1e-5)
		}},
		{"BatchNormReLUTrain", []*Tensor{randn(rng, 3, 2, 2, 2), randn(rng, 2), randn(rng, 2)}, func(tp *Tape, in []*Tensor) *Tensor {
			return tp.BatchNormReLU(in[0], in[1], in[2], nil, nil, true, 0.1, 1e-5)
		}},
		{"BatchNormAddReLUTrain", []*Tensor{randn(rng, 3, 2, 2, 2), randn(rng, 3, 2, 2, 2), randn(rng, 2), randn(rng, 2)}, func(tp *Tape, in []*Tensor) *Tensor {
			return tp.BatchNormAddReLU(in[0], in[1], in[2], in[3], nil, nil, true, 0.1, 1e-5)
		}},
		{"AddReLU", []*Tensor{randn(rng, 3, 4), randn(rng, 3, 4)}, func(tp *Tape, in []*Tensor) *Tensor { return tp.AddReLU(in[0], in[1]) }},
		{"AddReLUBroadcast", []*Tensor{randn(rng, 3, 4), randn(rng, 4)}, func(tp *Tape, in []*Tensor) *Tensor { return tp.AddReLU(in[0], in[1]) }},
		{"LayerNorm", []*Tensor{randn(rng, 2, 3, 5), randn(rng, 5), randn(rng, 5)}, func(tp *Tape, in []*Tensor) *Tensor {
			return tp.LayerNorm(in[0], in[1], in[2], 1e-5)
		}},
		{"LayerNormNoAffine", []*Tensor{randn(rng, 3, 4)}, func(tp *Tape, in []*Tensor) *Tensor { return tp.LayerNorm(in[0], nil, nil, 1e-5) }},
		// Dropout: the same seed gives the same mask in every evaluation.
		{"Dropout", []*Tensor{randn(rng, 4, 5)}, func(tp *Tape, in []*Tensor) *Tensor {
			return tp.Dropout(in[0], 0.3, rand.New(rand.NewPCG(3, 3)))
		}},
		{"Embedding", []*Tensor{randn(rng, 5, 3)}, func(tp *Tape, in []*Tensor) *Tensor {
			ids := New([]float32{4, 0, 4, 2, 1, 4}, 2, 3) // repeated ids: scatter-add
			return tp.Embedding(ids, in[0])
		}},
		// Batched products: every transpose combination.
		{"BatchedMatMulNN", []*Tensor{randn(rng, 2, 3, 4), randn(rng, 2, 4, 2)}, func(tp *Tape, in []*Tensor) *Tensor {
			return tp.BatchedMatMul(in[0], in[1], false, false, "attn")
		}},
		{"BatchedMatMulNT", []*Tensor{randn(rng, 2, 3, 4), randn(rng, 2, 2, 4)}, func(tp *Tape, in []*Tensor) *Tensor {
			return tp.BatchedMatMul(in[0], in[1], false, true, "attn")
		}},
		{"BatchedMatMulTN", []*Tensor{randn(rng, 2, 4, 3), randn(rng, 2, 4, 2)}, func(tp *Tape, in []*Tensor) *Tensor {
			return tp.BatchedMatMul(in[0], in[1], true, false, "attn")
		}},
		{"BatchedMatMulTT", []*Tensor{randn(rng, 2, 4, 3), randn(rng, 2, 2, 4)}, func(tp *Tape, in []*Tensor) *Tensor {
			return tp.BatchedMatMul(in[0], in[1], true, true, "attn")
		}},
		{"Custom", []*Tensor{randn(rng, 2, 3), randn(rng, 2, 3)}, func(tp *Tape, in []*Tensor) *Tensor {
			return customMulSquare(tp, in[0], in[1])
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var inputs []*Tensor
			for _, in := range tc.inputs {
				if in != nil {
					inputs = append(inputs, in)
				}
			}
			err := GradCheck(fp32.New(), func(tp *Tape) *Tensor { return tc.f(tp, tc.inputs) }, inputs, gcEps, gcAtol, gcRtol)
			require.NoError(t, err)
			for _, in := range inputs {
				if in.RequiresGrad() {
					require.NotNil(t, in.Grad(), "%s received no gradient", in)
				}
			}
		})
	}
}

// customMulSquare computes a·b² through Tape.Custom, as a test of the hook.
func customMulSquare(tp *Tape, a, b *Tensor) *Tensor {
	return tp.Custom(a.Shape(), []*Tensor{a, b},
		func(out []float32) {
			for i := range out {
				out[i] = a.Data()[i] * b.Data()[i] * b.Data()[i]
			}
		},
		func(g []float32) {
			if ga := GradBuffer(a); ga != nil {
				for i := range ga {
					ga[i] += g[i] * b.Data()[i] * b.Data()[i]
				}
			}
			if gb := GradBuffer(b); gb != nil {
				for i := range gb {
					gb[i] += g[i] * 2 * a.Data()[i] * b.Data()[i]
				}
			}
		})
}

// TestSmallConvNetGradient checks a whole LeNet-like chain end to end:
// conv → batch norm → GELU → avg pool → flatten → linear → cross-entropy,
// plus a residual-style Add, with the standard tolerances.
func TestSmallConvNetGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	x := randn(rng, 2, 1, 6, 6)
	w1, b1 := randn(rng, 2, 1, 3, 3), randn(rng, 2)
	gamma, beta := randn(rng, 2), randn(rng, 2)
	w2, b2 := randn(rng, 3, 18), randn(rng, 3)
	params := []*Tensor{x, w1, b1, gamma, beta, w2, b2}
	err := GradCheck(fp32.New(), func(tp *Tape) *Tensor {
		h := tp.Conv2d(x, w1, b1, 1, 1, "conv1")
		h = tp.GELU(tp.BatchNorm(h, gamma, beta, nil, nil, true, 0.1, 1e-5))
		h = tp.Add(h, tp.Conv2d(x, w1, nil, 1, 1, "conv1b")) // shared weights: gradients add
		h = tp.AvgPool2d(h, 2, 2, 0)
		logits := tp.Linear(tp.Reshape(h, 2, -1), w2, b2, "fc")
		return tp.CrossEntropy(logits, []int{2, 0}, 0.1)
	}, params, gcEps, gcAtol, gcRtol)
	require.NoError(t, err)
}

// TestSharedIntermediateGradient feeds one intermediate tensor to several
// ops. The first consumer to run backward may assign into the fresh
// gradient buffer instead of adding (no zeroing); every later one must add.
// Gradients are checked with the standard tolerances.
func TestSharedIntermediateGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 3))
	x := randn(rng, 3, 2, 3, 3)
	gamma, beta := randn(rng, 2), randn(rng, 2)
	err := GradCheck(fp32.New(), func(tp *Tape) *Tensor {
		h := tp.Scale(x, 1.5) // an op output, so its gradient lives in the arena
		a := tp.ReLU(h)
		b := tp.BatchNormReLU(h, gamma, beta, nil, nil, true, 0.1, 1e-5)
		c := tp.GELU(h)
		d := tp.Sub(tp.Add(a, b), tp.Mul(c, h))
		return tp.PadChannels(tp.AddReLU(d, h), 1, 2)
	}, []*Tensor{x, gamma, beta}, gcEps, gcAtol, gcRtol)
	require.NoError(t, err)
}

// TestSharedIntermediateProducts does the same for the products, dropout
// and softmax, whose backward passes write a fresh gradient buffer whole:
// a product of an intermediate with itself (the second operand's gradient
// must add to what the first wrote), batch element by batch element, and
// an intermediate that a product, dropout and softmax all consume.
func TestSharedIntermediateProducts(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 4))
	x, w := randn(rng, 2, 3, 4), randn(rng, 4, 4)
	err := GradCheck(fp32.New(), func(tp *Tape) *Tensor {
		h := tp.Scale(x, 1.5)                            // (2, 3, 4), in the arena
		s := tp.BatchedMatMul(h, h, false, true, "attn") // h·hᵀ per batch element
		s = tp.Softmax(s)
		c := tp.BatchedMatMul(s, h, false, false, "av")
		f := tp.Reshape(h, 6, 4)
		m := tp.MatMul(f, f, true, false, "gram") // fᵀ·f: both operands f
		d := tp.Dropout(tp.MatMul(f, w, false, false, "fc"), 0.25, rand.New(rand.NewPCG(5, 5)))
		return tp.Add(tp.Add(tp.Sum(tp.Mul(c, h)), tp.Sum(tp.Mul(m, m))), tp.Sum(tp.Mul(d, tp.Softmax(f))))
	}, []*Tensor{x, w}, gcEps, gcAtol, gcRtol)
	require.NoError(t, err)
}

func TestPadChannels(t *testing.T) {
	x := New([]float32{1, 2, 3, 4, 5, 6, 7, 8}, 2, 2, 2, 1) // N=2, C=2, H=2, W=1
	x.SetRequiresGrad(true)
	tp := NewTape(fp32.New())
	y := tp.PadChannels(x, 1, 2)
	require.Equal(t, []int{2, 5, 2, 1}, y.Shape())
	require.Equal(t, []float32{
		0, 0, 1, 2, 3, 4, 0, 0, 0, 0,
		0, 0, 5, 6, 7, 8, 0, 0, 0, 0,
	}, y.Data())
	err := GradCheck(fp32.New(), func(tp *Tape) *Tensor { return tp.PadChannels(x, 2, 1) }, []*Tensor{x}, gcEps, gcAtol, gcRtol)
	require.NoError(t, err)
}
