package models

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/fp32"
	"github.com/mirage-go/mirage/layers"
)

// bertParams is the parameter count of a BERT with the given sizes:
// embeddings, per layer two LayerNorms, four D×D projections and the FFN,
// then the final LayerNorm, the pooler and the classifier.
func bertParams(vocab, maxLen, d, nLayers, ffn, classes int) int {
	perLayer := 2*2*d + 4*(d*d+d) + (d*ffn + ffn) + (ffn*d + d)
	return (vocab+maxLen)*d + nLayers*perLayer + 2*d + (d*d + d) + (d*classes + classes)
}

// TestParamCounts checks each model against its published count (LeNet-5
// 61,706; ResNet-20 "0.27M" = 269,722 with option-A shortcuts; CIFAR
// ResNet-18 11,173,962) and the variants derived from them.
func TestParamCounts(t *testing.T) {
	for _, tc := range []struct {
		model string
		spec  Spec
		want  int
	}{
		{"mlp", Spec{InputShape: []int{1, 28, 28}, NumClasses: 10}, 784*256 + 256 + 256*128 + 128 + 128*10 + 10},
		{"mlp", Spec{InputShape: []int{1, 28, 28}, NumClasses: 10, MLPHidden: []int{100}}, 784*100 + 100 + 100*10 + 10},
		{"lenet", Spec{InputShape: []int{1, 28, 28}, NumClasses: 10}, 61706},
		// On 3×32×32, conv1 has 3× the input weights and fc1 sees 16·6·6.
		{"lenet", Spec{InputShape: []int{3, 32, 32}, NumClasses: 10}, 61706 + 2*6*25 + (576-400)*120},
		{"resnet20", Spec{InputShape: []int{3, 32, 32}, NumClasses: 10}, 269722},
		{"resnet20", Spec{InputShape: []int{1, 28, 28}, NumClasses: 10}, 269722 - 2*16*9},
		{"resnet18", Spec{InputShape: []int{3, 32, 32}, NumClasses: 10}, 11173962},
		{"resnet18", Spec{InputShape: []int{1, 28, 28}, NumClasses: 10}, 11173962 - 2*64*9},
		{"bert", Spec{InputShape: []int{128}, NumClasses: 2, VocabSize: 8000}, bertParams(8000, 128, 256, 4, 1024, 2)},
	} {
		m, err := New(tc.model, tc.spec)
		require.NoError(t, err)
		require.Equal(t, tc.want, layers.CountParams(m), "%s %v", tc.model, tc.spec.InputShape)
	}
}

// TestResNet20ProjectionCount: the often-quoted 272,474 is ResNet-20 with
// option-B (1×1 conv + BN) shortcuts in its two downsampling blocks:
// 269,722 + (16·32 + 2·32) + (32·64 + 2·64).
func TestResNet20ProjectionCount(t *testing.T) {
	m := NewResNet(ResNetConfig{
		InChannels: 3, NumClasses: 10, Widths: []int{16, 32, 64}, Blocks: []int{3, 3, 3},
		Shortcut: layers.ShortcutProjection,
	}, rand.New(rand.NewPCG(1, 1)))
	require.Equal(t, 272474, layers.CountParams(m))
}

