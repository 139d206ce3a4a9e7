package autograd

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/fp32"
	"github.com/mirage-go/mirage/backend/registry"
	"github.com/mirage-go/mirage/internal/conv"
)

// requireClose checks got against a float64 reference elementwise with
// |got − want| ≤ tol·(1 + |want|).
func requireClose(t *testing.T, want []float64, got []float32, tol float64, msgAndArgs ...any) {
	t.Helper()
	require.Len(t, got, len(want), msgAndArgs...)
	for i := range want {
		if d := math.Abs(float64(got[i]) - want[i]); d > tol*(1+math.Abs(want[i])) || math.IsNaN(d) {
			require.Failf(t, "values differ", "element %d: got %g, want %g (tolerance %g): %v", i, got[i], want[i], tol, msgAndArgs)
		}
	}
}

// directConv is the textbook nested-loop cross-correlation in float64.
func directConv(x, w, bias *Tensor, stride, pad int) ([]float64, []int) {
	n, c, h, wd := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	o, kh, kw := w.shape[0], w.shape[2], w.shape[3]
	oh, ow := (h+2*pad-kh)/stride+1, (wd+2*pad-kw)/stride+1
	out := make([]float64, n*o*oh*ow)
	for b := 0; b < n; b++ {
		for f := 0; f < o; f++ {
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					var s float64
					if bias != nil {
						s = float64(bias.data[f])
					}
					for ch := 0; ch < c; ch++ {
						for ky := 0; ky < kh; ky++ {
							for kx := 0; kx < kw; kx++ {
								iy, ix := oy*stride-pad+ky, ox*stride-pad+kx
								if iy < 0 || iy >= h || ix < 0 || ix >= wd {
									continue
								}
								s += float64(x.data[((b*c+ch)*h+iy)*wd+ix]) * float64(w.data[((f*c+ch)*kh+ky)*kw+kx])
							}
						}
					}
					out[((b*o+f)*oh+oy)*ow+ox] = s
				}
			}
		}
	}
	return out, []int{n, o, oh, ow}
}

func TestConv2dMatchesDirectConvolution(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 1))
	for _, tc := range []struct {
		name                  string
		n, c, h, w, o, kh, kw int
		stride, pad           int
		bias                  bool
	}{
		{"3x3 pad1", 2, 3, 7, 7, 4, 3, 3, 1, 1, true},
		{"3x3 stride2 pad1", 2, 3, 8, 7, 5, 3, 3, 2, 1, false},
		{"5x5 pad2 LeNet-like", 3, 1, 12, 12, 6, 5, 5, 1, 2, true},
		{"1x1 stride2", 1, 4, 6, 6, 3, 1, 1, 2, 0, true},
		{"2x4 kernel pad3", 1, 2, 4, 5, 2, 2, 4, 3, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := constant(rng, tc.n, tc.c, tc.h, tc.w)
			w := constant(rng, tc.o, tc.c, tc.kh, tc.kw)
			var bias *Tensor
			if tc.bias {
				bias = constant(rng, tc.o)
			}
			want, shape := directConv(x, w, bias, tc.stride, tc.pad)
			got := NewTape(fp32.New()).Conv2d(x, w, bias, tc.stride, tc.pad, "conv")
			require.Equal(t, shape, got.Shape())
			requireClose(t, want, got.Data(), 1e-5) // float32 sums of ≤ 50 O(1) terms
		})
	}
}

func TestConv2dSendsThreeGEMMsThroughBackend(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 2))
	// N=2, C=3, 6x5 input, O=4, 3x3 kernel, stride 2, pad 1 → 3x3 output.
	const n, c, o, rows, k = 2, 3, 4, 2 * 3 * 3, 3 * 3 * 3
	for _, tc := range []struct {
		name      string
		inputGrad bool
		want      []backend.RecordedCall
	}{
		{"input requires grad", true, []backend.RecordedCall{
			{Call: backend.Call{Layer: "conv1", Role: backend.Forward}, M: rows, N: o, K: k},
			{Call: backend.Call{Layer: "conv1", Role: backend.GradInput}, M: rows, N: k, K: o},
			{Call: backend.Call{Layer: "conv1", Role: backend.GradWeight}, M: o, N: k, K: rows},
		}},
		{"first layer: no dX product", false, []backend.RecordedCall{
			{Call: backend.Call{Layer: "conv1", Role: backend.Forward}, M: rows, N: o, K: k},
			{Call: backend.Call{Layer: "conv1", Role: backend.GradWeight}, M: o, N: k, K: rows},
		}},
	} {
		// fp32 is a Convolver and gets each product whole; hidden behind
		// matmulOnly it gets the same products as im2col GEMMs (one block
		// here).
		for _, inner := range []backend.Backend{fp32.New(), matmulOnly{fp32.New()}} {
			_, whole := inner.(backend.Convolver)
			t.Run(fmt.Sprintf("%s/convolver=%v", tc.name, whole), func(t *testing.T) {
				rec := &backend.Recorder{Inner: inner}
				x := randn(rng, n, c, 6, 5).SetRequiresGrad(tc.inputGrad)
				w, b := randn(rng, o, c, 3, 3), randn(rng, o)
				tp := NewTape(rec)
				require.NoError(t, tp.Backward(tp.Sum(tp.Conv2d(x, w, b, 2, 1, "conv1"))))
				want := slices.Clone(tc.want)
				for i := range want {
					want[i].Conv = whole
				}
				require.Equal(t, want, rec.Calls())
			})
		}
	}
}

