// Package datasets reads the data sets mirage trains on and turns them into
// shuffled, batched, normalised tensors.
//
// Every data set is a [Dataset]: a fixed number of examples, each a float32
// array of one shape plus an integer class label. Images are stored as
// (C, H, W) and already normalised; token sequences are stored as float32
// token ids (exact below 2^24), with 0 as the padding id, so one interface
// and one batching path serve images and text.
//
// Code outside mirage takes batches as gorgonia.org/tensor Dense tensors:
// [Batch.Inputs] gives the examples (float32 images, or int token ids for a
// [Tokenized] data set) and [Batch.Targets] the labels.
package datasets

import "math/rand/v2"

// Dataset is a finite, indexable set of labelled examples.
type Dataset interface {
	// Len is the number of examples.
	Len() int
	// Shape is the shape of one example, e.g. [1 28 28] or [128] (tokens).
	Shape() []int
	// Classes names the labels; labels are indices into it.
	Classes() []string
	// Example writes example i into dst (len(dst) = product of Shape) and
	// returns its label. When rng is non-nil the data set may apply its
	// random training augmentation (crop, flip) drawn from rng; with a nil
	// rng the example is returned as stored.
	Example(i int, dst []float32, rng *rand.Rand) int
}

// Split is a data set's training and test parts.
type Split struct {
	Name  string
	Train Dataset
	Test  Dataset
	// VocabSize is the tokenizer's vocabulary size for text data sets, 0 for
	// images.
	VocabSize int
	// Skipped describes input that was skipped while loading (a corrupt
	// image, a malformed review), one entry per skipped item or a summary.
	// Loaders never skip silently: the CLI prints these.
	Skipped []string
}
