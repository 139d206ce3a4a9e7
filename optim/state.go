package optim

import (
	"fmt"
	"math"
	"sort"

	"github.com/mirage-go/mirage/autograd"
)

// State is an optimizer's internal state, detached from the optimizer so
// that a training run can save it and a resumed run restore it: the
// learning rate, each parameter's buffers and each parameter's step count.
// Parameters are identified by name; buffers are named as in PyTorch's
// optimizer state_dict: "momentum_buffer" (SGD), "exp_avg" and "exp_avg_sq"
// (AdamW). A parameter that has not been updated yet has no entry.
type State struct {
	LR float64
	// Buffers maps a parameter's name to its buffers by buffer name.
	Buffers map[string]map[string][]float32
	// Steps maps a parameter's name to the number of updates it received
	// (AdamW's bias correction depends on it; SGD leaves it empty).
	Steps map[string]int
}

// Stateful is implemented by optimizers whose updates depend on more than
// the current gradient (momentum, moment estimates). Like io.WriterTo it is
// an optional capability, checked with a type assertion.
type Stateful interface {
	// State returns a copy of the optimizer's state.
	State() State
	// SetState replaces the state with a copy of s. It checks s whole
	// first (names of existing parameters, known buffers of the right
	// length, consistent step counts) and leaves the optimizer unchanged
	// on error. The values themselves are not checked: the state of a run
	// that diverged legitimately holds NaN, and only the caller knows
	// whether it should.
	SetState(s State) error
}

// Buffer names, as in PyTorch.
const (
	momentumBuffer = "momentum_buffer"
	expAvg         = "exp_avg"
	expAvgSq       = "exp_avg_sq"
)

// State implements Stateful.
func (o *SGD) State() State {
	s := State{LR: o.cfg.LR, Buffers: map[string]map[string][]float32{}, Steps: map[string]int{}}
	for i, p := range o.params {
		if o.buf[i] != nil {
			s.Buffers[p.Name] = map[string][]float32{momentumBuffer: append([]float32(nil), o.buf[i]...)}
		}
	}
	return s
}

// SetState implements Stateful.
func (o *SGD) SetState(s State) error {
	buf, err := checkState(s, o.params, []string{momentumBuffer}, false)
	if err != nil {
		return err
	}
	if o.cfg.Momentum == 0 && len(s.Buffers) > 0 {
		return fmt.Errorf("optim: SGD without momentum has no buffers, the state has %d", len(s.Buffers))
	}
	o.cfg.LR = s.LR
	for i := range o.params {
		o.buf[i] = buf[i][momentumBuffer]
	}
	return nil
}

// State implements Stateful.
func (o *AdamW) State() State {
	s := State{LR: o.cfg.LR, Buffers: map[string]map[string][]float32{}, Steps: map[string]int{}}
	for i, p := range o.params {
		if o.m[i] != nil {
			s.Buffers[p.Name] = map[string][]float32{
				expAvg:   append([]float32(nil), o.m[i]...),
				expAvgSq: append([]float32(nil), o.v[i]...),
			}
			s.Steps[p.Name] = o.steps[i]
		}
	}
	return s
}

// SetState implements Stateful.
func (o *AdamW) SetState(s State) error {
	buf, err := checkState(s, o.params, []string{expAvg, expAvgSq}, true)
	if err != nil {
		return err
	}
	o.cfg.LR = s.LR
	for i, p := range o.params {
		o.m[i], o.v[i], o.steps[i] = buf[i][expAvg], buf[i][expAvgSq], s.Steps[p.Name]
	}
	return nil
}

// checkState validates s against params and returns copies of the buffers
// per parameter index (nil for a parameter without state). Every parameter
// with state must have all of kinds; with steps, it must also have a
// positive step count, and a parameter without state none.
func checkState(s State, params []*autograd.Tensor, kinds []string, steps bool) ([]map[string][]float32, error) {
	if math.IsNaN(s.LR) || math.IsInf(s.LR, 0) || s.LR < 0 {
		return nil, fmt.Errorf("optim: state learning rate %g must be finite and ≥ 0", s.LR)
	}
	index := make(map[string]int, len(params))
	for i, p := range params {
		index[p.Name] = i
	}
	for _, name := range sortedKeys(s.Buffers) {
		if _, ok := index[name]; !ok {
			return nil, fmt.Errorf("optim: state has buffers for %q, which is not a parameter", name)
		}
	}
	for _, name := range sortedKeys(s.Steps) {
		if _, ok := index[name]; !ok {
			return nil, fmt.Errorf("optim: state has a step count for %q, which is not a parameter", name)
		}
		if !steps {
			return nil, fmt.Errorf("optim: state has a step count for %q; this optimizer keeps none", name)
		}
	}
	out := make([]map[string][]float32, len(params))
	for i, p := range params {
		bufs, ok := s.Buffers[p.Name]
		if !ok {
			if n, has := s.Steps[p.Name]; has && n != 0 {
				return nil, fmt.Errorf("optim: state gives %q %d steps but no buffers", p.Name, n)
			}
			continue
		}
		if len(bufs) != len(kinds) {
			return nil, fmt.Errorf("optim: state of %q has buffers %v, want %v", p.Name, sortedKeys(bufs), kinds)
		}
		out[i] = map[string][]float32{}
		for _, k := range kinds {
			b, ok := bufs[k]
			if !ok {
				return nil, fmt.Errorf("optim: state of %q has buffers %v, want %v", p.Name, sortedKeys(bufs), kinds)
			}
			if len(b) != p.Numel() {
				return nil, fmt.Errorf("optim: %s of %q has %d values, the parameter %d", k, p.Name, len(b), p.Numel())
			}
			out[i][k] = append([]float32(nil), b...)
		}
		if steps {
			if n := s.Steps[p.Name]; n < 1 {
				return nil, fmt.Errorf("optim: %q has buffers but step count %d (want ≥ 1)", p.Name, n)
			}
		}
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