func TestPoolingValues(t *testing.T) {
	// One 4x4 channel with values 0..15 and a second that is its negation.
	x := Zeros(1, 2, 4, 4)
	for i := 0; i < 16; i++ {
		x.data[i] = float32(i)
		x.data[16+i] = -float32(i)
	}
	tp := NewTape(fp32.New())
	for _, tc := range []struct {
		name  string
		got   *Tensor
		shape []int
		want  []float64
	}{
		{"max 2x2/2", tp.MaxPool2d(x, 2, 2, 0), []int{1, 2, 2, 2},
			[]float64{5, 7, 13, 15, 0, -2, -8, -10}},
		{"avg 2x2/2", tp.AvgPool2d(x, 2, 2, 0), []int{1, 2, 2, 2},
			[]float64{2.5, 4.5, 10.5, 12.5, -2.5, -4.5, -10.5, -12.5}},
		// Padding 1, stride 2, 3x3 window: corner windows see 4 real
		// pixels; max ignores padding, avg counts it (divides by 9).
		{"max 3x3/2 pad1", tp.MaxPool2d(x, 3, 2, 1), []int{1, 2, 2, 2},
			[]float64{5, 7, 13, 15, 0, -1, -4, -5}},
		{"avg 3x3/2 pad1", tp.AvgPool2d(x, 3, 2, 1), []int{1, 2, 2, 2},
			[]float64{(0 + 1 + 4 + 5) / 9.0, (1 + 2 + 3 + 5 + 6 + 7) / 9.0, (4 + 5 + 8 + 9 + 12 + 13) / 9.0, (5 + 6 + 7 + 9 + 10 + 11 + 13 + 14 + 15) / 9.0,
				-(0 + 1 + 4 + 5) / 9.0, -(1 + 2 + 3 + 5 + 6 + 7) / 9.0, -(4 + 5 + 8 + 9 + 12 + 13) / 9.0, -(5 + 6 + 7 + 9 + 10 + 11 + 13 + 14 + 15) / 9.0}},
		{"global avg", tp.GlobalAvgPool(x), []int{1, 2}, []float64{7.5, -7.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.shape, tc.got.Shape())
			requireClose(t, tc.want, tc.got.Data(), 1e-6)
		})
	}
}

func TestBatchNormRunningStatistics(t *testing.T) {
	// x (N=2, C=2, H=1, W=2): channel 0 holds {1, 2, 3, 6}, channel 1 {0, 0, 4, 4}.
	x := New([]float32{1, 2, 0, 0, 3, 6, 4, 4}, 2, 2, 1, 2)
	gamma := New([]float32{2, 1}, 2)
	beta := New([]float32{0, -1}, 2)
	rm := New([]float32{0.5, 1}, 2)
	rv := New([]float32{1, 2}, 2)
	const momentum, eps = 0.1, 1e-5
	// Batch statistics by hand: channel 0 mean 3, biased var (4+1+0+9)/4 = 3.5,
	// unbiased 14/3; channel 1 mean 2, biased var 4, unbiased 16/3.
	mean := []float64{3, 2}
	biased := []float64{3.5, 4}
	unbiased := []float64{14.0 / 3, 16.0 / 3}

	tp := NewTape(fp32.New())
	y := tp.BatchNorm(x, gamma, beta, rm, rv, true, momentum, eps)
	wantRM := []float64{0.9*0.5 + 0.1*mean[0], 0.9*1 + 0.1*mean[1]}
	wantRV := []float64{0.9*1 + 0.1*unbiased[0], 0.9*2 + 0.1*unbiased[1]}
	requireClose(t, wantRM, rm.Data(), 1e-6, "running mean after one step")
	requireClose(t, wantRV, rv.Data(), 1e-6, "running var after one step")
	wantY := make([]float64, 8)
	g, b := []float64{2, 1}, []float64{0, -1}
	for i, v := range x.Data() {
		ch := (i / 2) % 2
		wantY[i] = g[ch]*(float64(v)-mean[ch])/math.Sqrt(biased[ch]+eps) + b[ch]
	}
	requireClose(t, wantY, y.Data(), 1e-5, "training output uses batch statistics")

	// A second step compounds the exponential average.
	tp.BatchNorm(x, gamma, beta, rm, rv, true, momentum, eps)
	for ch := range wantRM {
		wantRM[ch] = 0.9*wantRM[ch] + 0.1*mean[ch]
		wantRV[ch] = 0.9*wantRV[ch] + 0.1*unbiased[ch]
	}
	requireClose(t, wantRM, rm.Data(), 1e-6, "running mean after two steps")
	requireClose(t, wantRV, rv.Data(), 1e-6, "running var after two steps")

	// Evaluation normalises with the running statistics and leaves them alone.
	before := append([]float32(nil), rm.Data()...)
	y = tp.BatchNorm(x, gamma, beta, rm, rv, false, momentum, eps)
	for i, v := range x.Data() {
		ch := (i / 2) % 2
		wantY[i] = g[ch]*(float64(v)-wantRM[ch])/math.Sqrt(wantRV[ch]+eps) + b[ch]
	}
	requireClose(t, wantY, y.Data(), 1e-5, "evaluation output uses running statistics")
	require.Equal(t, before, rm.Data(), "evaluation must not update the running mean")
}

func TestBatchNormNeedsTwoValuesPerChannel(t *testing.T) {
	tp := NewTape(fp32.New())
	tp.BatchNorm(New([]float32{1, 2}, 1, 2), nil, nil, nil, nil, true, 0.1, 1e-5)
	require.ErrorContains(t, tp.Err(), "batch norm: 1 value(s) per channel")
}

