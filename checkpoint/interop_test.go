package checkpoint

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"github.com/nlpodyssey/safetensors"
	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/autograd"
)

// The tests in this file check compatibility against an independent
// implementation, github.com/nlpodyssey/safetensors (a Go port of the
// reference Rust crate): each side must read what the other writes, and
// for F32 tensors both must write the same bytes.

func interopTensors() []*autograd.Tensor {
	return []*autograd.Tensor{
		named("layer.weight", []float32{1, -2, 3.5, 0, 1e-8, -7}, 2, 3),
		named("layer.bias", []float32{0.25, -0.5}, 2),
	}
}

// withScalar adds a 0-dimensional tensor (PyTorch state_dicts hold some,
// e.g. batch norm's num_batches_tracked). The other library refuses to
// write one, so only the reading direction is tested with it.
func withScalar() []*autograd.Tensor {
	return append(interopTensors(), named("scalar", []float32{42}))
}

func le(xs []float32) []byte {
	var b []byte
	for _, x := range xs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func theirSerialize(t *testing.T, tensors []*autograd.Tensor, meta map[string]string) []byte {
	views := map[string]safetensors.TensorView{}
	for _, x := range tensors {
		shape := make([]uint64, len(x.Shape()))
		for i, d := range x.Shape() {
			shape[i] = uint64(d)
		}
		v, err := safetensors.NewTensorView(safetensors.F32, shape, le(x.Data()))
		require.NoError(t, err)
		views[x.Name] = v
	}
	b, err := safetensors.Serialize(views, meta)
	require.NoError(t, err)
	return b
}

func TestInteropTheyReadOurs(t *testing.T) {
	meta := map[string]string{"format": "pt"}
	var buf bytes.Buffer
	require.NoError(t, Encode(&buf, withScalar(), meta))
	_, header, err := safetensors.ReadMetadata(buf.Bytes())
	require.NoError(t, err)
	require.Equal(t, meta, header.Metadata())
	st, err := safetensors.Deserialize(buf.Bytes())
	require.NoError(t, err)
	require.Equal(t, 3, st.Len())
	for _, x := range withScalar() {
		v, ok := st.Tensor(x.Name)
		require.True(t, ok, x.Name)
		require.Equal(t, safetensors.F32, v.DType())
		require.Len(t, v.Shape(), len(x.Shape()))
		require.Equal(t, le(x.Data()), v.Data())
	}
}

func TestInteropWeReadTheirs(t *testing.T) {
	meta := map[string]string{"format": "pt", "epoch": "3"}
	got, gotMeta, err := Decode(theirSerialize(t, interopTensors(), meta))
	require.NoError(t, err)
	require.Equal(t, meta, gotMeta)
	for _, x := range interopTensors() {
		require.Equal(t, x.Data(), got[x.Name].Data(), x.Name)
	}
}

func TestInteropSameBytes(t *testing.T) {
	for _, meta := range []map[string]string{nil, {"format": "pt", "a": "b"}} {
		var buf bytes.Buffer
		require.NoError(t, Encode(&buf, interopTensors(), meta))
		require.Equal(t, string(theirSerialize(t, interopTensors(), meta)), buf.String())
	}
}
