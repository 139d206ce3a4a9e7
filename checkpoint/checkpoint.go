// Package checkpoint saves and loads model weights in the safetensors
// format, so that a model trained with mirage can be opened by PyTorch
// (safetensors.torch.load_file), JAX, candle and others, and back.
//
// A safetensors file is
//
//	8 bytes   N, the header length, unsigned little-endian
//	N bytes   a JSON object, padded with spaces to a multiple of 8 bytes:
//	          {"__metadata__": {"key": "value", ...},          (optional)
//	           "name": {"dtype": "F32", "shape": [2, 3],
//	                    "data_offsets": [begin, end]}, ...}
//	the rest  the tensors' bytes, little-endian, row-major; begin and end
//	          are byte offsets into this part
//
// The offsets must cover the data part exactly, without gaps or overlaps.
// Mirage writes tensors in name order, which is also what the reference
// implementation does for tensors of one dtype, and reads only F32.
//
// [Save], [Load] and [LoadInto] work on the tape's tensors (a model's
// Params and Buffers); [SaveDense] and [LoadDense] do the same for named
// gorgonia.org/tensor Dense tensors, for programs that use mirage as a
// library.
//
// Why a small codec of our own rather than a library: mirage needs one
// dtype, the format fits in a page, and owning the reader lets every check
// on an untrusted file (header size, offsets, sizes against shapes,
// duplicate names) fail with a message that says what is wrong. The Go port
// github.com/nlpodyssey/safetensors can write too, but it refuses
// 0-dimensional tensors (PyTorch state_dicts hold some, such as batch
// norm's num_batches_tracked), has no tagged releases, and keeps its errors
// terse ("metadata incomplete buffer"). The tests use it as an independent
// implementation: each reads the other's files, and for F32 both write the
// same bytes.
package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/internal/atomicfile"
)

// metadataKey is the reserved header entry for free-form string metadata.
const metadataKey = "__metadata__"

// maxHeaderBytes bounds the JSON header, as the reference implementation
// does (100 MB); a larger length field means a corrupt file.
const maxHeaderBytes = 100_000_000

// Save writes tensors (named by their Name) and optional metadata to path
// atomically: the file is written under a temporary name in the same
// folder, flushed to disk, and renamed, so path holds either the previous
// content or the complete new file, never a partial one.
func Save(path string, tensors []*autograd.Tensor, metadata map[string]string) error {
	if err := checkNames(tensors); err != nil {
		return fmt.Errorf("checkpoint: %s: %w", path, err)
	}
	err := atomicfile.Write(path, func(w io.Writer) error { return Encode(w, tensors, metadata) })
	if err != nil {
		return fmt.Errorf("checkpoint: %s: %w", path, err)
	}
	return nil
}

// checkNames refuses names a safetensors file cannot hold.
func checkNames(tensors []*autograd.Tensor) error {
	seen := make(map[string]bool, len(tensors))
	for i, t := range tensors {
		switch {
		case t.Name == "":
			return fmt.Errorf("tensor %d (shape %v) has no name", i, t.Shape())
		case t.Name == metadataKey:
			return fmt.Errorf("a tensor cannot be named %q, the format reserves it", metadataKey)
		case seen[t.Name]:
			return fmt.Errorf("two tensors are named %q", t.Name)
		}
		seen[t.Name] = true
	}
	return nil
}

