package layers

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/fp32"
)

// Tolerances for float32 central differences with eps = 1e-2 on values of
// order one (as in the autograd package's own gradient checks).
const (
	gcEps  = 1e-2
	gcAtol = 2e-3
	gcRtol = 2e-2
)

// randn returns an N(0,1) tensor that requires a gradient.
func randn(rng *rand.Rand, shape ...int) *autograd.Tensor {
	x := autograd.Zeros(shape...)
	InitNormal(x, 1, rng)
	return x.SetRequiresGrad(true)
}

// spread returns a tensor holding a random permutation of 0, 0.1, 0.2, …,
// shifted to be centred: every pair of values differs by at least 0.1, so
// a ±1e-2 finite-difference step never swaps the order of two elements
// (max-pooling and ReLU kinks stay put).
func spread(rng *rand.Rand, shape ...int) *autograd.Tensor {
	x := autograd.Zeros(shape...)
	n := x.Numel()
	for i, p := range rng.Perm(n) {
		x.Data()[i] = 0.1*float32(p) - 0.05*float32(n) + 0.05
	}
	return x.SetRequiresGrad(true)
}

// scaleParams redraws every parameter from N(0, 1) so that gradients are
// of order one and a loose absolute tolerance cannot hide a wrong one.
func scaleParams(m Module, rng *rand.Rand) {
	for _, p := range m.Params() {
		InitNormal(p, 1, rng)
	}
}

func TestLayerGradients(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(rng *rand.Rand) (Module, *autograd.Tensor)
	}{
		{"Linear", func(rng *rand.Rand) (Module, *autograd.Tensor) {
			return NewLinear("fc", 4, 3, true, rng), randn(rng, 5, 4)
		}},
		{"Linear3D", func(rng *rand.Rand) (Module, *autograd.Tensor) {
			return NewLinear("fc", 4, 3, true, rng), randn(rng, 2, 3, 4)
		}},
		{"LinearNoBias", func(rng *rand.Rand) (Module, *autograd.Tensor) {
			return NewLinear("fc", 4, 3, false, rng), randn(rng, 5, 4)
		}},
		{"Conv2d", func(rng *rand.Rand) (Module, *autograd.Tensor) {
			return NewConv2d("conv", 2, 3, 3, 1, 1, true, rng), randn(rng, 2, 2, 5, 5)
		}},
		{"Conv2dStride2NoBias", func(rng *rand.Rand) (Module, *autograd.Tensor) {
			return NewConv2d("conv", 2, 3, 3, 2, 0, false, rng), randn(rng, 2, 2, 6, 6)
		}},
		{"BatchNorm1dTrain", func(rng *rand.Rand) (Module, *autograd.Tensor) {
			return NewBatchNorm1d("bn", 3), randn(rng, 6, 3)
		}},
		{"BatchNorm2dTrain", func(rng *rand.Rand) (Module, *autograd.Tensor) {
			return NewBatchNorm2d("bn", 3), randn(rng, 2, 3, 3, 3)
		}},
		{"BatchNorm2dEval", func(rng *rand.Rand) (Module, *autograd.Tensor) {
			bn := NewBatchNorm2d("bn", 3)
			InitUniform(bn.RunningMean, 1, rng)
			InitConstant(bn.RunningVar, 0.7)
			bn.SetTraining(false)
			return bn, randn(rng, 2, 3, 3, 3)
		}},
		{"LayerNorm", func(rng *rand.Rand) (Module, *autograd.Tensor) {
			return NewLayerNorm("ln", 5, 1e-5), randn(rng, 2, 3, 5)
		}},
		{"MaxPool2d", func(rng *rand.Rand) (Module, *autograd.Tensor) {
			return NewMaxPool2d(2, 2, 0), spread(rng, 2, 2, 4, 4)
		}},
		{"MaxPool2dOverlapPadded", func(rng *rand.Rand) (Module, *autograd.Tensor) {
			return NewMaxPool2d(3, 2, 1), spread(rng, 1, 2, 5, 5)
		}},
		{"AvgPool2d", func(rng *rand.Rand) (Module, *autograd.Tensor) {
			return NewAvgPool2d(2, 2, 0), randn(rng, 2, 2, 4, 4)
		}},
		{"GlobalAvgPool", func(rng *rand.Rand) (Module, *autograd.Tensor) {
			return GlobalAvgPool{}, randn(rng, 2, 3, 3, 2)
		}},
		{"Flatten", func(rng *rand.Rand) (Module, *autograd.Tensor) {
			return Flatten{}, randn(rng, 2, 3, 2, 2)
		}},
		{"GELU", func(rng *rand.Rand) (Module, *autograd.Tensor) { return GELU{}, randn(rng, 3, 4) }},
		{"Tanh", func(rng *rand.Rand) (Module, *autograd.Tensor) { return Tanh{}, randn(rng, 3, 4) }},
		{"ReLU", func(rng *rand.Rand) (Module, *autograd.Tensor) { return ReLU{}, spread(rng, 3, 4) }},
		{"Sequential", func(rng *rand.Rand) (Module, *autograd.Tensor) {
			return NewSequential(NewLinear("a", 4, 6, true, rng), Tanh{}, NewLinear("b", 6, 2, true, rng)), randn(rng, 3, 4)
		}},
		{"MultiHeadAttention", func(rng *rand.Rand) (Module, *autograd.Tensor) {
			a, err := NewMultiHeadAttention("attn", 6, 2, 0, rng)
			if err != nil {
				panic(err)
			}
			return a, randn(rng, 2, 3, 6)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 7))
			m, x := tc.build(rng)
			if _, isBN := m.(*BatchNorm); !isBN { // γ=1, β=0 are already O(1)
				scaleParams(m, rng)
			}
			inputs := append([]*autograd.Tensor{x}, m.Params()...)
			err := autograd.GradCheck(fp32.New(), func(tp *autograd.Tape) *autograd.Tensor {
				return m.Forward(tp, x)
			}, inputs, gcEps, gcAtol, gcRtol)
			require.NoError(t, err)
		})
	}
}

