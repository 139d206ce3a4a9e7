package autograd

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend/fp32"
)

// randn returns a tensor of N(0,1) values that requires a gradient.
func randn(rng *rand.Rand, shape ...int) *Tensor {
	x := Zeros(shape...)
	for i := range x.data {
		x.data[i] = float32(rng.NormFloat64())
	}
	return x.SetRequiresGrad(true)
}

// Tolerances for float32 central differences with eps = 1e-2 on O(1) values.
const (
	gcEps  = 1e-2
	gcAtol = 2e-3
	gcRtol = 2e-2
)

func TestMatMulGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, tc := range []struct {
		name   string
		ta, tb bool
	}{{"NN", false, false}, {"NT", false, true}, {"TN", true, false}, {"TT", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			m, k, n := 3, 4, 5
			as, bs := []int{m, k}, []int{k, n}
			if tc.ta {
				as = []int{k, m}
			}
			if tc.tb {
				bs = []int{n, k}
			}
			a, b := randn(rng, as...), randn(rng, bs...)
			err := GradCheck(fp32.New(), func(tp *Tape) *Tensor {
				return tp.MatMul(a, b, tc.ta, tc.tb, "mm")
			}, []*Tensor{a, b}, gcEps, gcAtol, gcRtol)
			require.NoError(t, err)
		})
	}
}

func TestBroadcastGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 1))
	shapes := [][2][]int{
		{{2, 3}, {2, 3}},
		{{2, 3}, {3}},
		{{2, 1, 4}, {3, 1}},
		{{4}, {2, 3, 4}},
		{{1, 3, 1, 2}, {2, 1, 4, 1}},
		{{2, 3}, {}},
	}
	ops := map[string]func(tp *Tape, a, b *Tensor) *Tensor{
		"add": (*Tape).Add, "sub": (*Tape).Sub, "mul": (*Tape).Mul,
		"div": func(tp *Tape, a, b *Tensor) *Tensor { return tp.Div(a, b) },
	}
	for name, op := range ops {
		for _, s := range shapes {
			a, b := randn(rng, s[0]...), randn(rng, s[1]...)
			if name == "div" { // keep the denominator away from zero
				for i := range b.data {
					b.data[i] = 1.5 + rng.Float32()
				}
			}
			err := GradCheck(fp32.New(), func(tp *Tape) *Tensor { return op(tp, a, b) }, []*Tensor{a, b}, gcEps, gcAtol, gcRtol)
			require.NoError(t, err, "%s %v %v", name, s[0], s[1])
		}
	}
}

func TestBroadcastShapeError(t *testing.T) {
	tp := NewTape(fp32.New())
	require.PanicsWithValue(t, "autograd.Add: shapes [2 3] and [4] do not broadcast (dimension 1: 3 vs 4)", func() {
		tp.Add(Zeros(2, 3), Zeros(4))
	})
}

func TestGradAccumulatesAcrossBackward(t *testing.T) {
	w := Param("w", 2)
	w.data[0], w.data[1] = 1, 2
	for i := 0; i < 2; i++ {
		tp := NewTape(fp32.New())
		require.NoError(t, tp.Backward(tp.Sum(tp.Mul(w, w))))
	}
	require.Equal(t, []float32{4, 8}, w.Grad()) // 2 passes × 2w
	w.ZeroGrad()
	require.Equal(t, []float32{0, 0}, w.Grad())
}

func TestNoGradRecordsNothing(t *testing.T) {
	w := Param("w", 2)
	tp := NewTape(fp32.New())
	tp.SetNoGrad(true)
	out := tp.Sum(tp.Mul(w, w))
	require.False(t, out.RequiresGrad())
	require.Equal(t, 0, tp.Len())
	require.Error(t, tp.Backward(out))
}
