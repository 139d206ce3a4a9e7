package bfp

import "math/rand/v2"

// Generator returns the random generator of stochastic rounding, so that a
// training checkpoint can save its position (rand.PCG implements
// encoding.BinaryMarshaler) and a resumed run restore it. Nearest rounding
// never draws from it.
func (q *Quantiser) Generator() *rand.PCG { return q.src }