// TestBasicBlockGradient checks the residual blocks. ReLU has a kink at 0:
// if a pre-activation lies within the finite-difference step of 0 the
// numeric derivative is meaningless. So each case takes the first seed
// whose pre-activations all stay at least reluMargin away from 0 (a
// criterion independent of the gradients being checked) and fails if none
// of the first 50 seeds qualifies.
func TestBasicBlockGradient(t *testing.T) {
	const reluMargin = 0.05
	for _, tc := range []struct {
		name        string
		in, out, st int
		kind        Shortcut
	}{
		{"identity", 2, 2, 1, ShortcutPad},
		{"pad shortcut", 2, 4, 2, ShortcutPad},
		{"projection", 2, 3, 2, ShortcutProjection},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for seed := uint64(1); seed <= 50; seed++ {
				rng := rand.New(rand.NewPCG(7, seed))
				b := NewBasicBlock("block", tc.in, tc.out, tc.st, tc.kind, rng)
				scaleParams(b, rng)
				x := randn(rng, 2, tc.in, 4, 4)
				if preReLUMargin(b, x) < reluMargin {
					continue
				}
				err := autograd.GradCheck(fp32.New(), func(tp *autograd.Tape) *autograd.Tensor {
					return b.Forward(tp, x)
				}, append([]*autograd.Tensor{x}, b.Params()...), gcEps, gcAtol, gcRtol)
				t.Logf("seed %d (smallest pre-ReLU magnitude %.3f)", seed, preReLUMargin(b, x))
				require.NoError(t, err, "seed %d", seed)
				return
			}
			t.Fatalf("no seed in 1..50 keeps the pre-activations %g away from the ReLU kink", reluMargin)
		})
	}
}

