package autograd

import (
	"testing"

	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"

	"github.com/mirage-go/mirage/backend/fp32"
)

func TestFromDense(t *testing.T) {
	rows := func() *tensor.Dense {
		return tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{1, 2, 3, 4, 5, 6}))
	}
	tests := []struct {
		name      string
		dense     func() *tensor.Dense
		wantShape []int
		wantData  []float32
		shares    bool // the tensor and the Dense share storage
	}{
		{"matrix", rows, []int{2, 3}, []float32{1, 2, 3, 4, 5, 6}, true},
		{"vector of one", func() *tensor.Dense {
			return tensor.New(tensor.WithShape(1), tensor.WithBacking([]float32{7}))
		}, []int{1}, []float32{7}, true},
		{"scalar", func() *tensor.Dense { return tensor.New(tensor.FromScalar(float32(3))) }, nil, []float32{3}, true},
		{"transposed view", func() *tensor.Dense {
			d := rows()
			if err := d.T(); err != nil {
				panic(err)
			}
			return d
		}, []int{3, 2}, []float32{1, 4, 2, 5, 3, 6}, false},
		{"column slice", func() *tensor.Dense {
			v, err := rows().Slice(nil, tensor.S(1))
			if err != nil {
				panic(err)
			}
			return v.(*tensor.Dense)
		}, []int{2}, []float32{2, 5}, false},
		{"row slice", func() *tensor.Dense {
			v, err := rows().Slice(tensor.S(1))
			if err != nil {
				panic(err)
			}
			return v.(*tensor.Dense)
		}, []int{3}, []float32{4, 5, 6}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.dense()
			x, err := FromDense(d)
			require.NoError(t, err)
			require.Equal(t, tc.wantShape, x.Shape())
			require.Equal(t, tc.wantData, x.Data())
			if tc.shares {
				x.Data()[0] = -1
				require.Equal(t, float32(-1), d.Float32s()[0], "a contiguous Dense is wrapped, not copied")
			}
		})
	}
}

func TestFromDenseRejectsOtherDtypes(t *testing.T) {
	for _, d := range []*tensor.Dense{
		tensor.New(tensor.WithShape(2), tensor.WithBacking([]float64{1, 2})),
		tensor.New(tensor.WithShape(2), tensor.WithBacking([]int{1, 2})),
	} {
		_, err := FromDense(d)
		require.ErrorContains(t, err, "need float32")
	}
}

func TestDenseSharesValueAndGradient(t *testing.T) {
	x := New([]float32{1, 2, 3, 4, 5, 6}, 2, 3).SetRequiresGrad(true)
	require.Nil(t, x.GradDense(), "no gradient before a backward pass")
	d := x.Dense()
	require.Equal(t, tensor.Shape{2, 3}, d.Shape())
	require.Equal(t, tensor.Float32, d.Dtype())
	d.Data().([]float32)[5] = 60
	require.Equal(t, float32(60), x.Data()[5], "Dense is a view of the value")

	tape := NewTape(fp32.New())
	loss := tape.Sum(tape.Mul(x, x)) // d/dx Σx² = 2x
	require.NoError(t, tape.Backward(loss))
	g := x.GradDense()
	require.Equal(t, tensor.Shape{2, 3}, g.Shape())
	require.Equal(t, []float32{2, 4, 6, 8, 10, 120}, g.Data())
	require.Equal(t, x.Grad(), g.Data(), "GradDense is a view of the gradient")

	// A scalar tensor becomes a scalar Dense over the same storage.
	s := loss.Dense()
	require.True(t, s.IsScalar())
	require.Equal(t, loss.Item(), s.ScalarValue())
}

// FromDense and Dense are inverse views: a round trip keeps shape and
// storage.
func TestDenseRoundTrip(t *testing.T) {
	x := New([]float32{1, 2, 3, 4}, 2, 1, 2)
	y, err := FromDense(x.Dense())
	require.NoError(t, err)
	require.Equal(t, x.Shape(), y.Shape())
	y.Data()[0] = 9
	require.Equal(t, float32(9), x.Data()[0])
}
