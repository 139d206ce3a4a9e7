package checkpoint

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/autograd"
)

func named(name string, data []float32, shape ...int) *autograd.Tensor {
	t := autograd.New(data, shape...)
	t.Name = name
	return t
}

// TestHeaderBytes compares our output with bytes built by hand from the
// format description: length, compact JSON padded with spaces to a multiple
// of 8, then little-endian float32 data.
func TestHeaderBytes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		meta   map[string]string
		header string
	}{
		// 54 bytes of JSON + 2 spaces = 56.
		{"no metadata", nil, `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  `},
		// 85 bytes of JSON + 3 spaces = 88.
		{"metadata", map[string]string{"format": "pt"},
			`{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}   `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := []byte{byte(len(tc.header)), 0, 0, 0, 0, 0, 0, 0}
			want = append(want, tc.header...)
			want = append(want,
				0x00, 0x00, 0x80, 0x3f, // 1.0
				0x00, 0x00, 0x00, 0xc0) // -2.0
			var buf bytes.Buffer
			require.NoError(t, Encode(&buf, []*autograd.Tensor{named("a", []float32{1, -2}, 2)}, tc.meta))
			require.Equal(t, want, buf.Bytes())
		})
	}
}

func TestRoundTrip(t *testing.T) {
	tensors := []*autograd.Tensor{
		named("fc2.weight", []float32{1, 2, 3, 4, 5, 6}, 2, 3),
		named("fc1.bias", []float32{-0.5, float32(math.Inf(1)), float32(math.NaN())}, 3),
		named("bn.num_batches_tracked", []float32{7}),
		named("empty", []float32{}, 0, 4),
		named("conv.weight", []float32{0.25, -1e-30, 3e38, 1}, 1, 1, 2, 2),
	}
	meta := map[string]string{"format": "pt", "mirage.config": `{"model":"lenet5"}`}
	path := filepath.Join(t.TempDir(), "model.safetensors")
	require.NoError(t, Save(path, tensors, meta))

	got, gotMeta, err := Load(path)
	require.NoError(t, err)
	require.Equal(t, meta, gotMeta)
	require.Len(t, got, len(tensors))
	for _, want := range tensors {
		g := got[want.Name]
		require.NotNil(t, g, want.Name)
		require.Equal(t, want.Name, g.Name)
		require.Equal(t, len(want.Shape()), len(g.Shape()), want.Name)
		require.Equal(t, want.Numel(), g.Numel())
		for i := range want.Data() {
			require.Equal(t, math.Float32bits(want.Data()[i]), math.Float32bits(g.Data()[i]), "%s[%d] bit-exact", want.Name, i)
		}
	}
	require.Equal(t, []int{2, 3}, got["fc2.weight"].Shape())
	require.Empty(t, got["bn.num_batches_tracked"].Shape())

	// Saving again over the file replaces it and leaves no temporary file.
	require.NoError(t, Save(path, tensors[:1], nil))
	got, gotMeta, err = Load(path)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Nil(t, gotMeta)
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	require.Len(t, entries, 1)
}

func TestSaveErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		path    string
		tensors []*autograd.Tensor
		msg     string
	}{
		{"unnamed", filepath.Join(dir, "x"), []*autograd.Tensor{autograd.Zeros(2)}, "tensor 0 (shape [2]) has no name"},
		{"duplicate", filepath.Join(dir, "x"), []*autograd.Tensor{named("a", []float32{1}, 1), named("a", []float32{2}, 1)}, `two tensors are named "a"`},
		{"reserved", filepath.Join(dir, "x"), []*autograd.Tensor{named("__metadata__", []float32{1}, 1)}, "reserves"},
		{"no such folder", filepath.Join(dir, "nope", "x"), []*autograd.Tensor{named("a", []float32{1}, 1)}, "no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorContains(t, Save(tc.path, tc.tensors, nil), tc.msg)
		})
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "failed saves leave nothing behind")
}