// TestOutputShapes runs one evaluation forward pass of every model.
func TestOutputShapes(t *testing.T) {
	for _, tc := range []struct {
		model string
		spec  Spec
		batch int
	}{
		{"mlp", Spec{InputShape: []int{1, 28, 28}, NumClasses: 10}, 3},
		{"lenet", Spec{InputShape: []int{1, 28, 28}, NumClasses: 10}, 3},
		{"lenet", Spec{InputShape: []int{3, 32, 32}, NumClasses: 7}, 2},
		{"resnet20", Spec{InputShape: []int{3, 32, 32}, NumClasses: 10}, 2},
		{"resnet20", Spec{InputShape: []int{1, 28, 28}, NumClasses: 10}, 2},
		{"resnet18", Spec{InputShape: []int{3, 32, 32}, NumClasses: 10}, 1},
		{"bert", Spec{InputShape: []int{16}, NumClasses: 2, VocabSize: 50,
			BERT: &BERTConfig{Hidden: 32, Layers: 2, Heads: 4, FFN: 64, LayerNormEps: 1e-12}}, 3},
	} {
		t.Run(tc.model, func(t *testing.T) {
			m, err := New(tc.model, tc.spec)
			require.NoError(t, err)
			m.SetTraining(false)
			x := autograd.Zeros(append([]int{tc.batch}, tc.spec.InputShape...)...)
			rng := rand.New(rand.NewPCG(1, 1))
			for i := range x.Data() {
				if tc.model == "bert" {
					x.Data()[i] = float32(1 + rng.IntN(tc.spec.VocabSize-1))
				} else {
					x.Data()[i] = float32(rng.NormFloat64())
				}
			}
			tp := autograd.NewTape(fp32.New())
			tp.SetNoGrad(true)
			y := m.Forward(tp, x)
			require.NoError(t, tp.Err())
			require.Equal(t, []int{tc.batch, tc.spec.NumClasses}, y.Shape())
		})
	}
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		model string
		spec  Spec
		want  string
	}{
		{"vgg", Spec{InputShape: []int{3, 32, 32}, NumClasses: 10}, `unknown model "vgg" (valid: mlp, lenet, resnet20, resnet18, bert)`},
		{"lenet", Spec{InputShape: []int{128}, NumClasses: 2}, "model lenet needs images of shape (C, H, W), got input shape [128]; use an image data set"},
		{"lenet", Spec{InputShape: []int{1, 8, 8}, NumClasses: 10}, "model lenet: images of 8x8 are too small (need at least 12x12)"},
		{"resnet20", Spec{InputShape: []int{1, 28, 28}, NumClasses: 1}, "model resnet20: need at least 2 classes, got 1"},
		{"bert", Spec{InputShape: []int{1, 28, 28}, NumClasses: 2, VocabSize: 100}, "model bert needs token sequences of shape (L), got input shape [1 28 28]; use a text data set"},
		{"bert", Spec{InputShape: []int{64}, NumClasses: 2}, "model bert: vocabulary size 0 is too small; the spec must carry the tokenizer's vocabulary size"},
		{"bert", Spec{InputShape: []int{64}, NumClasses: 2, VocabSize: 100, BERT: &BERTConfig{Hidden: 30, Layers: 1, Heads: 4, FFN: 8, LayerNormEps: 1e-12}},
			"bert: hidden size 30 is not divisible by 4 heads; choose a head count that divides it"},
		{"bert", Spec{InputShape: []int{64}, NumClasses: 2, VocabSize: 100, BERT: &BERTConfig{Hidden: 32, Layers: 1, Heads: 4, FFN: 8, Dropout: 1.5, LayerNormEps: 1e-12}},
			"bert: dropout 1.5 is outside [0, 1)"},
		{"mlp", Spec{InputShape: []int{4}, NumClasses: 3, MLPHidden: []int{0}}, "model mlp: layer sizes [4 0 3] must all be positive"},
	} {
		_, err := New(tc.model, tc.spec)
		require.EqualError(t, err, tc.want)
	}
}

func TestNewIsDeterministic(t *testing.T) {
	spec := Spec{InputShape: []int{1, 28, 28}, NumClasses: 10, Seed: 42}
	a, err := New("lenet", spec)
	require.NoError(t, err)
	b, err := New("lenet", spec)
	require.NoError(t, err)
	spec.Seed = 43
	c, err := New("lenet", spec)
	require.NoError(t, err)
	require.Equal(t, a.Params()[0].Data(), b.Params()[0].Data())
	require.NotEqual(t, a.Params()[0].Data(), c.Params()[0].Data())
}

func paramNames(m layers.Module) []string {
	var out []string
	for _, p := range layers.StateDict(m) {
		out = append(out, p.Name)
	}
	return out
}

