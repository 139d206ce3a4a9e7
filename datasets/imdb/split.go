package imdb

import "math/rand/v2"

// SplitSeed seeds the shuffle that splits the reviews into training and test
// halves. It is part of the data set's definition: changing it changes which
// reviews are test reviews and makes results incomparable with earlier ones.
const SplitSeed uint64 = 20110619 // the date of Maas et al.'s ACL 2011 paper

// SplitReviews splits reviews into training and test halves, class by
// class: the indices of each class are shuffled with a Fisher–Yates shuffle
// driven by PCG(SplitSeed, class), and the first half (rounded up) of each
// class goes to training. Both halves keep the class balance of the input.
// It returns indices into reviews, each half in increasing order.
//
// The shuffle draws j uniformly-enough from [0, i] as Uint64() % (i+1): the
// modulo bias is below 2^-40 for 50,000 reviews, and unlike rand.Shuffle
// this arithmetic is written here, so the split cannot change with Go's
// library.
func SplitReviews(reviews []Review) (train, test []int) {
	byClass := [2][]int{}
	for i, r := range reviews {
		byClass[r.Label()] = append(byClass[r.Label()], i)
	}
	trainSet := make([]bool, len(reviews))
	for class, idx := range byClass {
		pcg := rand.NewPCG(SplitSeed, uint64(class))
		for i := len(idx) - 1; i > 0; i-- {
			j := int(pcg.Uint64() % uint64(i+1))
			idx[i], idx[j] = idx[j], idx[i]
		}
		for _, k := range idx[:(len(idx)+1)/2] {
			trainSet[k] = true
		}
	}
	for i, inTrain := range trainSet {
		if inTrain {
			train = append(train, i)
		} else {
			test = append(test, i)
		}
	}
	return train, test
}
