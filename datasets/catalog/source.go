package catalog

import (
	"context"

	"github.com/mirage-go/mirage/datasets"
)

// Source is one data set: it describes itself, says where its files are,
// opens, verifies and fetches them. A data set is added to mirage (or to a
// program that uses mirage) by writing a Source in its own package and
// registering it in a [Registry].
//
// Every method receives [Options] with the defaults filled in (a cache
// directory, the search directories, a log) and the user's data
// directory, "" when none was given: a Source given a data directory reads
// from there and from nowhere else.
type Source interface {
	// Describe returns the data set's name and what it holds.
	Describe() Description
	// Locate says where the data set is, reading and fetching nothing: it
	// fills the Location, Looked and Note of a Status (the registry fills
	// the name and description).
	Locate(dataDir string, opts Options) Status
	// Open reads the data set, fetching it first if the source does that
	// implicitly and opts.NoFetch is false.
	Open(dataDir string, opts Options) (*Data, error)
	// Verify checks the data set that Locate found (s): its published
	// checksums where known and a full read counting the examples. It
	// returns s with the checks added (and its note updated if need be).
	Verify(dataDir string, s Status, opts Options) Status
	// Fetch downloads the data set into its cache folder, unless a
	// verified copy is there already, and returns where it is.
	Fetch(ctx context.Context, opts Options) (string, error)
}

// Description is what a [Source] says about itself.
type Description struct {
	// Name is what --dataset and configurations call the data set.
	Name string
	// About is a one-line description: what it holds, how many examples.
	About string
	// Input is the kind of its examples; training refuses a model that
	// reads another kind.
	Input datasets.InputKind
	// Augment says that random crop and flip suit the examples (natural
	// images; not digits, whose meaning a flip can change, nor text). A
	// model's recipe turns augmentation on only for such data sets.
	Augment bool
	// Examples is the number of training and test examples together, for
	// memory estimates made before the data is read (0 when unknown).
	Examples int
}