func TestLayerNormValues(t *testing.T) {
	x := New([]float32{1, 2, 3, 4, -1, 0, 0, 1}, 2, 4)
	y := NewTape(fp32.New()).LayerNorm(x, New([]float32{1, 2, 1, 1}, 4), New([]float32{0, 0, 0, 1}, 4), 0)
	// Row 0: mean 2.5, var 1.25. Row 1: mean 0, var 0.5.
	s0, s1 := math.Sqrt(1.25), math.Sqrt(0.5)
	want := []float64{-1.5 / s0, 2 * -0.5 / s0, 0.5 / s0, 1.5/s0 + 1, -1 / s1, 0, 0, 1/s1 + 1}
	requireClose(t, want, y.Data(), 1e-6)
}

func TestSoftmaxValues(t *testing.T) {
	x := New([]float32{1, 2, 3, 1000, 1001, 1002, -5, 0, 5}, 3, 3)
	tp := NewTape(fp32.New())
	sm, lsm := tp.Softmax(x), tp.LogSoftmax(x)
	var want, wantLog []float64
	for r := 0; r < 3; r++ {
		row := x.Data()[r*3 : (r+1)*3]
		// Reference in float64 with the textbook formula on shifted inputs.
		var z float64
		for _, v := range row {
			z += math.Exp(float64(v - row[0]))
		}
		for _, v := range row {
			want = append(want, math.Exp(float64(v-row[0]))/z)
			wantLog = append(wantLog, float64(v-row[0])-math.Log(z))
		}
	}
	requireClose(t, want, sm.Data(), 1e-6, "softmax")
	requireClose(t, wantLog, lsm.Data(), 1e-6, "log-softmax")
	// Rows 0 and 1 differ by a constant shift: softmax must not overflow.
	require.Equal(t, sm.Data()[0:3], sm.Data()[3:6])
}

func TestActivationValues(t *testing.T) {
	xs := []float32{-3, -1, -0.25, 0, 0.5, 2}
	x := New(append([]float32(nil), xs...), len(xs))
	tp := NewTape(fp32.New())
	for _, tc := range []struct {
		name string
		got  *Tensor
		f    func(float64) float64
	}{
		{"GELU", tp.GELU(x), func(v float64) float64 { return v * 0.5 * math.Erfc(-v/math.Sqrt2) }},
		{"Tanh", tp.Tanh(x), math.Tanh},
		{"Sigmoid", tp.Sigmoid(x), func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }},
	} {
		want := make([]float64, len(xs))
		for i, v := range xs {
			want[i] = tc.f(float64(v))
		}
		requireClose(t, want, tc.got.Data(), 1e-6, tc.name)
	}
}

func TestCrossEntropyLabelSmoothing(t *testing.T) {
	logits := New([]float32{2, -1, 0.5, 0, 10, 9, -3, 1, 1, 1, 1, 1}, 3, 4)
	labels := []int{0, 1, 3}
	for _, eps := range []float64{0, 0.1, 0.5} {
		// PyTorch: loss_i = Σ_c −q_c·log p_c with q = (1−ε)·onehot + ε/C.
		var want float64
		for i, y := range labels {
			row := logits.Data()[i*4 : (i+1)*4]
			var z float64
			for _, v := range row {
				z += math.Exp(float64(v))
			}
			for c, v := range row {
				q := eps / 4
				if c == y {
					q += 1 - eps
				}
				want += -q * (float64(v) - math.Log(z))
			}
		}
		want /= float64(len(labels))
		got := NewTape(fp32.New()).CrossEntropy(logits, labels, float32(eps))
		require.Empty(t, got.Shape())
		requireClose(t, []float64{want}, got.Data(), 1e-6, "label smoothing %g", eps)
	}
}

func TestCrossEntropyStableForHugeLogits(t *testing.T) {
	got := NewTape(fp32.New()).CrossEntropy(New([]float32{1e4, 0, -1e4}, 1, 3), []int{1}, 0)
	requireClose(t, []float64{1e4}, got.Data(), 1e-6)
}

func TestBadIndicesAreTapeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(tp *Tape) *Tensor
		want string
	}{
		{"label too large", func(tp *Tape) *Tensor {
			return tp.CrossEntropy(Param("logits", 2, 3), []int{0, 3}, 0)
		}, "cross-entropy: label 3 of sample 1 is outside [0, 3)"},
		{"negative label", func(tp *Tape) *Tensor {
			return tp.CrossEntropy(Param("logits", 1, 3), []int{-1}, 0)
		}, "cross-entropy: label -1 of sample 0"},
		{"label smoothing", func(tp *Tape) *Tensor {
			return tp.CrossEntropy(Param("logits", 1, 3), []int{0}, 1.5)
		}, "label smoothing 1.5 is outside [0, 1]"},
		{"token id out of range", func(tp *Tape) *Tensor {
			return tp.Sum(tp.Embedding(New([]float32{1, 7}, 2), Param("table", 5, 2)))
		}, "embedding: token id 7 at position 1 is not an integer in [0, 5)"},
		{"fractional token id", func(tp *Tape) *Tensor {
			return tp.Sum(tp.Embedding(New([]float32{1.5}, 1), Param("table", 5, 2)))
		}, "embedding: token id 1.5 at position 0"},
		{"dropout probability", func(tp *Tape) *Tensor {
			return tp.Sum(tp.Dropout(Param("x", 3), 1.5, rand.New(rand.NewPCG(1, 1))))
		}, "dropout: probability 1.5 is outside [0, 1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := NewTape(fp32.New())
			loss := tc.run(tp)
			require.ErrorContains(t, tp.Err(), tc.want)
			require.ErrorContains(t, tp.Backward(loss), tc.want, "Backward must report the error")
		})
	}
}

