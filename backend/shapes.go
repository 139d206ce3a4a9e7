package backend

// ShapeCount is the number of GEMMs of one layer and role with one shape,
// and what their tiles did: TileOutputs tile dot products in all, of which
// Readouts converter readouts (per modulus for RNS). A cost model turns
// these into time and energy (package cost).
type ShapeCount struct {
	Call
	M, N, K     int
	Calls       int64
	TileOutputs int64
	Readouts    int64
	// FP32 marks a layer kept in FP32 (no tiles, no readouts).
	FP32 bool
}

// ShapeReporter is implemented by backends that count their GEMMs per
// layer, role and shape. Shapes repeat from step to step, so the list
// stays short (a few per layer and role).
type ShapeReporter interface {
	// GEMMShapes returns the counts so far, sorted by layer, role and
	// shape, with LiveTileOutputs filled in by the backend (the tile
	// outputs without a zero block).
	GEMMShapes() []LiveShapeCount
}

// LiveShapeCount is a ShapeCount with the number of tile outputs that had
// no zero block (read out by the hardware; the others are skipped).
type LiveShapeCount struct {
	ShapeCount
	LiveTileOutputs int64
}
