package mnist

import (
	"context"
	"fmt"
	"net/http"

	"github.com/mirage-go/mirage/datasets"
	"github.com/mirage-go/mirage/datasets/catalog"
)

// Source is MNIST or Fashion-MNIST as a [catalog.Source]. Both are found
// by this package when opened (a data directory, the Go module proxy, the
// Debian package, or a download; see the package documentation), which
// checks the checksums of the files it reads.
type Source struct {
	name, about string
	// Mirrors and Client are passed to [Open] (see [Options]); the cache
	// directory comes from catalog.Options.
	Mirrors []string
	Client  *http.Client
}

// MNISTSource returns the source of MNIST.
func MNISTSource() Source {
	return Source{name: "mnist", about: "MNIST handwritten digits, 60,000 + 10,000 grey 28×28 images, 10 classes"}
}

// FashionSource returns the source of Fashion-MNIST.
func FashionSource() Source {
	return Source{name: "fashion-mnist", about: "Fashion-MNIST clothes, 60,000 + 10,000 grey 28×28 images, 10 classes"}
}

// Describe implements catalog.Source. Flips change what digits mean, so
// neither data set asks for crop-and-flip augmentation.
func (s Source) Describe() catalog.Description {
	return catalog.Description{Name: s.name, About: s.about, Input: datasets.Images, Examples: 70000}
}

// Locate implements catalog.Source: the files are found only when opened.
func (s Source) Locate(dataDir string, opts catalog.Options) catalog.Status {
	if dataDir != "" {
		return catalog.Status{Note: "read from " + dataDir + " by package mnist when opened; `mirage data verify` checks it"}
	}
	return catalog.Status{Note: "found by package mnist when opened (Go module proxy, Debian package dataset-fashion-mnist " +
		"or download); `mirage data verify` finds and checks it"}
}

func (s Source) options(opts catalog.Options) Options {
	return Options{CacheDir: opts.CacheDir, Mirrors: s.Mirrors, Client: s.Client}
}

// Open implements catalog.Source.
func (s Source) Open(dataDir string, opts catalog.Options) (*catalog.Data, error) {
	split, source, err := Open(s.name, dataDir, s.options(opts))
	if err != nil {
		return nil, err
	}
	return &catalog.Data{Split: split, Source: source}, nil
}

// Verify implements catalog.Source: the checksums of a data directory's
// files, then a full read (which may fetch the files when no data
// directory is given, and checks what it reads).
func (s Source) Verify(dataDir string, st catalog.Status, opts catalog.Options) catalog.Status {
	if dataDir != "" {
		checks, err := VerifyDir(s.name, dataDir)
		if err != nil {
			st.Checks = append(st.Checks, catalog.Check{What: "checksum", OK: false, Detail: err.Error()})
			return st
		}
		for _, c := range checks {
			st.Checks = append(st.Checks, catalog.Check{What: "checksum", OK: c.OK, Detail: c.Path + ": " + c.Detail})
		}
	}
	split, _, err := Open(s.name, dataDir, s.options(opts))
	if err != nil {
		st.Checks = append(st.Checks, catalog.Check{What: "read", OK: false, Detail: err.Error()})
		return st
	}
	st.Note = "found by package mnist, which checks the checksums of the files it reads"
	st.Checks = append(st.Checks, catalog.CountCheck(split.Train.Len(), split.Test.Len(), 60000, 10000, "images", 0, ""))
	return st
}

// Fetch implements catalog.Source: it opens the data set, which fetches
// it when it is nowhere else, and returns where it was found.
func (s Source) Fetch(ctx context.Context, opts catalog.Options) (string, error) {
	d, err := s.Open("", opts)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(opts.Log, "%s: %d training and %d test examples from %s\n", s.name, d.Train.Len(), d.Test.Len(), d.Source)
	return d.Source, nil
}