// preReLUMargin recomputes the block's forward pass from its parts and
// returns the smallest |value| entering either ReLU.
func preReLUMargin(b *BasicBlock, x *autograd.Tensor) float64 {
	tp := autograd.NewTape(fp32.New())
	tp.SetNoGrad(true)
	margin := math.Inf(1)
	track := func(v *autograd.Tensor) *autograd.Tensor {
		for _, e := range v.Data() {
			margin = math.Min(margin, math.Abs(float64(e)))
		}
		return tp.ReLU(v)
	}
	h := track(b.BN1.Forward(tp, b.Conv1.Forward(tp, x)))
	h = b.BN2.Forward(tp, b.Conv2.Forward(tp, h))
	skip := x
	if b.Shortcut != nil {
		skip = b.Shortcut.Forward(tp, x)
	}
	track(tp.Add(h, skip))
	return margin
}

// TestAttentionMaskedGradient checks attention's gradient with a padding
// mask, including that padded keys get exactly zero gradient from the
// attention weights.
func TestAttentionMaskedGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	a, err := NewMultiHeadAttention("attn", 4, 2, 0, rng)
	require.NoError(t, err)
	scaleParams(a, rng)
	x := randn(rng, 2, 4, 4)
	ids := autograd.New([]float32{5, 3, 0, 0, 7, 1, 2, 0}, 2, 4)
	mask := PaddingMask(ids)
	err = autograd.GradCheck(fp32.New(), func(tp *autograd.Tape) *autograd.Tensor {
		return a.ForwardMasked(tp, x, mask)
	}, append([]*autograd.Tensor{x}, a.Params()...), gcEps, gcAtol, gcRtol)
	require.NoError(t, err)
}

// TestAttentionMaskIgnoresPaddedKeys changes the features at padded
// positions and checks that the outputs of the real positions do not move.
func TestAttentionMaskIgnoresPaddedKeys(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	a, err := NewMultiHeadAttention("attn", 4, 2, 0, rng)
	require.NoError(t, err)
	ids := autograd.New([]float32{9, 4, 6, 0, 0}, 1, 5)
	x := randn(rng, 1, 5, 4)
	tp := autograd.NewTape(fp32.New())
	tp.SetNoGrad(true)
	before := append([]float32(nil), a.ForwardMasked(tp, x, PaddingMask(ids)).Data()...)
	for i := 3 * 4; i < 5*4; i++ { // positions 3 and 4 are padding
		x.Data()[i] += 5
	}
	after := a.ForwardMasked(tp, x, PaddingMask(ids)).Data()
	require.InDeltaSlice(t, before[:3*4], after[:3*4], 1e-6, "real positions changed when padded features did")
	// Without the mask the same change must be visible, or the test above
	// would prove nothing.
	plain := a.Forward(tp, x).Data()
	x2 := autograd.New(append([]float32(nil), x.Data()...), 1, 5, 4)
	for i := 3 * 4; i < 5*4; i++ {
		x2.Data()[i] -= 5
	}
	require.NotEqual(t, plain[:3*4], a.Forward(tp, x2).Data()[:3*4])
}

// TestAttentionGEMMTags records the backend calls of one training step of
// attention: every product, including Q·Kᵀ and P·V and their gradients,
// reaches the backend under its own layer name.
func TestAttentionGEMMTags(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	a, err := NewMultiHeadAttention("enc.attn", 4, 2, 0, rng)
	require.NoError(t, err)
	rec := &backend.Recorder{Inner: fp32.New()}
	tp := autograd.NewTape(rec)
	x := autograd.Zeros(1, 3, 4) // N=1, H=2: two GEMMs per batched product
	InitNormal(x, 1, rng)
	out := a.Forward(tp, x)
	var forward []string
	for _, c := range rec.Calls() {
		forward = append(forward, c.Call.String())
	}
	require.Equal(t, []string{
		"enc.attn.query/forward", "enc.attn.key/forward", "enc.attn.value/forward",
		"enc.attn.qk/forward", "enc.attn.qk/forward",
		"enc.attn.av/forward", "enc.attn.av/forward",
		"enc.attn.out/forward",
	}, forward)

	rec.Reset()
	require.NoError(t, tp.Backward(tp.Sum(out)))
	count := map[string]int{}
	for _, c := range rec.Calls() {
		count[c.Call.String()]++
	}
	// x needs no gradient, so the projections of x have no dX product;
	// the batched products need both operands' gradients, once per head.
	require.Equal(t, map[string]int{
		"enc.attn.out/dX": 1, "enc.attn.out/dW": 1,
		"enc.attn.av/dX": 2, "enc.attn.av/dW": 2,
		"enc.attn.qk/dX": 2, "enc.attn.qk/dW": 2,
		"enc.attn.query/dW": 1, "enc.attn.key/dW": 1, "enc.attn.value/dW": 1,
	}, count)
}

func TestNewMultiHeadAttentionErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	_, err := NewMultiHeadAttention("attn", 10, 3, 0, rng)
	require.EqualError(t, err, "attention attn: hidden size 10 is not divisible by 3 heads; choose a head count that divides it")
	_, err = NewMultiHeadAttention("attn", 8, 2, 1, rng)
	require.EqualError(t, err, "attention attn: dropout 1 is outside [0, 1)")
}

func TestDropoutLayerGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	x := randn(rng, 4, 5)
	// A fresh layer from the same seed per evaluation draws the same mask,
	// so finite differences see the same function.
	err := autograd.GradCheck(fp32.New(), func(tp *autograd.Tape) *autograd.Tensor {
		return NewDropout(0.3, rand.New(rand.NewPCG(1, 2))).Forward(tp, x)
	}, []*autograd.Tensor{x}, gcEps, gcAtol, gcRtol)
	require.NoError(t, err)
}

// TestDropoutModes checks the drop rate and survivor scale in training mode
// and the identity in evaluation mode.
func TestDropoutModes(t *testing.T) {
	const n, p = 20000, 0.25
	x := autograd.Zeros(n)
	InitConstant(x, 1)
	d := NewDropout(p, rand.New(rand.NewPCG(1, 1)))
	tp := autograd.NewTape(fp32.New())
	require.True(t, d.Training(), "layers start in training mode, as in PyTorch")

	y := d.Forward(tp, x)
	zeros := 0
	for _, v := range y.Data() {
		if v == 0 {
			zeros++
		} else {
			require.InDelta(t, 1/(1-p), v, 1e-6)
		}
	}
	// Binomial(n, p): standard deviation √(n·p·(1−p)) ≈ 61; allow 5σ.
	sigma := math.Sqrt(n * p * (1 - p))
	require.InDelta(t, n*p, float64(zeros), 5*sigma)

	// The same seed draws the same mask.
	y2 := NewDropout(p, rand.New(rand.NewPCG(1, 1))).Forward(tp, x)
	require.Equal(t, y.Data(), y2.Data())

	d.SetTraining(false)
	require.Same(t, x, d.Forward(tp, x), "evaluation-mode dropout is the identity")
}

// TestBatchNormModes checks that training mode normalises with the batch
// statistics and updates the running statistics with momentum 0.1, and
// that evaluation mode uses (and leaves alone) the running statistics.
func TestBatchNormModes(t *testing.T) {
	bn := NewBatchNorm1d("bn", 2)
	require.True(t, bn.Training())
	// Channel 0: 1, 3, 5, 7 (mean 4, biased var 5, unbiased 20/3);
	// channel 1: constant 2 (mean 2, var 0).
	x := autograd.New([]float32{1, 2, 3, 2, 5, 2, 7, 2}, 4, 2)
	tp := autograd.NewTape(fp32.New())
	y := bn.Forward(tp, x)
	inv := 1 / math.Sqrt(5+1e-5)
	want := []float64{-3 * inv, 0, -inv, 0, inv, 0, 3 * inv, 0}
	for i, w := range want {
		require.InDelta(t, w, y.Data()[i], 1e-5, "element %d", i)
	}
	require.InDeltaSlice(t, []float32{0.4, 0.2}, bn.RunningMean.Data(), 1e-6)
	require.InDeltaSlice(t, []float32{0.9 + 0.1*20.0/3, 0.9}, bn.RunningVar.Data(), 1e-6)

	seq := NewSequential(bn)
	seq.SetTraining(false)
	require.False(t, bn.Training(), "Sequential propagates the mode")
	rm := append([]float32(nil), bn.RunningMean.Data()...)
	rv := append([]float32(nil), bn.RunningVar.Data()...)
	y = seq.Forward(tp, x)
	for i, v := range x.Data() {
		ch := i % 2
		w := (float64(v) - float64(rm[ch])) / math.Sqrt(float64(rv[ch])+1e-5)
		require.InDelta(t, w, y.Data()[i], 1e-5, "element %d", i)
	}
	require.Equal(t, rm, bn.RunningMean.Data(), "evaluation must not update running statistics")
	require.Equal(t, rv, bn.RunningVar.Data())
}