func TestEmbeddingValues(t *testing.T) {
	table := New([]float32{0, 1, 10, 11, 20, 21}, 3, 2)
	out := NewTape(fp32.New()).Embedding(New([]float32{2, 0, 1, 2}, 2, 2), table)
	require.Equal(t, []int{2, 2, 2}, out.Shape())
	require.Equal(t, []float32{20, 21, 0, 1, 10, 11, 20, 21}, out.Data())
}

func TestDropoutStatistics(t *testing.T) {
	const n, p = 100000, 0.3
	x := Full(1, n)
	out := NewTape(fp32.New()).Dropout(x, p, rand.New(rand.NewPCG(5, 5)))
	zeros := 0
	for _, v := range out.Data() {
		if v == 0 {
			zeros++
		} else {
			require.InDelta(t, 1/(1-p), v, 1e-6, "survivors are scaled by 1/(1−p)")
		}
	}
	// Binomial(n, p): standard deviation √(n·p·(1−p)) ≈ 145; allow 5σ.
	require.InDelta(t, p*n, float64(zeros), 5*math.Sqrt(n*p*(1-p)))
	require.Same(t, x, NewTape(fp32.New()).Dropout(x, 0, nil), "p = 0 is the identity")
	allZero := NewTape(fp32.New()).Dropout(x, 1, rand.New(rand.NewPCG(5, 5)))
	require.Equal(t, make([]float32, n), allZero.Data(), "p = 1 drops everything")
}

func TestShapeOpValues(t *testing.T) {
	tp := NewTape(fp32.New())
	x := New([]float32{0, 1, 2, 3, 4, 5}, 2, 3)
	require.Equal(t, []int{3, 2}, tp.Reshape(x, -1, 2).Shape())
	tr := tp.Transpose(x)
	require.Equal(t, []int{3, 2}, tr.Shape())
	require.Equal(t, []float32{0, 3, 1, 4, 2, 5}, tr.Data())
	y := New([]float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 2, 3, 2)
	p := tp.Transpose(y, 2, 0, 1) // p[k][i][j] = y[i][j][k]
	require.Equal(t, []int{2, 2, 3}, p.Shape())
	require.Equal(t, []float32{0, 2, 4, 6, 8, 10, 1, 3, 5, 7, 9, 11}, p.Data())
	c := tp.Concat(1, x, New([]float32{9, 8}, 2, 1))
	require.Equal(t, []float32{0, 1, 2, 9, 3, 4, 5, 8}, c.Data())
	s := tp.Slice(x, 1, 1, 3)
	require.Equal(t, []int{2, 2}, s.Shape())
	require.Equal(t, []float32{1, 2, 4, 5}, s.Data())
}

func TestShapeOpMisuse(t *testing.T) {
	tp := NewTape(fp32.New())
	x := Zeros(2, 3)
	for _, tc := range []struct {
		name string
		f    func()
		want string
	}{
		{"reshape size", func() { tp.Reshape(x, 4, 2) }, "autograd.Reshape: [2 3] has 6 elements, target shape [4 2] has 8"},
		{"reshape infer", func() { tp.Reshape(x, 4, -1) }, "autograd.Reshape: cannot infer -1 in [4 -1] for [2 3] (6 elements)"},
		{"reshape two -1", func() { tp.Reshape(x, -1, -1) }, "autograd.Reshape: bad target shape [-1 -1] for [2 3] (only one -1 is allowed, no other negative sizes)"},
		{"transpose perm", func() { tp.Transpose(x, 0, 0) }, "autograd.Transpose: [0 0] is not a permutation of the 2 dimensions of [2 3]"},
		{"concat shapes", func() { tp.Concat(0, x, Zeros(2, 2)) }, "autograd.Concat: shapes [2 3] and [2 2] differ outside axis 0"},
		{"slice range", func() { tp.Slice(x, 1, 2, 4) }, "autograd.Slice: range [2, 4) outside dimension 1 of [2 3]"},
		{"slice axis", func() { tp.Slice(x, 2, 0, 1) }, "autograd.Slice: axis 2 out of range for 2 dimensions"},
	} {
		t.Run(tc.name, func(t *testing.T) { require.PanicsWithValue(t, tc.want, tc.f) })
	}
}

func TestBatchedMatMulRoles(t *testing.T) {
	rec := &backend.Recorder{Inner: fp32.New()}
	rng := rand.New(rand.NewPCG(4, 4))
	q, k := randn(rng, 3, 4, 2), randn(rng, 3, 5, 2)
	tp := NewTape(rec)
	s := tp.BatchedMatMul(q, k, false, true, "attn.qk") // (3, 4, 5)
	require.Equal(t, []int{3, 4, 5}, s.Shape())
	require.NoError(t, tp.Backward(tp.Sum(s)))
	counts := map[backend.Role]int{}
	for _, c := range rec.Calls() {
		require.Equal(t, "attn.qk", c.Layer)
		counts[c.Role]++
	}
	require.Equal(t, map[backend.Role]int{backend.Forward: 3, backend.GradInput: 3, backend.GradWeight: 3}, counts)
}

func TestCustomWithoutBackwardIsConstant(t *testing.T) {
	tp := NewTape(fp32.New())
	x := Param("x", 2)
	out := tp.Custom([]int{2}, []*Tensor{x}, func(o []float32) { o[0], o[1] = 1, 2 }, nil)
	require.Equal(t, []float32{1, 2}, out.Data())
	require.False(t, out.RequiresGrad())
	require.Equal(t, 0, tp.Len())
}

