package imdb

import (
	"fmt"
	"math/rand/v2"

	"github.com/mirage-go/mirage/datasets"
)

// Defaults for [Options].
const (
	DefaultMaxLen    = 128
	DefaultVocabSize = 8192
)

// Truncation says which tokens of a review longer than the sequence are
// kept.
type Truncation int

const (
	// HeadTail keeps the first quarter of the room and fills the rest from
	// the end of the review. Reviews tend to open with the plot and close
	// with the verdict ("… 8/10"); Sun et al. (2019, "How to Fine-Tune BERT
	// for Text Classification") found head+tail best on IMDB.
	HeadTail Truncation = iota
	// Head keeps the beginning of the review and drops the end.
	Head
)

// String names the truncation as the --truncation flag spells it.
func (t Truncation) String() string {
	switch t {
	case HeadTail:
		return "head+tail"
	case Head:
		return "head"
	}
	return fmt.Sprintf("Truncation(%d)", int(t))
}

// ParseTruncation reads "head+tail" or "head".
func ParseTruncation(s string) (Truncation, error) {
	for _, t := range []Truncation{HeadTail, Head} {
		if s == t.String() {
			return t, nil
		}
	}
	return 0, fmt.Errorf("imdb: unknown truncation %q; use head+tail or head", s)
}

// Options shape the token sequences. Zero fields take the defaults.
type Options struct {
	// MaxLen is the sequence length, [CLS] included (default 128).
	MaxLen int
	// VocabSize bounds the WordPiece vocabulary, special tokens included
	// (default 8192).
	VocabSize int
	// Truncation picks the tokens kept from long reviews (default HeadTail).
	Truncation Truncation
}

func (o Options) withDefaults() (Options, error) {
	if o.MaxLen == 0 {
		o.MaxLen = DefaultMaxLen
	}
	if o.VocabSize == 0 {
		o.VocabSize = DefaultVocabSize
	}
	if o.MaxLen < 2 {
		return o, fmt.Errorf("imdb: a max length of %d leaves no room after [CLS]; use at least 2", o.MaxLen)
	}
	if o.VocabSize > 1<<24 {
		return o, fmt.Errorf("imdb: a vocabulary of %d cannot be stored as float32 ids (at most 2^24)", o.VocabSize)
	}
	if o.Truncation != HeadTail && o.Truncation != Head {
		return o, fmt.Errorf("imdb: unknown truncation %d", o.Truncation)
	}
	return o, nil
}

// Set is encoded reviews as a [datasets.Dataset]: each example is MaxLen
// token ids stored as float32, [CLS] first, [PAD] (0) at the end.
type Set struct {
	ids    []int32 // Len()·maxLen ids, row by row
	labels []uint8
	maxLen int
	vocab  int // the tokenizer's vocabulary size
}

// Len is the number of reviews.
func (s *Set) Len() int { return len(s.labels) }

// Shape is [MaxLen].
func (s *Set) Shape() []int { return []int{s.maxLen} }

// Classes is ["negative" "positive"].
func (s *Set) Classes() []string { return ClassNames() }

// VocabSize is the tokenizer's vocabulary size: the examples are token ids
// (see [datasets.Tokenized]).
func (s *Set) VocabSize() int { return s.vocab }

// IDs returns the token ids of review i. The slice is shared: do not modify.
func (s *Set) IDs(i int) []int32 { return s.ids[i*s.maxLen : (i+1)*s.maxLen] }

// Example writes review i's ids as float32 into dst and returns its label.
// Text is not augmented, so rng is ignored.
func (s *Set) Example(i int, dst []float32, _ *rand.Rand) int {
	if len(dst) != s.maxLen {
		panic(fmt.Sprintf("imdb: Example needs a destination of %d floats, got %d", s.maxLen, len(dst)))
	}
	for j, id := range s.IDs(i) {
		dst[j] = float32(id)
	}
	return int(s.labels[i])
}

// Data is the IMDB data set, split, tokenized and encoded.
type Data struct {
	Train, Test *Set
	// Tokenizer was trained on the training reviews.
	Tokenizer *Tokenizer
	// Source is the file the reviews were read from, if any.
	Source string
	// Skipped counts malformed entries of reviews.json; callers should
	// print it when Count > 0.
	Skipped Skipped
}

// Split returns the data as a [datasets.Split] named "imdb".
func (d *Data) Split() datasets.Split {
	return datasets.Split{Name: "imdb", Train: d.Train, Test: d.Test}
}

// Load reads the reviews from p (see [ReadFile]) and builds the data set.
func Load(p string, opts Options) (*Data, error) {
	reviews, skipped, err := ReadFile(p)
	if err != nil {
		return nil, err
	}
	d, err := Build(reviews, opts)
	if err != nil {
		return nil, fmt.Errorf("%w (reviews from %s)", err, p)
	}
	d.Source, d.Skipped = p, skipped
	return d, nil
}

// Build splits reviews with [SplitReviews], trains a WordPiece vocabulary
// on the training half and encodes both halves.
func Build(reviews []Review, opts Options) (*Data, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	trainIdx, testIdx := SplitReviews(reviews)
	if len(trainIdx) == 0 || len(testIdx) == 0 {
		return nil, fmt.Errorf("imdb: %d reviews are too few to split into training and test halves", len(reviews))
	}
	texts := func(idx []int) []string {
		out := make([]string, len(idx))
		for i, k := range idx {
			out[i] = reviews[k].Text
		}
		return out
	}
	trainTexts := texts(trainIdx)
	tok, err := TrainWordPiece(trainTexts, opts.VocabSize)
	if err != nil {
		return nil, err
	}
	encode := func(idx []int, texts []string) *Set {
		s := &Set{ids: make([]int32, len(idx)*opts.MaxLen), labels: make([]uint8, len(idx)), maxLen: opts.MaxLen, vocab: tok.Size()}
		for i, ids := range tok.EncodeAll(texts) {
			Fit(s.ids[i*opts.MaxLen:(i+1)*opts.MaxLen], ids, opts.Truncation)
			s.labels[i] = uint8(reviews[idx[i]].Label())
		}
		return s
	}
	return &Data{
		Train:     encode(trainIdx, trainTexts),
		Test:      encode(testIdx, texts(testIdx)),
		Tokenizer: tok,
	}, nil
}

// Fit writes [CLS] and then ids into dst, cutting ids to fit as trunc says
// and padding the rest of dst with [PAD].
func Fit(dst []int32, ids []int32, trunc Truncation) {
	dst[0] = ClsID
	room := dst[1:]
	if len(ids) <= len(room) {
		n := copy(room, ids)
		clear(room[n:])
		return
	}
	if trunc == Head {
		copy(room, ids[:len(room)])
		return
	}
	head := len(room) / 4
	copy(room, ids[:head])
	copy(room[head:], ids[len(ids)-(len(room)-head):])
}
