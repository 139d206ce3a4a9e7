package checkpoint

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"

	"github.com/mirage-go/mirage/autograd"
)

func TestDenseRoundTrip(t *testing.T) {
	dir := t.TempDir()
	transposed := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{1, 2, 3, 4, 5, 6}))
	require.NoError(t, transposed.T())
	in := map[string]*tensor.Dense{
		"fc.weight":  tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float32{1, 2, 3, 4})),
		"fc.bias":    tensor.New(tensor.WithShape(2), tensor.WithBacking([]float32{-1, 0.5})),
		"bn.tracked": tensor.New(tensor.FromScalar(float32(7))),
		"t":          transposed,
	}
	path := filepath.Join(dir, "dense.safetensors")
	require.NoError(t, SaveDense(path, in, map[string]string{"format": "pt"}))

	out, meta, err := LoadDense(path)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"format": "pt"}, meta)
	require.Len(t, out, len(in))
	for name, want := range map[string]struct {
		shape tensor.Shape
		data  []float32
	}{
		"fc.weight":  {tensor.Shape{2, 2}, []float32{1, 2, 3, 4}},
		"fc.bias":    {tensor.Shape{2}, []float32{-1, 0.5}},
		"bn.tracked": {tensor.Shape{}, []float32{7}},
		"t":          {tensor.Shape{3, 2}, []float32{1, 4, 2, 5, 3, 6}},
	} {
		require.Equal(t, want.shape, out[name].Shape(), name)
		require.Equal(t, want.data, out[name].Float32s(), name)
	}

	// The same tensors saved through the tape's type give the same bytes.
	var list []*autograd.Tensor
	for name, d := range in {
		x, err := autograd.FromDense(d)
		require.NoError(t, err)
		x.Name = name
		list = append(list, x)
	}
	other := filepath.Join(dir, "tape.safetensors")
	require.NoError(t, Save(other, list, map[string]string{"format": "pt"}))
	a, err := os.ReadFile(path)
	require.NoError(t, err)
	b, err := os.ReadFile(other)
	require.NoError(t, err)
	require.Equal(t, b, a)
}

// A tensor that cannot be saved is an error naming it, and the file at
// path keeps its previous content.
func TestSaveDenseRefusesBadTensors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	require.NoError(t, os.WriteFile(path, []byte("previous"), 0o644))
	ok := tensor.New(tensor.WithShape(1), tensor.WithBacking([]float32{1}))
	tests := []struct {
		name    string
		tensors map[string]*tensor.Dense
		want    string
	}{
		{"float64", map[string]*tensor.Dense{"a": ok, "w": tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{1}))}, `tensor "w": autograd: tensor has dtype float64, need float32`},
		{"nil", map[string]*tensor.Dense{"w": nil}, `tensor "w" is nil`},
		{"empty name", map[string]*tensor.Dense{"": ok}, "has no name"},
		{"reserved name", map[string]*tensor.Dense{metadataKey: ok}, "reserves it"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorContains(t, SaveDense(path, tc.tensors, nil), tc.want)
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, "previous", string(b))
		})
	}
}

func TestLoadDenseReportsBadFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.safetensors")
	require.NoError(t, os.WriteFile(path, []byte("not a checkpoint"), 0o644))
	_, _, err := LoadDense(path)
	require.ErrorContains(t, err, path)
	_, _, err = LoadDense(filepath.Join(t.TempDir(), "missing.safetensors"))
	require.Error(t, err)
}
