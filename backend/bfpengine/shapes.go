package bfpengine

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/mirage-go/mirage/backend"
)

// shapeKey is one layer, role and GEMM shape.
type shapeKey struct {
	call    backend.Call
	m, n, k int
}

// shapeTally is what the calls of one shapeKey counted.
type shapeTally struct {
	calls, tileOutputs, readouts int64
	fp32                         bool
}

// AddShape counts one GEMM of call with shape m×n×k and the counters d it
// produced. Engine.MatMul calls it after Add.
func (s *Stats) AddShape(call backend.Call, m, n, k int, d *Counters) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shapes == nil {
		s.shapes = map[shapeKey]*shapeTally{}
	}
	key := shapeKey{call, m, n, k}
	t := s.shapes[key]
	if t == nil {
		t = &shapeTally{}
		s.shapes[key] = t
	}
	t.calls += d.Calls
	t.tileOutputs += d.TileOutputs
	t.readouts += d.Readouts
	t.fp32 = t.fp32 || d.FP32
}

// Shapes returns the per-shape counts so far, sorted by layer, role and
// shape.
func (s *Stats) Shapes() []backend.ShapeCount {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]backend.ShapeCount, 0, len(s.shapes))
	for k, t := range s.shapes {
		out = append(out, backend.ShapeCount{Call: k.call, M: k.m, N: k.n, K: k.k,
			Calls: t.calls, TileOutputs: t.tileOutputs, Readouts: t.readouts, FP32: t.fp32})
	}
	slices.SortFunc(out, func(a, b backend.ShapeCount) int {
		return cmp.Or(cmp.Compare(a.Layer, b.Layer), cmp.Compare(a.Role, b.Role),
			cmp.Compare(a.M, b.M), cmp.Compare(a.N, b.N), cmp.Compare(a.K, b.K))
	})
	return out
}

// LiveShapes returns Shapes with the live tile outputs computed as
// readouts / readoutsPerTile: the number of converter readouts a live tile
// output costs the backend (the number of moduli for RNS, 1 for one ADC).
func (s *Stats) LiveShapes(readoutsPerTile int64) []backend.LiveShapeCount {
	shapes := s.Shapes()
	out := make([]backend.LiveShapeCount, len(shapes))
	for i, sc := range shapes {
		out[i] = backend.LiveShapeCount{ShapeCount: sc, LiveTileOutputs: sc.Readouts / max(1, readoutsPerTile)}
	}
	return out
}

// shapeState is one shape's tally in a saved engine state.
type shapeState struct {
	Layer       string `json:"layer"`
	Role        string `json:"role"`
	M           int    `json:"m"`
	N           int    `json:"n"`
	K           int    `json:"k"`
	Calls       int64  `json:"calls"`
	TileOutputs int64  `json:"tile_outputs"`
	Readouts    int64  `json:"readouts"`
	FP32        bool   `json:"fp32,omitempty"`
}

// shapeStates returns the tallies for a saved state; s.mu must be held.
func (s *Stats) shapeStates() []shapeState {
	out := make([]shapeState, 0, len(s.shapes))
	for k, t := range s.shapes {
		out = append(out, shapeState{Layer: k.call.Layer, Role: k.call.Role.String(), M: k.m, N: k.n, K: k.k,
			Calls: t.calls, TileOutputs: t.tileOutputs, Readouts: t.readouts, FP32: t.fp32})
	}
	slices.SortFunc(out, func(a, b shapeState) int {
		return cmp.Or(cmp.Compare(a.Layer, b.Layer), cmp.Compare(a.Role, b.Role), cmp.Compare(a.M, b.M), cmp.Compare(a.N, b.N), cmp.Compare(a.K, b.K))
	})
	return out
}

// parseShapeStates validates saved tallies and rebuilds the map.
func parseShapeStates(states []shapeState) (map[shapeKey]*shapeTally, error) {
	shapes := make(map[shapeKey]*shapeTally, len(states))
	for _, st := range states {
		role, err := backend.ParseRole(st.Role)
		if err != nil {
			return nil, fmt.Errorf("GEMM shape: %w", err)
		}
		key := shapeKey{backend.Call{Layer: st.Layer, Role: role}, st.M, st.N, st.K}
		if st.M < 0 || st.N < 0 || st.K < 0 || st.Calls < 0 || st.TileOutputs < 0 || st.Readouts < 0 {
			return nil, fmt.Errorf("GEMM shape %s %dx%dx%d has a negative count", key.call, st.M, st.N, st.K)
		}
		if shapes[key] != nil {
			return nil, fmt.Errorf("GEMM shape %s %dx%dx%d appears twice", key.call, st.M, st.N, st.K)
		}
		shapes[key] = &shapeTally{calls: st.Calls, tileOutputs: st.TileOutputs, readouts: st.Readouts, fp32: st.FP32}
	}
	return shapes, nil
}