// A tape reused with Reset hands its scratch buffers to the next step's
// convolutions. They must not depend on the stale contents: poison them
// with NaN and compare with a fresh tape.
func TestConv2dScratchReuseAfterReset(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 1))
	x, w, b := randn(rng, 2, 3, 5, 5), randn(rng, 4, 3, 3, 3), randn(rng, 4)
	run := func(tp *Tape) (out, gx, gw []float32) {
		for _, p := range []*Tensor{x, w, b} {
			p.SetGrad(nil)
		}
		y := tp.Conv2d(x, w, b, 1, 1, "conv")
		require.NoError(t, tp.Backward(tp.Sum(tp.Mul(y, y))))
		return append([]float32(nil), y.Data()...), append([]float32(nil), x.Grad()...), append([]float32(nil), w.Grad()...)
	}
	wantY, wantGX, wantGW := run(NewTape(fp32.New()))

	tp := NewTape(fp32.New())
	run(tp)
	tp.Reset()
	require.NotEmpty(t, tp.mem.floats.free, "Reset should keep the scratch buffers")
	for _, bufs := range tp.mem.floats.free {
		for _, buf := range bufs {
			for i := range buf[:cap(buf)] {
				buf[:cap(buf)][i] = float32(math.NaN())
			}
		}
	}
	gotY, gotGX, gotGW := run(tp)
	require.Equal(t, wantY, gotY)
	require.Equal(t, wantGX, gotGX)
	require.Equal(t, wantGW, gotGW)
}

func TestConv2dNoGradDoesNotHoldScratch(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 2))
	x, w := constant(rng, 2, 1, 6, 6), constant(rng, 3, 1, 3, 3)
	// Neither fp32's implicit convolutions nor the im2col path (whose
	// scratch lives in the tape's backend.Im2col) take tape scratch.
	for _, tc := range []struct {
		backend backend.Backend
		free    int
	}{{&backend.Recorder{Inner: matmulOnly{fp32.New()}}, 0}, {fp32.New(), 0}} {
		tp := NewTape(tc.backend)
		tp.SetNoGrad(true)
		for i := 0; i < 5; i++ { // an evaluation loop that never calls Reset
			tp.Conv2d(x, w, nil, 1, 0, "conv")
		}
		require.Empty(t, tp.mem.floats.inUse)
		free := 0
		for _, bufs := range tp.mem.floats.free {
			free += len(bufs)
		}
		require.Equal(t, tc.free, free, "%s", tc.backend.Name())
	}
}

// naiveBroadcast computes op elementwise with NumPy broadcasting by
// converting every output index to operand indices, in float64.
func naiveBroadcast(a, b *Tensor, op func(x, y float64) float64) []float64 {
	nd := max(len(a.shape), len(b.shape))
	pad := func(s []int) []int {
		p := make([]int, nd-len(s), nd)
		for i := range p {
			p[i] = 1
		}
		return append(p, s...)
	}
	as, bs := pad(a.shape), pad(b.shape)
	out := make([]int, nd)
	for i := range out {
		out[i] = max(as[i], bs[i])
	}
	flat := func(shape, idx []int) int {
		f := 0
		for d, n := range shape {
			f = f*n + idx[d]%n // size-1 dimensions repeat
		}
		return f
	}
	res := make([]float64, numel(out))
	idx := make([]int, nd)
	for o := range res {
		rem := o
		for d := nd - 1; d >= 0; d-- {
			idx[d] = rem % out[d]
			rem /= out[d]
		}
		res[o] = op(float64(a.data[flat(as, idx)]), float64(b.data[flat(bs, idx)]))
	}
	return res
}

func TestBroadcastValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 1))
	ops := []struct {
		name string
		op   func(tp *Tape, a, b *Tensor) *Tensor
		ref  func(x, y float64) float64
	}{
		{"add", (*Tape).Add, func(x, y float64) float64 { return x + y }},
		{"sub", (*Tape).Sub, func(x, y float64) float64 { return x - y }},
		{"mul", (*Tape).Mul, func(x, y float64) float64 { return x * y }},
		{"div", (*Tape).Div, func(x, y float64) float64 { return x / y }},
	}
	shapes := [][2][]int{
		{{2, 3, 4}, {2, 3, 4}},
		{{2, 3, 4}, {4}},
		{{2, 3, 4}, {3, 1}},
		{{2, 1, 4}, {3, 1}},
		{{4}, {2, 3, 4}},
		{{1, 3, 1, 2}, {2, 1, 4, 1}},
		{{2, 3}, {}},
		{{1, 1}, {1}},
	}
	for _, op := range ops {
		for _, s := range shapes {
			a, b := constant(rng, s[0]...), constant(rng, s[1]...)
			got := op.op(NewTape(fp32.New()), a, b)
			requireClose(t, naiveBroadcast(a, b, op.ref), got.Data(), 1e-6, "%s %v %v", op.name, s[0], s[1])
		}
	}
}

// failingBackend refuses GEMMs of one role, like a misconfigured
// accelerator, and computes the others in FP32.
type failingBackend struct{ role backend.Role }

func (f failingBackend) Name() string { return "failing" }

func (f failingBackend) MatMul(c backend.Call, g backend.GEMM) error {
	if c.Role == f.role {
		return errors.New("refused")
	}
	return fp32.New().MatMul(c, g)
}