func TestParameterNames(t *testing.T) {
	lenet, err := New("lenet", Spec{InputShape: []int{1, 28, 28}, NumClasses: 10})
	require.NoError(t, err)
	require.Equal(t, []string{
		"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
		"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias",
	}, paramNames(lenet))

	r20, err := New("resnet20", Spec{InputShape: []int{3, 32, 32}, NumClasses: 10})
	require.NoError(t, err)
	names := paramNames(r20)
	require.Equal(t, []string{"conv1.weight", "bn1.weight", "bn1.bias", "layer1.0.conv1.weight"}, names[:4])
	require.Contains(t, names, "layer3.2.bn2.running_var")
	require.NotContains(t, names, "layer2.0.shortcut.0.weight", "ResNet-20 uses parameter-free option-A shortcuts")
	require.Len(t, r20.Params(), 1+2+9*6+2)
	require.Len(t, r20.Buffers(), 2*(1+9*2))

	r18, err := New("resnet18", Spec{InputShape: []int{3, 32, 32}, NumClasses: 10})
	require.NoError(t, err)
	names = paramNames(r18)
	for _, want := range []string{"layer2.0.shortcut.0.weight", "layer2.0.shortcut.1.running_mean", "layer4.1.conv2.weight", "linear.weight", "linear.bias"} {
		require.Contains(t, names, want)
	}
	require.NotContains(t, names, "layer1.0.shortcut.0.weight", "layer1 keeps the shape: identity shortcut")

	bert, err := New("bert", Spec{InputShape: []int{8}, NumClasses: 2, VocabSize: 20,
		BERT: &BERTConfig{Hidden: 8, Layers: 1, Heads: 2, FFN: 16, LayerNormEps: 1e-12}})
	require.NoError(t, err)
	require.Equal(t, []string{
		"embeddings.token.weight", "embeddings.position.weight",
		"encoder.0.norm1.weight", "encoder.0.norm1.bias",
		"encoder.0.attn.query.weight", "encoder.0.attn.query.bias",
		"encoder.0.attn.key.weight", "encoder.0.attn.key.bias",
		"encoder.0.attn.value.weight", "encoder.0.attn.value.bias",
		"encoder.0.attn.out.weight", "encoder.0.attn.out.bias",
		"encoder.0.norm2.weight", "encoder.0.norm2.bias",
		"encoder.0.ffn.fc1.weight", "encoder.0.ffn.fc1.bias",
		"encoder.0.ffn.fc2.weight", "encoder.0.ffn.fc2.bias",
		"norm.weight", "norm.bias", "pooler.weight", "pooler.bias",
		"classifier.weight", "classifier.bias",
	}, paramNames(bert))
}

// TestLeNetGEMMs trains one step of LeNet-5 (batch 2) on a recording
// backend and checks the exact list of GEMMs: every layer's forward, dX and
// dW product reaches the backend with its shape (a convolution is one GEMM
// over the whole batch: rows N·OH·OW, reduction C·k·k), except conv1's dX,
// since the images need no gradient.
func TestLeNetGEMMs(t *testing.T) {
	m, err := New("lenet", Spec{InputShape: []int{1, 28, 28}, NumClasses: 10})
	require.NoError(t, err)
	rec := &backend.Recorder{Inner: fp32.New()}
	tp := autograd.NewTape(rec)
	x := autograd.Zeros(2, 1, 28, 28)
	layers.InitNormal(x, 1, rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, tp.Backward(tp.CrossEntropy(m.Forward(tp, x), []int{3, 7}, 0)))
	var got []string
	for _, c := range rec.Calls() {
		got = append(got, fmt.Sprintf("%s %dx%dx%d", c.Call, c.M, c.N, c.K))
	}
	require.Equal(t, []string{
		"conv1/forward 1568x6x25",  // 2·28·28 output pixels, 6 filters, 1·5·5
		"conv2/forward 200x16x150", // 2·10·10, 16 filters, 6·5·5
		"fc1/forward 2x120x400",
		"fc2/forward 2x84x120",
		"fc3/forward 2x10x84",
		"fc3/dX 2x84x10", "fc3/dW 10x84x2",
		"fc2/dX 2x120x84", "fc2/dW 84x120x2",
		"fc1/dX 2x400x120", "fc1/dW 120x400x2",
		"conv2/dX 200x150x16", "conv2/dW 16x150x200",
		"conv1/dW 6x25x1568",
	}, got)
	for _, p := range m.Params() {
		require.NotNil(t, p.Grad(), "%s got no gradient", p.Name)
	}
}

// tinyBERT is the 2-layer, hidden-8, 2-head BERT of the gradient check,
// without dropout, with parameters redrawn from N(0, 0.5²) so that every
// gradient is far above the check's absolute tolerance.
func tinyBERT(t *testing.T) *BERT {
	rng := rand.New(rand.NewPCG(9, 9))
	m, err := NewBERT(BERTConfig{Vocab: 11, MaxLen: 6, Hidden: 8, Layers: 2, Heads: 2, FFN: 16,
		NumClasses: 3, LayerNormEps: 1e-5}, rng)
	require.NoError(t, err)
	for _, p := range m.Params() {
		layers.InitNormal(p, 0.5, rng)
	}
	return m
}

