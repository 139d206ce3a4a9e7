package datasets

import "math/rand/v2"

// Subset returns n examples of ds as a data set, for smoke tests and quick
// experiments: examples ⌊i·Len/n⌋ for i = 0..n−1, spread evenly through ds
// rather than its first n. Several stored data sets are ordered class by
// class (CIFAR-10 image folders, the IMDB split), so their first n
// examples can all share one label; an even spread keeps the class mix of
// the whole set. The choice is fixed (no seed), so every run and every
// backend of a comparison sees the same examples.
func Subset(ds Dataset, n int) Dataset {
	if n >= ds.Len() {
		return ds
	}
	return subset{ds, max(n, 0)}
}

type subset struct {
	Dataset
	n int
}

func (s subset) Len() int { return s.n }

// index maps an example of the subset to one of the whole set; the
// product is exact in int for any data set that fits in memory.
func (s subset) index(i int) int { return i * s.Dataset.Len() / s.n }

func (s subset) Example(i int, dst []float32, rng *rand.Rand) int {
	return s.Dataset.Example(s.index(i), dst, rng)
}

// VocabSize forwards the whole set's vocabulary size (see [Tokenized]), 0
// for examples that are not token ids.
func (s subset) VocabSize() int { return VocabSize(s.Dataset) }
