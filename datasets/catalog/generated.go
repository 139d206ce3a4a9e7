package catalog

import (
	"context"
	"fmt"

	"github.com/mirage-go/mirage/datasets"
)

// Generated is a [Source] for a data set a program makes rather than reads
// from files (synthetic data, or data already in memory): it has nothing
// to locate, verify or fetch. Registering one is all a program needs to
// train on its own data through mirage's train and experiment packages:
//
//	reg.Datasets.Register(catalog.Generated{
//		Description: catalog.Description{Name: "spirals", About: "two spirals", Input: datasets.Images},
//		Make:        makeSpirals,
//	})
type Generated struct {
	Description
	// Make returns the training and test parts. It is called on every
	// Open and must return the same data each time (derive any randomness
	// from a fixed seed), so that runs stay deterministic.
	Make func(opts Options) (datasets.Split, error)
}

// Describe implements Source.
func (g Generated) Describe() Description { return g.Description }

// Locate implements Source: a generated data set is always there.
func (g Generated) Locate(dataDir string, opts Options) Status {
	return Status{Note: "generated in memory by the program; nothing to find"}
}

// Open implements Source. A data directory is refused: the data set has
// no files to read from it.
func (g Generated) Open(dataDir string, opts Options) (*Data, error) {
	if dataDir != "" {
		return nil, fmt.Errorf("%s: generated in memory, it reads no files; drop --data-dir", g.Name)
	}
	if g.Make == nil {
		return nil, fmt.Errorf("%s: the data set has no Make function", g.Name)
	}
	split, err := g.Make(opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", g.Name, err)
	}
	if split.Train == nil || split.Test == nil {
		return nil, fmt.Errorf("%s: Make returned no training or no test set", g.Name)
	}
	return &Data{Split: split, Source: "generated in memory"}, nil
}

// Verify implements Source: it makes the data set and counts its
// examples (there are no published checksums).
func (g Generated) Verify(dataDir string, s Status, opts Options) Status {
	d, err := g.Open("", opts)
	if err != nil {
		s.Checks = append(s.Checks, Check{What: "read", OK: false, Detail: err.Error()})
		return s
	}
	s.Checks = append(s.Checks, Check{What: "read", OK: true,
		Detail: fmt.Sprintf("%d training and %d test examples", d.Train.Len(), d.Test.Len())})
	return s
}

// Fetch implements Source: there is nothing to download.
func (g Generated) Fetch(ctx context.Context, opts Options) (string, error) {
	return "", fmt.Errorf("%s is generated in memory by the program; there is nothing to fetch", g.Name)
}