// TestDefaultInit checks PyTorch's default initialisations. Tolerances:
// the sample variance of n uniform draws has relative standard error
// √(4/(5n)) (≈ 0.7% for n = 16,000); 5% is over 7σ. The sample std of n
// normal draws has relative error ≈ 1/√(2n); 5% is over 6σ for n ≥ 8,000.
func TestDefaultInit(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	for _, tc := range []struct {
		name   string
		tensor *autograd.Tensor
		bound  float64 // U(±bound); 0 for a normal distribution
		std    float64
	}{
		{"linear weight", NewLinear("fc", 100, 160, true, rng).Weight, 0.1, 0},
		{"linear bias", NewLinear("fc", 4, 16000, true, rng).Bias, 0.5, 0},
		{"conv weight", NewConv2d("c", 16, 100, 3, 1, 1, false, rng).Weight, 1.0 / 12, 0},
		{"conv bias", NewConv2d("c", 4, 16000, 1, 1, 0, true, rng).Bias, 0.5, 0},
		{"embedding", NewEmbedding("emb", 100, 80, rng).Weight, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.tensor.Data()
			var sum, sq, maxAbs float64
			for _, v := range data {
				sum += float64(v)
				sq += float64(v) * float64(v)
				maxAbs = math.Max(maxAbs, math.Abs(float64(v)))
			}
			n := float64(len(data))
			mean := sum / n
			variance := sq/n - mean*mean
			if tc.bound > 0 {
				require.LessOrEqual(t, maxAbs, tc.bound, "draw outside U(±%g)", tc.bound)
				require.Greater(t, maxAbs, 0.99*tc.bound, "draws do not reach the bound")
				require.InEpsilon(t, tc.bound*tc.bound/3, variance, 0.05)
			} else {
				require.InDelta(t, 0, mean, 5*tc.std/math.Sqrt(n))
				require.InEpsilon(t, tc.std, math.Sqrt(variance), 0.05)
			}
		})
	}

	bn := NewBatchNorm2d("bn", 3)
	require.Equal(t, []float32{1, 1, 1}, bn.Weight.Data())
	require.Equal(t, []float32{0, 0, 0}, bn.Bias.Data())
	require.Equal(t, []float32{0, 0, 0}, bn.RunningMean.Data())
	require.Equal(t, []float32{1, 1, 1}, bn.RunningVar.Data())
	ln := NewLayerNorm("ln", 2, 1e-5)
	require.Equal(t, []float32{1, 1}, ln.Weight.Data())
	require.Equal(t, []float32{0, 0}, ln.Bias.Data())

	w := autograd.Zeros(64, 32, 3, 3) // fan_out = 64·9
	InitKaimingNormal(w, 64*9, rng)
	var sq float64
	for _, v := range w.Data() {
		sq += float64(v) * float64(v)
	}
	require.InEpsilon(t, math.Sqrt(2.0/(64*9)), math.Sqrt(sq/float64(w.Numel())), 0.05)
}

func names(ts []*autograd.Tensor) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Name
	}
	return out
}