func TestLoadInto(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	require.NoError(t, Save(path, []*autograd.Tensor{
		named("w", []float32{1, 2, 3, 4}, 2, 2),
		named("b", []float32{5, 6}, 2),
	}, nil))

	t.Run("match", func(t *testing.T) {
		w, b := autograd.Param("w", 2, 2), autograd.Param("b", 2)
		require.NoError(t, LoadInto(path, []*autograd.Tensor{b, w}))
		require.Equal(t, []float32{1, 2, 3, 4}, w.Data())
		require.Equal(t, []float32{5, 6}, b.Data())
	})
	for _, tc := range []struct {
		name    string
		tensors []*autograd.Tensor
		msgs    []string
	}{
		{"missing", []*autograd.Tensor{autograd.Param("w", 2, 2), autograd.Param("b", 2), autograd.Param("c", 1)},
			[]string{"missing from the file: c"}},
		{"unexpected", []*autograd.Tensor{autograd.Param("w", 2, 2)}, []string{"not in the model: b"}},
		{"shape", []*autograd.Tensor{autograd.Param("w", 4), autograd.Param("b", 2)},
			[]string{"shape mismatch: w is [2 2] in the file but [4] in the model"}},
		{"all at once", []*autograd.Tensor{autograd.Param("w", 1), autograd.Param("x", 1)},
			[]string{"missing from the file: x", "not in the model: b", "w is [2 2] in the file but [1]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := LoadInto(path, tc.tensors)
			require.Error(t, err)
			for _, m := range tc.msgs {
				require.Contains(t, err.Error(), m)
			}
			for _, x := range tc.tensors {
				for _, v := range x.Data() {
					require.Zero(t, v, "nothing may be loaded when the file does not fit")
				}
			}
		})
	}
}

// file assembles a safetensors file from a header string and data bytes.
func file(header string, data ...byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func TestDecodeCorrupt(t *testing.T) {
	four := []byte{0, 0, 0x80, 0x3f}
	eight := append(append([]byte(nil), four...), four...)
	for _, tc := range []struct {
		name string
		data []byte
		msg  string
	}{
		{"empty", nil, "too short"},
		{"huge header length", binary.LittleEndian.AppendUint64(nil, 1<<40), "exceeds"},
		{"header past end", binary.LittleEndian.AppendUint64(nil, 10), "truncated: header length says 10 bytes, the file has 0"},
		{"not an object", file(`[1,2]`), "does not start with '{'"},
		{"bad JSON", file(`{"a":`), "not valid JSON"},
		{"garbage after object", file(`{} x`), "data after its JSON object"},
		{"duplicate", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight...), `names "a" twice`},
		{"F16", file(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, four...), "dtype F16; mirage reads only F32"},
		{"no dtype", file(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, four...), "no dtype"},
		{"no shape", file(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, four...), "no shape"},
		{"negative dim", file(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, four...), "negative dimension"},
		{"fractional dim", file(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, four...), "malformed"},
		{"huge shape", file(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, four...), "impossibly large"},
		{"one offset", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}`, four...), "must be [begin, end]"},
		{"negative offset", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, four...), "not a valid byte offset"},
		{"reversed offsets", file(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`, four...), "end before they begin"},
		{"size mismatch", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, four...), "needs 8 bytes of F32 data"},
		{"offsets past data", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, four...), "run past the 4 bytes of data"},
		{"gap", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight...), "leaving bytes 0 to 4 unused"},
		{"overlap", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight...), "overlap"},
		{"trailing data", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, eight...), "use 4 bytes of data but the file has 8"},
		{"metadata not strings", file(`{"__metadata__":{"epoch":3}}`), "must map strings to strings"},
		{"record not an object", file(`{"a":3}`), "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Decode(tc.data)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.msg)
		})
	}
}

func TestDecodeAcceptsOtherWriters(t *testing.T) {
	// Another writer may order keys differently, pretty-print, and store
	// tensors in any order as long as they tile the data.
	header := "{\n \"b\": {\"data_offsets\": [0, 4], \"shape\": [], \"dtype\": \"F32\"},\n" +
		" \"a\": {\"shape\": [1], \"dtype\": \"F32\", \"data_offsets\": [4, 8]}, \"__metadata__\": {}}    "
	data := []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0x40}
	tensors, meta, err := Decode(file(header, data...))
	require.NoError(t, err)
	require.Empty(t, meta)
	require.Equal(t, []float32{2}, tensors["a"].Data())
	require.Equal(t, []float32{1}, tensors["b"].Data())
}

func FuzzDecode(f *testing.F) {
	var buf bytes.Buffer
	_ = Encode(&buf, []*autograd.Tensor{named("a", []float32{1, 2}, 2), named("b", []float32{3}, 1, 1)}, map[string]string{"k": "v"})
	f.Add(buf.Bytes())
	f.Add(file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 0, 0, 0x80, 0x3f))
	f.Fuzz(func(t *testing.T, b []byte) {
		tensors, _, err := Decode(b)
		if err != nil {
			return
		}
		for name, x := range tensors {
			require.Equal(t, name, x.Name)
		}
	})
}