// TestBERTGradient checks every parameter gradient of a tiny BERT end to
// end (embeddings, masked attention, GELU MLP, LayerNorms, pooler, head)
// against central differences with eps = 1e-2. The query and key
// gradients are small here (max ≈ 0.01–0.02), so the absolute tolerance is
// 5e-4 rather than the layers package's 2e-3; float32 rounding in the
// numeric derivative is ≈ 1e-5 at these sizes.
func TestBERTGradient(t *testing.T) {
	m := tinyBERT(t)
	ids := autograd.New([]float32{
		1, 5, 9, 2, 0, 0,
		1, 3, 10, 4, 7, 6,
	}, 2, 6)
	err := autograd.GradCheck(fp32.New(), func(tp *autograd.Tape) *autograd.Tensor {
		return m.Forward(tp, ids)
	}, m.Params(), 1e-2, 5e-4, 2e-2)
	require.NoError(t, err)
}

// TestBERTPaddingInvariance appends padding to a sequence: with the mask,
// the logits must not change.
func TestBERTPaddingInvariance(t *testing.T) {
	m := tinyBERT(t)
	tp := autograd.NewTape(fp32.New())
	tp.SetNoGrad(true)
	short := m.Forward(tp, autograd.New([]float32{1, 5, 9, 2}, 1, 4)).Data()
	padded := m.Forward(tp, autograd.New([]float32{1, 5, 9, 2, 0, 0}, 1, 6)).Data()
	require.InDeltaSlice(t, short, padded, 1e-5)
	// Real tokens in place of the padding do change the logits.
	other := m.Forward(tp, autograd.New([]float32{1, 5, 9, 2, 3, 3}, 1, 6)).Data()
	require.NotEqual(t, short, other)
}

// TestBERTDropoutModes: with dropout, training-mode passes differ and
// evaluation-mode passes are identical.
func TestBERTDropoutModes(t *testing.T) {
	m, err := NewBERT(BERTConfig{Vocab: 11, MaxLen: 6, Hidden: 8, Layers: 1, Heads: 2, FFN: 16,
		NumClasses: 2, Dropout: 0.5, LayerNormEps: 1e-12}, rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	ids := autograd.New([]float32{1, 2, 3, 4, 5, 0}, 1, 6)
	tp := autograd.NewTape(fp32.New())
	tp.SetNoGrad(true)
	run := func() []float32 { return append([]float32(nil), m.Forward(tp, ids).Data()...) }
	require.NotEqual(t, run(), run(), "training mode draws new dropout masks")
	m.SetTraining(false)
	require.Equal(t, run(), run(), "evaluation mode is deterministic")
}

// TestBERTGEMMTags lists the distinct layer names of BERT's GEMMs: every
// product of attention and the MLP reaches the backend.
func TestBERTGEMMTags(t *testing.T) {
	m, err := NewBERT(BERTConfig{Vocab: 11, MaxLen: 4, Hidden: 8, Layers: 1, Heads: 2, FFN: 16,
		NumClasses: 2, LayerNormEps: 1e-12}, rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	rec := &backend.Recorder{Inner: fp32.New()}
	tp := autograd.NewTape(rec)
	require.NoError(t, tp.Backward(tp.CrossEntropy(m.Forward(tp, autograd.New([]float32{1, 2, 3, 0}, 1, 4)), []int{1}, 0)))
	seen := map[string]bool{}
	for _, c := range rec.Calls() {
		seen[c.Call.String()] = true
	}
	want := map[string]bool{}
	for _, l := range []string{"encoder.0.attn.query", "encoder.0.attn.key", "encoder.0.attn.value",
		"encoder.0.attn.qk", "encoder.0.attn.av", "encoder.0.attn.out",
		"encoder.0.ffn.fc1", "encoder.0.ffn.fc2", "pooler", "classifier"} {
		for _, r := range backend.Roles {
			want[l+"/"+r.String()] = true
		}
	}
	require.Equal(t, want, seen)
}
