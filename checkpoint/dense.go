package checkpoint

import (
	"fmt"
	"slices"

	"gorgonia.org/tensor"

	"github.com/mirage-go/mirage/autograd"
)

// SaveDense writes named gorgonia.org/tensor Dense tensors and optional
// metadata to path, atomically as [Save] does. Every tensor must be
// float32 (the one dtype mirage writes); a view (a slice or transpose) is
// saved as the values it shows. On an error nothing is written.
func SaveDense(path string, tensors map[string]*tensor.Dense, metadata map[string]string) error {
	names := make([]string, 0, len(tensors))
	for name := range tensors {
		names = append(names, name)
	}
	slices.Sort(names) // a deterministic first error; the file is in name order anyway
	list := make([]*autograd.Tensor, len(names))
	for i, name := range names {
		d := tensors[name]
		if d == nil {
			return fmt.Errorf("checkpoint: %s: tensor %q is nil", path, name)
		}
		t, err := autograd.FromDense(d)
		if err != nil {
			return fmt.Errorf("checkpoint: %s: tensor %q: %w", path, name, err)
		}
		t.Name = name
		list[i] = t
	}
	return Save(path, list, metadata)
}

// LoadDense reads all tensors and the metadata of a safetensors file as
// float32 Dense tensors keyed by name. The caller owns them.
func LoadDense(path string) (map[string]*tensor.Dense, map[string]string, error) {
	loaded, meta, err := Load(path)
	if err != nil {
		return nil, nil, err
	}
	out := make(map[string]*tensor.Dense, len(loaded))
	for name, t := range loaded {
		out[name] = t.Dense()
	}
	return out, meta, nil
}
