package analog

import "github.com/mirage-go/mirage/backend"

// GEMMShapes implements backend.ShapeReporter: a live tile output is one
// ADC readout.
func (b *Backend) GEMMShapes() []backend.LiveShapeCount { return b.engine.Stats.LiveShapes(1) }
