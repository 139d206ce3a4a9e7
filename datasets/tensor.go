package datasets

import "gorgonia.org/tensor"

// Tokenized is the optional interface of a data set whose examples are
// sequences of token ids, such as IMDB's reviews. Example still writes the
// ids as float32 (exact below 2^24) so that one batching path serves images
// and text; a tokenized data set's batches turn back into integer tensors
// ([Batch.Inputs]).
type Tokenized interface {
	Dataset
	// VocabSize is the size of the vocabulary: every id is in
	// [0, VocabSize). 0 means the examples are not token ids (a wrapper
	// such as [Subset] of an image data set).
	VocabSize() int
}

// VocabSize returns ds's vocabulary size if its examples are token ids
// (see [Tokenized]), or 0.
func VocabSize(ds Dataset) int {
	if t, ok := ds.(Tokenized); ok {
		return t.VocabSize()
	}
	return 0
}

// Inputs returns the batch's examples as a new tensor of shape
// (N, example shape...) that the caller owns (the batch's own buffer is
// reused by the loader): float32 values for image data, int token ids for
// a [Tokenized] data set. A Batch built by hand, without a loader, is read
// as N examples of len(X)/N values.
func (b Batch) Inputs() *tensor.Dense {
	per := len(b.X) / max(b.N, 1) // values per example
	shape := []int{b.N, per}
	if b.shape != nil {
		shape, per = append([]int{b.N}, b.shape...), numel(b.shape)
	}
	x := b.X[:b.N*per]
	if !b.tokens {
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float32(nil), x...)))
	}
	ids := make([]int, len(x))
	for i, v := range x {
		ids[i] = int(v) // exact: token ids are integers below 2^24
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(ids))
}

// Targets returns the batch's class labels as a new int tensor of shape
// (N).
func (b Batch) Targets() *tensor.Dense {
	return tensor.New(tensor.WithShape(b.N), tensor.WithBacking(append([]int(nil), b.Labels[:b.N]...)))
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