func TestBackendErrorsNameLayerAndRole(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 1))
	for _, tc := range []struct {
		role backend.Role
		want string
	}{
		{backend.Forward, "conv1 forward: refused"},
		{backend.GradInput, "conv1 dX: refused"},
		{backend.GradWeight, "conv1 dW: refused"},
	} {
		t.Run(tc.role.String(), func(t *testing.T) {
			tp := NewTape(failingBackend{tc.role})
			x, w := randn(rng, 1, 2, 4, 4), randn(rng, 3, 2, 3, 3)
			y := tp.Conv2d(x, w, nil, 1, 1, "conv1")
			if tc.role == backend.Forward {
				require.Equal(t, make([]float32, y.Numel()), y.Data(), "a failed forward product gives zeros, not scratch garbage")
			}
			require.EqualError(t, tp.Backward(tp.Sum(y)), tc.want)
		})
	}
}

// Everything an op hands out while recording (outputs, gradients, saved
// statistics, masks, indices) comes from the tape's arena and is reused
// after Reset. No op may depend on the stale contents: poison every free
// buffer with NaN (and indices with -1) and compare a whole step of a net
// using every recycled op with the same step on a fresh tape.
func TestArenaReuseIgnoresStaleContents(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 1))
	x := randn(rng, 4, 3, 6, 6).SetRequiresGrad(false)
	w1, w2 := randn(rng, 4, 3, 3, 3), randn(rng, 4, 4, 3, 3)
	gamma, beta := randn(rng, 4), randn(rng, 4)
	lw, lb := randn(rng, 5, 2*4*3*3), randn(rng, 5)
	lnG, lnB := randn(rng, 5), randn(rng, 5)
	emb := randn(rng, 7, 5)
	params := []*Tensor{w1, w2, gamma, beta, lw, lb, lnG, lnB, emb}
	step := func(tp *Tape) (loss float32, grads [][]float32, logits []float32) {
		for _, p := range params {
			p.SetGrad(nil)
		}
		h := tp.ReLU(tp.BatchNorm(tp.Conv2d(x, w1, nil, 1, 1, "c1"), gamma, beta, nil, nil, true, 0.1, 1e-5))
		h2 := tp.Conv2d(h, w2, nil, 1, 1, "c2")
		h = tp.ReLU(tp.Add(h2, h))
		h = tp.PadChannels(tp.MaxPool2d(h, 2, 2, 0), 2, 2)
		h = tp.Dropout(tp.GELU(tp.Reshape(h, 4, -1)), 0.2, rand.New(rand.NewPCG(1, 1)))
		o := tp.LayerNorm(tp.Linear(h, lw, lb, "fc"), lnG, lnB, 1e-5)
		o = tp.Add(o, tp.Embedding(New([]float32{1, 6, 0, 3}, 4), emb))
		o = tp.Softmax(tp.Tanh(o))
		o = tp.Div(tp.Sigmoid(o), tp.Transpose(tp.Transpose(tp.Scale(o, 2))))
		o = tp.Sub(tp.LogSoftmax(o), tp.Concat(1, tp.Slice(o, 1, 0, 2), tp.Slice(o, 1, 2, 5)))
		l := tp.CrossEntropy(o, []int{0, 4, 2, 1}, 0.1)
		require.NoError(t, tp.Backward(l))
		for _, p := range params {
			grads = append(grads, append([]float32(nil), p.Grad()...))
		}
		return l.Item(), grads, append([]float32(nil), o.Data()...)
	}
	wantLoss, wantGrads, wantOut := step(NewTape(fp32.New()))

	tp := NewTape(fp32.New())
	step(tp)
	tp.Reset()
	for _, bufs := range tp.mem.floats.free {
		for _, b := range bufs {
			for i := range b {
				b[i] = float32(math.NaN())
			}
		}
	}
	for _, bufs := range tp.mem.ints.free {
		for _, b := range bufs {
			for i := range b {
				b[i] = -1
			}
		}
	}
	gotLoss, gotGrads, gotOut := step(tp)
	require.Equal(t, wantLoss, gotLoss)
	require.Equal(t, wantOut, gotOut)
	require.Equal(t, wantGrads, gotGrads)
	require.False(t, math.IsNaN(float64(gotLoss)))
}