// Encode writes tensors and metadata in the safetensors format to w.
func Encode(w io.Writer, tensors []*autograd.Tensor, metadata map[string]string) error {
	if err := checkNames(tensors); err != nil {
		return err
	}
	sorted := slices.Clone(tensors)
	slices.SortFunc(sorted, func(a, b *autograd.Tensor) int { return strings.Compare(a.Name, b.Name) })

	// The header is built by hand so that its layout is fixed: metadata
	// first, then tensors in data order, keys in the order of the spec.
	var h bytes.Buffer
	h.WriteByte('{')
	if len(metadata) > 0 {
		h.WriteString(`"` + metadataKey + `":`)
		m, err := json.Marshal(metadata) // keys sorted
		if err != nil {
			return err
		}
		h.Write(m)
	}
	offset := 0
	for i, t := range sorted {
		if i > 0 || len(metadata) > 0 {
			h.WriteByte(',')
		}
		name, _ := json.Marshal(t.Name) // strings always marshal
		shape := t.Shape()
		if shape == nil {
			shape = []int{}
		}
		s, _ := json.Marshal(shape)
		end := offset + 4*t.Numel()
		fmt.Fprintf(&h, `%s:{"dtype":"F32","shape":%s,"data_offsets":[%d,%d]}`, name, s, offset, end)
		offset = end
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 {
		h.WriteByte(' ') // the spec's padding, for aligned data
	}

	if err := binary.Write(w, binary.LittleEndian, uint64(h.Len())); err != nil {
		return err
	}
	if _, err := w.Write(h.Bytes()); err != nil {
		return err
	}
	buf := make([]byte, 0, 1<<16)
	for _, t := range sorted {
		for _, v := range t.Data() {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if len(buf) == cap(buf) {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
	}
	_, err := w.Write(buf)
	return err
}

// Load reads all tensors and the metadata of a safetensors file. The
// tensors are named, and do not require gradients.
func Load(path string) (map[string]*autograd.Tensor, map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint: %w", err)
	}
	tensors, meta, err := Decode(b)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint: %s: %w", path, err)
	}
	return tensors, meta, nil
}

// LoadInto reads the file at path into existing tensors (typically a
// model's parameters and buffers), matched by name. The file must hold
// exactly these names with exactly these shapes; otherwise nothing is
// changed and the error lists every missing, unexpected and mis-shaped
// tensor.
func LoadInto(path string, tensors []*autograd.Tensor) error {
	if err := checkNames(tensors); err != nil {
		return fmt.Errorf("checkpoint: the model's tensors: %w", err)
	}
	loaded, _, err := Load(path)
	if err != nil {
		return err
	}
	var missing, mismatched []string
	want := make(map[string]bool, len(tensors))
	for _, t := range tensors {
		want[t.Name] = true
		src, ok := loaded[t.Name]
		switch {
		case !ok:
			missing = append(missing, t.Name)
		case !slices.Equal(src.Shape(), t.Shape()):
			mismatched = append(mismatched, fmt.Sprintf("%s is %v in the file but %v in the model", t.Name, src.Shape(), t.Shape()))
		}
	}
	var unexpected []string
	for name := range loaded {
		if !want[name] {
			unexpected = append(unexpected, name)
		}
	}
	slices.Sort(unexpected)
	if len(missing)+len(unexpected)+len(mismatched) > 0 {
		var parts []string
		if len(missing) > 0 {
			parts = append(parts, "missing from the file: "+strings.Join(missing, ", "))
		}
		if len(unexpected) > 0 {
			parts = append(parts, "not in the model: "+strings.Join(unexpected, ", "))
		}
		if len(mismatched) > 0 {
			parts = append(parts, "shape mismatch: "+strings.Join(mismatched, "; "))
		}
		return fmt.Errorf("checkpoint: %s does not fit the model (was it saved from another model or configuration?): %s",
			path, strings.Join(parts, "; "))
	}
	for _, t := range tensors {
		copy(t.Data(), loaded[t.Name].Data())
	}
	return nil
}

// entry is one tensor's header record.
type entry struct {
	name  string
	shape []int
	begin uint64
	end   uint64
	numel uint64
}

// Decode parses a whole safetensors file held in b, checking the header
// against the data before touching it.
func Decode(b []byte) (map[string]*autograd.Tensor, map[string]string, error) {
	if len(b) < 8 {
		return nil, nil, fmt.Errorf("file of %d bytes is too short for a safetensors header (8-byte length first)", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > maxHeaderBytes {
		return nil, nil, fmt.Errorf("header length %d exceeds the %d-byte limit: not a safetensors file, or corrupt", n, maxHeaderBytes)
	}
	if n > uint64(len(b)-8) {
		return nil, nil, fmt.Errorf("truncated: header length says %d bytes, the file has %d after the length field", n, len(b)-8)
	}
	entries, meta, err := parseHeader(b[8 : 8+n])
	if err != nil {
		return nil, nil, err
	}
	data := b[8+n:]
	if err := checkLayout(entries, uint64(len(data))); err != nil {
		return nil, nil, err
	}
	tensors := make(map[string]*autograd.Tensor, len(entries))
	for _, e := range entries {
		raw := data[e.begin:e.end]
		vals := make([]float32, e.numel)
		for i := range vals {
			vals[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		t := autograd.New(vals, e.shape...)
		t.Name = e.name
		tensors[e.name] = t
	}
	return tensors, meta, nil
}

// parseHeader reads the JSON header token by token, so that duplicate names
// (which a map would silently merge) are caught.
func parseHeader(h []byte) ([]entry, map[string]string, error) {
	if len(h) == 0 || h[0] != '{' {
		return nil, nil, errors.New("header does not start with '{': not a safetensors file")
	}
	dec := json.NewDecoder(bytes.NewReader(h))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return nil, nil, fmt.Errorf("header is not JSON: %w", err)
	}
	var entries []entry
	var meta map[string]string
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("header is not valid JSON: %w", err)
		}
		name, _ := tok.(string) // object keys are always strings
		if seen[name] {
			return nil, nil, fmt.Errorf("header names %q twice", name)
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, fmt.Errorf("header is not valid JSON at %q: %w", name, err)
		}
		if name == metadataKey {
			if err := json.Unmarshal(raw, &meta); err != nil {
				return nil, nil, fmt.Errorf("%s must map strings to strings: %w", metadataKey, err)
			}
			continue
		}
		e, err := parseEntry(name, raw)
		if err != nil {
			return nil, nil, err
		}
		entries = append(entries, e)
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, fmt.Errorf("header is not valid JSON: %w", err)
	}
	// After the object only the spec's space padding may follow.
	if len(bytes.Trim(h[dec.InputOffset():], " ")) > 0 {
		return nil, nil, errors.New("header has data after its JSON object: corrupt")
	}
	return entries, meta, nil
}

func parseEntry(name string, raw json.RawMessage) (entry, error) {
	var info struct {
		Dtype       *string   `json:"dtype"`
		Shape       []int64   `json:"shape"`
		DataOffsets []float64 `json:"data_offsets"`
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		return entry{}, fmt.Errorf("tensor %q: header record is malformed: %w", name, err)
	}
	e := entry{name: name}
	switch {
	case info.Dtype == nil:
		return e, fmt.Errorf("tensor %q: header record has no dtype", name)
	case *info.Dtype != "F32":
		return e, fmt.Errorf("tensor %q has dtype %s; mirage reads only F32 (float32) tensors, convert the file first (in PyTorch: tensor.float())", name, *info.Dtype)
	case info.Shape == nil:
		return e, fmt.Errorf("tensor %q: header record has no shape", name)
	case len(info.DataOffsets) != 2:
		return e, fmt.Errorf("tensor %q: data_offsets must be [begin, end], got %d numbers", name, len(info.DataOffsets))
	}
	// Offsets and dimensions beyond 2^53 cannot be meant: no file is that
	// large, and float64 (JSON's numbers) would round them.
	const limit = 1 << 53
	for _, o := range info.DataOffsets {
		if o < 0 || o != math.Trunc(o) || o > limit {
			return e, fmt.Errorf("tensor %q: data offset %v is not a valid byte offset", name, o)
		}
	}
	e.begin, e.end = uint64(info.DataOffsets[0]), uint64(info.DataOffsets[1])
	e.numel = 1
	for _, d := range info.Shape {
		if d < 0 {
			return e, fmt.Errorf("tensor %q: negative dimension in shape %v", name, info.Shape)
		}
		if d > 0 && e.numel > limit/uint64(d) {
			return e, fmt.Errorf("tensor %q: shape %v is impossibly large", name, info.Shape)
		}
		e.numel *= uint64(d)
		e.shape = append(e.shape, int(d))
	}
	if e.end < e.begin {
		return e, fmt.Errorf("tensor %q: data_offsets [%d, %d] end before they begin", name, e.begin, e.end)
	}
	if e.end-e.begin != 4*e.numel {
		return e, fmt.Errorf("tensor %q: shape %v needs %d bytes of F32 data, data_offsets [%d, %d] hold %d",
			name, e.shape, 4*e.numel, e.begin, e.end, e.end-e.begin)
	}
	return e, nil
}

// checkLayout verifies that the tensors tile the data part exactly.
func checkLayout(entries []entry, size uint64) error {
	sorted := slices.Clone(entries)
	slices.SortFunc(sorted, func(a, b entry) int {
		if a.begin != b.begin {
			if a.begin < b.begin {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	at := uint64(0)
	for _, e := range sorted {
		if e.end > size {
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] run past the %d bytes of data: truncated or corrupt file", e.name, e.begin, e.end, size)
		}
		if e.begin < at {
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] overlap the previous tensor, which ends at %d", e.name, e.begin, e.end, at)
		}
		if e.begin > at {
			return fmt.Errorf("tensor %q: data_offsets start at %d, leaving bytes %d to %d unused", e.name, e.begin, at, e.begin)
		}
		at = e.end
	}
	if at != size {
		return fmt.Errorf("the tensors use %d bytes of data but the file has %d: corrupt file", at, size)
	}
	return nil
}
