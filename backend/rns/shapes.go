package rns

import "github.com/mirage-go/mirage/backend"

// GEMMShapes implements backend.ShapeReporter: a live tile output is read
// once per modulus, redundant ones included.
func (b *Backend) GEMMShapes() []backend.LiveShapeCount {
	return b.engine.Stats.LiveShapes(int64(len(b.cfg.Moduli) + len(b.cfg.Redundant)))
}
