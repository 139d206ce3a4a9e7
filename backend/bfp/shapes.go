package bfp

import (
	"cmp"
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

// GEMMShapes implements backend.ShapeReporter: the BFP backend reads every
// tile output once (it skips none).
func (b *Backend) GEMMShapes() []backend.LiveShapeCount { return b.engine.Stats.LiveShapes(1) }