// A convolution whose column matrix is large runs its products in blocks
// of images (here one image per block; the dW product accumulates block
// by block). The result must be that of convolving each image on its own:
// outputs and input gradients exactly (the same GEMMs), weight and bias
// gradients up to float32 summation order (tolerance 1e-5 of the largest
// entry).
func TestConv2dImageBlocksMatchPerImageConvolutions(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 3))
	const n, c, h, o = 3, 64, 32, 4
	require.Equal(t, 1, backend.ConvGeometry{N: n, C: c, H: h, W: h, O: o, KH: 3, KW: 3, Stride: 1, Pad: 1}.ImagesPerBlock(), "the test needs one image per block")
	x := randn(rng, n, c, h, h)
	w, bias := randn(rng, o, c, 3, 3), randn(rng, o)
	r := randn(rng, n, o, h, h).SetRequiresGrad(false) // projection of the output

	rec := &backend.Recorder{Inner: matmulOnly{fp32.New()}} // the im2col path
	tp := NewTape(rec)
	y := tp.Conv2d(x, w, bias, 1, 1, "conv")
	require.NoError(t, tp.Backward(tp.Sum(tp.Mul(y, r))))
	var calls []string
	for _, call := range rec.Calls() {
		calls = append(calls, fmt.Sprintf("%s %dx%dx%d", call.Call, call.M, call.N, call.K))
	}
	rows, k := h*h, c*9
	fwd, dx := fmt.Sprintf("conv/forward %dx%dx%d", rows, o, k), fmt.Sprintf("conv/dX %dx%dx%d", rows, k, o)
	dw := fmt.Sprintf("conv/dW %dx%dx%d", o, k, rows)
	require.Equal(t, []string{fwd, fwd, fwd, dx, dw, dx, dw, dx, dw}, calls)
	gotY, gotGX := slices.Clone(y.Data()), slices.Clone(x.Grad())
	gotGW, gotGB := slices.Clone(w.Grad()), slices.Clone(bias.Grad())

	imageIn, imageOut := c*h*h, o*h*h
	w.SetGrad(nil)
	bias.SetGrad(nil)
	for i := 0; i < n; i++ {
		xi := New(x.data[i*imageIn:(i+1)*imageIn], 1, c, h, h).SetRequiresGrad(true)
		ri := New(r.data[i*imageOut:(i+1)*imageOut], 1, o, h, h)
		tp := NewTape(&backend.Recorder{Inner: matmulOnly{fp32.New()}}) // the im2col path, as above
		yi := tp.Conv2d(xi, w, bias, 1, 1, "conv")
		require.NoError(t, tp.Backward(tp.Sum(tp.Mul(yi, ri))))
		require.Equal(t, yi.Data(), gotY[i*imageOut:(i+1)*imageOut], "image %d output", i)
		require.Equal(t, xi.Grad(), gotGX[i*imageIn:(i+1)*imageIn], "image %d input gradient", i)
	}
	for name, pair := range map[string][2][]float32{"weight": {w.Grad(), gotGW}, "bias": {bias.Grad(), gotGB}} {
		var scale float64 // sums of thousands of terms: compare relative to the largest entry
		for _, v := range pair[0] {
			scale = max(scale, math.Abs(float64(v)))
		}
		for j := range pair[0] {
			require.InDelta(t, pair[0][j], pair[1][j], 1e-5*scale, "%s gradient %d", name, j)
		}
	}
}

// The fused ops give exactly the values and gradients of the ops they
// fuse (the same float32 operations in the same order), in training and
// evaluation mode, with the input feeding both a fused op and another op.
func TestFusedOpsMatchComposition(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 1))
	for _, training := range []bool{true, false} {
		x := randn(rng, 3, 4, 5, 5)
		skip := randn(rng, 3, 4, 5, 5)
		gamma, beta := randn(rng, 4), randn(rng, 4)
		rm, rv := Full(0.2, 4), Full(1.5, 4)
		// Fused: 0 none, 1 BatchNormReLU and AddReLU, 2 BatchNormAddReLU
		// (whose skip is an intermediate, fresh or not).
		run := func(fused int) (out []float32, grads [][]float32) {
			for _, p := range []*Tensor{x, skip, gamma, beta} {
				p.SetGrad(nil)
			}
			tp := NewTape(fp32.New())
			h := tp.Scale(x, 1) // an intermediate, so its gradient may be assigned
			s := tp.Scale(skip, 1)
			var y *Tensor
			switch fused {
			case 0:
				y = tp.ReLU(tp.Add(tp.ReLU(tp.BatchNorm(h, gamma, beta, rm, rv, training, 0.1, 1e-5)), s))
				y = tp.ReLU(tp.Add(tp.BatchNorm(y, gamma, beta, rm, rv, training, 0.1, 1e-5), s))
			case 1:
				y = tp.AddReLU(tp.BatchNormReLU(h, gamma, beta, rm, rv, training, 0.1, 1e-5), s)
				y = tp.AddReLU(tp.BatchNorm(y, gamma, beta, rm, rv, training, 0.1, 1e-5), s)
			case 2:
				y = tp.AddReLU(tp.BatchNormReLU(h, gamma, beta, rm, rv, training, 0.1, 1e-5), s)
				y = tp.BatchNormAddReLU(y, s, gamma, beta, rm, rv, training, 0.1, 1e-5)
			}
			y = tp.Add(y, tp.Scale(h, 0.5))
			require.NoError(t, tp.Backward(tp.Sum(tp.Mul(y, y))))
			for _, p := range []*Tensor{x, skip, gamma, beta} {
				grads = append(grads, p.Grad())
			}
			return y.Data(), grads
		}
		wantOut, wantGrads := run(0)
		for fused := 1; fused <= 2; fused++ {
			gotOut, gotGrads := run(fused)
			require.Equal(t, wantOut, gotOut, "training %v, fused %d", training, fused)
			for i := range wantGrads {
				requireClose(t, toFloat64(wantGrads[i]), gotGrads[i], 1e-6, "training %v fused %d gradient %d", training, fused, i)
			}
		}
	}
}

func toFloat64(xs []float32) []float64 {
	out := make([]float64, len(xs))
	for i, v := range xs {
		out[i] = float64(v)
	}
	return out
}

// Ties in a max-pooling window send the gradient to the first maximum in
// reading order, in the 2×2 fast path as in the general loop (3×3 windows
// with stride 2 here).
func TestMaxPoolTiesGoToFirstMaximum(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		kernel, stride, padding int
	}{{"2x2 fast path", 2, 2, 0}, {"general loop", 3, 3, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			k := tc.kernel
			// Three planes: all equal, two tied maxima on the diagonal,
			// two tied maxima in the last row.
			planes := make([]float32, 3*k*k)
			for i := 0; i < k*k; i++ {
				planes[i] = 1
			}
			planes[k*k+1], planes[k*k+k] = 2, 2
			planes[2*k*k+k*k-2], planes[2*k*k+k*k-1] = 5, 5
			x := New(planes, 1, 3, k, k).SetRequiresGrad(true)
			tp := NewTape(fp32.New())
			require.NoError(t, tp.Backward(tp.Sum(tp.MaxPool2d(x, tc.kernel, tc.stride, tc.padding))))
			want := make([]float32, len(planes))
			want[0], want[k*k+1], want[2*k*k+k*k-2] = 1, 1, 1
			require.Equal(t, want, x.Grad())
		})
	}
}

