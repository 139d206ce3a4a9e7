package datasets

// InputKind says what one example of a data set is, and so which models
// can read it: an image model cannot learn from token ids, and a text
// model cannot embed pixel values. Model descriptors and data-set sources
// both state theirs, and training refuses a pair that differs.
type InputKind string

// The input kinds mirage's models and data sets use.
const (
	// Images are (C, H, W) float32 arrays.
	Images InputKind = "image"
	// Tokens are (L) sequences of token ids, 0 being padding.
	Tokens InputKind = "text"
)
