package datasets

import "math/rand/v2"

// Subset returns the first n examples of ds as a data set (for smoke tests
// and quick experiments).
func Subset(ds Dataset, n int) Dataset {
	if n >= ds.Len() {
		return ds
	}
	return subset{ds, n}
}

type subset struct {
	Dataset
	n int
}

func (s subset) Len() int { return s.n }

func (s subset) Example(i int, dst []float32, rng *rand.Rand) int {
	return s.Dataset.Example(i, dst, rng)
}