// With an emulating backend the blocked dW product must tile the reduction
// exactly as one GEMM over the batch does: the block floating-point
// backend (tile 128, 6-bit mantissas, tiles summed in order) gives the same
// weight gradient as its own single GEMM on the whole column matrix, to
// float32 rounding (1e-5 of the largest entry), while a misplaced tile
// boundary would change the quantisation by about 1e-2.
func TestConv2dBlocksKeepBFPTiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 4))
	const n, c, h, o = 6, 64, 16, 4 // 256 positions per image, 2 images per block
	g := conv.Geometry{N: n, C: c, H: h, W: h, KH: 3, KW: 3, Stride: 1, Pad: 1}
	require.Less(t, backend.ConvGeometry{N: n, C: c, H: h, W: h, O: o, KH: 3, KW: 3, Stride: 1, Pad: 1}.ImagesPerBlock(), n, "the test needs several blocks")
	x := randn(rng, n, c, h, h).SetRequiresGrad(false)
	w := randn(rng, o, c, 3, 3)
	r := randn(rng, n, o, h, h).SetRequiresGrad(false)
	newBFP := func() backend.Backend {
		b, err := registry.New().New("bfp", backend.Options{"tile": "128", "bfp-bits": "6", "tile-accumulation": "ordered"})
		require.NoError(t, err)
		return b
	}
	tp := NewTape(newBFP())
	require.NoError(t, tp.Backward(tp.Sum(tp.Mul(tp.Conv2d(x, w, nil, 1, 1, "conv"), r))))

	rows, k := g.Rows(), g.Cols()
	cols := make([]float32, rows*k)
	conv.Im2col(g, x.data, cols)
	dy2d := make([]float32, rows*o)
	conv.NCHWToRows(r.data, dy2d, n, o, h*h)
	want := make([]float32, o*k)
	require.NoError(t, newBFP().MatMul(backend.Call{Layer: "conv", Role: backend.GradWeight}, backend.GEMM{
		M: o, N: k, K: rows, A: dy2d, LDA: o, TransA: true, B: cols, LDB: k, C: want, LDC: k,
	}))
	var scale float64
	for _, v := range want {
		scale = max(scale, math.Abs(float64(v)))
	}
	for i := range want {
		require.InDelta(t, want[i], w.Grad()[i], 1e-5*scale, "dW element %d", i)
	}

	// The control: the same product cut at a row that is not a tile
	// boundary differs by far more than the tolerance.
	split := 448
	cut := make([]float32, o*k)
	for _, part := range [][2]int{{0, split}, {split, rows}} {
		require.NoError(t, newBFP().MatMul(backend.Call{Layer: "conv", Role: backend.GradWeight}, backend.GEMM{
			M: o, N: k, K: part[1] - part[0], A: dy2d[part[0]*o:], LDA: o, TransA: true,
			B: cols[part[0]*k:], LDB: k, C: cut, LDC: k, Accumulate: true,
		}))
	}
	var worst float64
	for i := range want {
		worst = max(worst, math.Abs(float64(want[i]-cut[i])))
	}
	require.Greater(t, worst, 1e-3*scale, "misaligned tiles should change the quantised product")
}

// matmulOnly hides every optional capability of a backend (Convolver):
// the tape then runs convolutions as im2col GEMMs.
type matmulOnly struct{ backend.Backend }

// TestRecycledBuffersAreWrittenWhole runs a step that uses products,
// dropout and softmax on intermediates twice on one tape, with other
// inputs the first time, so that the second step's outputs and gradient
// buffers are recycled memory holding the first step's values; values and
// gradients must equal those of a fresh tape bit for bit. An op that
// relied on zeroed memory it does not get (an output or a fresh gradient
// not written whole) would leak the first step's values.
func TestRecycledBuffersAreWrittenWhole(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	w := randn(rng, 4, 4).SetRequiresGrad(true)
	step := func(tp *Tape, x *Tensor) (out []float32, gx, gw []float32) {
		x.ZeroGrad()
		w.ZeroGrad()
		h := tp.Scale(x, 1.5)
		s := tp.Softmax(tp.BatchedMatMul(h, h, false, true, "attn"))
		c := tp.BatchedMatMul(s, h, false, false, "av")
		f := tp.Reshape(h, 6, 4)
		d := tp.Dropout(tp.MatMul(f, w, false, false, "fc"), 0.5, rand.New(rand.NewPCG(5, 5)))
		g := tp.MatMul(f, tp.MatMul(f, f, true, false, "gram"), false, false, "fg") // f·(fᵀ·f)
		y := tp.Add(tp.Reshape(c, 6, 4), tp.Add(d, g))
		require.NoError(t, tp.Backward(tp.Sum(tp.Mul(y, y))))
		return slices.Clone(y.Data()), slices.Clone(x.Grad()), slices.Clone(w.Grad())
	}
	x1, x2 := randn(rng, 2, 3, 4).SetRequiresGrad(true), randn(rng, 2, 3, 4).SetRequiresGrad(true)
	wantY, wantGX, wantGW := step(NewTape(fp32.New()), x2)
	tp := NewTape(fp32.New())
	step(tp, x1)
	tp.Reset()
	y, gx, gw := step(tp, x2)
	require.Equal(t, wantY, y)
	require.Equal(t, wantGX, gx)
	require.Equal(t, wantGW, gw)
}
