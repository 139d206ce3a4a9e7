package backend

// LaneRunner is an optional capability of a ColsMultiplier that Im2col
// uses: a backend that can run the products of a convolution's blocks of
// images on several cores at once ("lanes"), each block whole on one
// core, instead of one block after another with each block's short loops
// split across the cores. The results, the statistics and the random
// generators must be bit for bit those of the blocks run one after
// another.
type LaneRunner interface {
	ColsMultiplier
	// Lanes returns how many lanes RunLanes runs blocks on when each
	// block makes the GEMMs calls; 1 means that Im2col runs the blocks
	// itself, one after another.
	Lanes(calls []Call, blocks int) int
	// RunLanes calls f(lane, k, i) for every block i in [0, blocks), on
	// k = 0 … Lanes(calls, blocks)-1 goroutines at once, each with its own
	// lane: a backend (a ColsMultiplier, and a Col2imMultiplier when the
	// backend is one) through which f makes block i's GEMMs, calls in that
	// order, one of each. A GEMM of role GradWeight adds into an output
	// that every block adds into (Accumulate, the same C): the lanes add
	// in block order, after the blocks before. RunLanes returns when all
	// blocks are done, with the error of the first block that failed (the
	// blocks after it add nothing more).
	RunLanes(calls []Call, blocks int, f func(lane ColsMultiplier, k, i int) error) error
}

// Deferrer is an optional capability of a lane of a LaneRunner: Defer
// makes the lane quantise its next GEMMs (and draw their noise) at once
// and leave their products to Flush, which runs them in the order they
// were made. Im2col defers a block's input and weight gradients, so that
// both are drawn for before either is multiplied: the next block, whose
// draws come after this block's, waits less. The results are the same.
type Deferrer interface {
	Defer()
	Flush() error
}