func TestParameterNames(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	attn, err := NewMultiHeadAttention("attn", 4, 2, 0.1, rng)
	require.NoError(t, err)
	for _, tc := range []struct {
		name           string
		module         Module
		params, bufers []string
	}{
		{"linear", NewLinear("fc1", 2, 3, true, rng), []string{"fc1.weight", "fc1.bias"}, nil},
		{"linear no bias", NewLinear("fc1", 2, 3, false, rng), []string{"fc1.weight"}, nil},
		{"conv", NewConv2d("conv1", 1, 2, 3, 1, 1, true, rng), []string{"conv1.weight", "conv1.bias"}, nil},
		{"batchnorm", NewBatchNorm2d("bn1", 2), []string{"bn1.weight", "bn1.bias"}, []string{"bn1.running_mean", "bn1.running_var"}},
		{"layernorm", NewLayerNorm("ln", 2, 1e-5), []string{"ln.weight", "ln.bias"}, nil},
		{"embedding", NewEmbedding("tok", 5, 2, rng), []string{"tok.weight"}, nil},
		{"attention", attn, []string{
			"attn.query.weight", "attn.query.bias", "attn.key.weight", "attn.key.bias",
			"attn.value.weight", "attn.value.bias", "attn.out.weight", "attn.out.bias",
		}, nil},
		{"block with projection", NewBasicBlock("layer2.0", 2, 4, 2, ShortcutProjection, rng), []string{
			"layer2.0.conv1.weight", "layer2.0.bn1.weight", "layer2.0.bn1.bias",
			"layer2.0.conv2.weight", "layer2.0.bn2.weight", "layer2.0.bn2.bias",
			"layer2.0.shortcut.0.weight", "layer2.0.shortcut.1.weight", "layer2.0.shortcut.1.bias",
		}, []string{
			"layer2.0.bn1.running_mean", "layer2.0.bn1.running_var",
			"layer2.0.bn2.running_mean", "layer2.0.bn2.running_var",
			"layer2.0.shortcut.1.running_mean", "layer2.0.shortcut.1.running_var",
		}},
		{"block with pad shortcut", NewBasicBlock("layer2.0", 2, 4, 2, ShortcutPad, rng), []string{
			"layer2.0.conv1.weight", "layer2.0.bn1.weight", "layer2.0.bn1.bias",
			"layer2.0.conv2.weight", "layer2.0.bn2.weight", "layer2.0.bn2.bias",
		}, []string{
			"layer2.0.bn1.running_mean", "layer2.0.bn1.running_var",
			"layer2.0.bn2.running_mean", "layer2.0.bn2.running_var",
		}},
		{"sequential", NewSequential(NewLinear("a", 2, 2, true, rng), ReLU{}, NewBatchNorm1d("b", 2)),
			[]string{"a.weight", "a.bias", "b.weight", "b.bias"}, []string{"b.running_mean", "b.running_var"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.params, names(tc.module.Params()))
			require.Equal(t, tc.bufers, nilIfEmpty(names(tc.module.Buffers())))
			require.Equal(t, append(append([]string(nil), tc.params...), tc.bufers...), names(StateDict(tc.module)))
			for _, p := range tc.module.Params() {
				require.True(t, p.RequiresGrad(), "%s must be trainable", p.Name)
			}
			for _, b := range tc.module.Buffers() {
				require.False(t, b.RequiresGrad(), "%s must not be trainable", b.Name)
			}
		})
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestCountParams(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	m := NewSequential(
		NewConv2d("c", 3, 8, 3, 1, 1, false, rng), // 216
		NewBatchNorm2d("bn", 8),                   // 16 (+16 buffer values, not counted)
		GlobalAvgPool{},
		NewLinear("fc", 8, 10, true, rng), // 90
	)
	require.Equal(t, 216+16+90, CountParams(m))
}

// TestPadShortcut checks option A's values: x[:, :, ::2, ::2] with one
// zero channel before and after.
func TestPadShortcut(t *testing.T) {
	x := autograd.Zeros(1, 2, 4, 4)
	for i := range x.Data() {
		x.Data()[i] = float32(i)
	}
	tp := autograd.NewTape(fp32.New())
	y := (&PadShortcut{Stride: 2, Extra: 2}).Forward(tp, x)
	require.Equal(t, []int{1, 4, 2, 2}, y.Shape())
	require.Equal(t, []float32{
		0, 0, 0, 0,
		0, 2, 8, 10,
		16, 18, 24, 26,
		0, 0, 0, 0,
	}, y.Data())
}

func TestConvOutSize(t *testing.T) {
	for _, tc := range []struct{ n, k, s, p, want int }{
		{28, 5, 1, 2, 28}, {14, 5, 1, 0, 10}, {32, 3, 2, 1, 16}, {7, 3, 2, 1, 4}, {8, 1, 2, 0, 4},
	} {
		require.Equal(t, tc.want, ConvOutSize(tc.n, tc.k, tc.s, tc.p), "%+v", tc)
	}
}

// TestAttentionValues compares multi-head attention with a direct loop
// implementation of softmax(Q·Kᵀ/√d + mask)·V per sequence and head, so a
// head split or merge in the wrong order cannot hide behind a gradient
// check that is consistent with its own forward pass.
func TestAttentionValues(t *testing.T) {
	const n, l, dim, heads = 2, 3, 6, 3
	d := dim / heads
	rng := rand.New(rand.NewPCG(12, 12))
	a, err := NewMultiHeadAttention("attn", dim, heads, 0, rng)
	require.NoError(t, err)
	x := randn(rng, n, l, dim)
	ids := autograd.New([]float32{4, 2, 0, 3, 5, 8}, n, l)
	tp := autograd.NewTape(fp32.New())
	tp.SetNoGrad(true)
	got := a.ForwardMasked(tp, x, PaddingMask(ids)).Data()

	// proj returns row r of x·Wᵀ + b for a Linear.
	proj := func(lin *Linear, in []float32) []float64 {
		out := make([]float64, lin.Out())
		for o := range out {
			s := float64(lin.Bias.Data()[o])
			for i, v := range in {
				s += float64(lin.Weight.Data()[o*lin.In()+i]) * float64(v)
			}
			out[o] = s
		}
		return out
	}
	for b := 0; b < n; b++ {
		var q, k, v [][]float64
		for i := 0; i < l; i++ {
			row := x.Data()[(b*l+i)*dim : (b*l+i+1)*dim]
			q, k, v = append(q, proj(a.Query, row)), append(k, proj(a.Key, row)), append(v, proj(a.Value, row))
		}
		for i := 0; i < l; i++ {
			ctx := make([]float32, dim)
			for j := 0; j < heads; j++ {
				scores := make([]float64, l)
				maxS := math.Inf(-1)
				for kk := 0; kk < l; kk++ {
					if ids.Data()[b*l+kk] == 0 {
						scores[kk] = math.Inf(-1)
						continue
					}
					for e := 0; e < d; e++ {
						scores[kk] += q[i][j*d+e] * k[kk][j*d+e]
					}
					scores[kk] /= math.Sqrt(float64(d))
					maxS = math.Max(maxS, scores[kk])
				}
				var z float64
				for kk := range scores {
					scores[kk] = math.Exp(scores[kk] - maxS)
					z += scores[kk]
				}
				for kk := range scores {
					for e := 0; e < d; e++ {
						ctx[j*d+e] += float32(scores[kk] / z * v[kk][j*d+e])
					}
				}
			}
			want := proj(a.Out, ctx)
			for o, w := range want {
				require.InDelta(t, w, got[(b*l+i)*dim+o], 1e-5, "sequence %d position %d output %d", b, i, o)
			}
		}
	}
}

// ForwardReLU is exactly ReLU(Forward), in both modes.
func TestBatchNormForwardReLU(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2))
	x := autograd.Zeros(3, 2, 4, 4)
	InitNormal(x, 1, rng)
	for _, training := range []bool{true, false} {
		a, b := NewBatchNorm2d("bn", 2), NewBatchNorm2d("bn", 2)
		a.SetTraining(training)
		b.SetTraining(training)
		tp := autograd.NewTape(fp32.New())
		want := tp.ReLU(a.Forward(tp, x)).Data()
		got := b.ForwardReLU(tp, x).Data()
		require.Equal(t, want, got, "training %v", training)
		require.Equal(t, a.RunningMean.Data(), b.RunningMean.Data(), "training %v", training)
	}
}
