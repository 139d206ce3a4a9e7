package cifar

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mirage-go/mirage/datasets"
	"github.com/mirage-go/mirage/datasets/catalog"
	"github.com/mirage-go/mirage/internal/checksum"
)

// Name is the data set's name in a catalog.
const Name = "cifar10"

// Source is CIFAR-10 as a [catalog.Source]: found in a data directory, an
// archive, the search directories or the cache; verified against the
// published checksums; fetched over HTTP by Fetcher.
type Source struct {
	// Fetcher downloads the archive for Fetch; the zero value means
	// [OfficialFetcher].
	Fetcher Fetcher
}

// Describe implements catalog.Source.
func (Source) Describe() catalog.Description {
	return catalog.Description{
		Name: Name, About: "CIFAR-10, 50,000 + 10,000 colour 32×32 images, 10 classes",
		Input: datasets.Images, Augment: true, Examples: 60000,
	}
}

// locate returns the path Load should read, and the places looked at.
func locate(dataDir string, opts catalog.Options) (string, []string) {
	if dataDir != "" {
		if info, err := os.Stat(dataDir); err == nil && !info.IsDir() {
			return dataDir, nil // an archive
		}
	}
	return opts.Find(Name, dataDir, Find)
}

// Locate implements catalog.Source.
func (Source) Locate(dataDir string, opts catalog.Options) catalog.Status {
	var s catalog.Status
	s.Location, s.Looked = locate(dataDir, opts)
	if s.Location == "" {
		s.Note = "get it with `mirage data fetch cifar10`, or pass --data-dir"
	}
	return s
}

// Open implements catalog.Source. CIFAR-10 is never fetched implicitly
// (163 MB): when it is not found, the error lists every place looked at
// and how to get it.
func (Source) Open(dataDir string, opts catalog.Options) (*catalog.Data, error) {
	p, looked := locate(dataDir, opts)
	if dataDir != "" {
		p = dataDir // Load explains what it does not find there
	}
	if p == "" {
		return nil, fmt.Errorf("cifar10: not found. Looked for binary batches (data_batch_*.bin, test_batch.bin), "+
			"train/ and test/ image folders, %s or %s in: %s. Pass --data-dir DIR (a folder or a .tar/.tar.gz), "+
			"list folders in $%s, or download the official archive with `mirage data fetch cifar10`",
			BinaryArchiveName, JPEGArchiveName, strings.Join(looked, ", "), catalog.DataEnv)
	}
	c, err := Load(p, LoadOptions{})
	if err != nil {
		return nil, err
	}
	d := &catalog.Data{Split: c.Split(), Source: c.Source}
	if c.Skipped.Count > 0 {
		d.Skipped = []string{c.Skipped.String()}
	}
	return d, nil
}

// Verify implements catalog.Source.
func (Source) Verify(dataDir string, s catalog.Status, opts catalog.Options) catalog.Status {
	if s.Location == "" {
		return s
	}
	s.Checks = append(s.Checks, checkFile(s.Location))
	d, err := Load(s.Location, LoadOptions{})
	if err != nil {
		s.Checks = append(s.Checks, catalog.Check{What: "read", OK: false, Detail: err.Error()})
		return s
	}
	s.Checks = append(s.Checks, catalog.CountCheck(d.Train.Len(), d.Test.Len(), 50000, 10000, "images",
		d.Skipped.Count, d.Skipped.String()))
	return s
}

// checkFile checks a CIFAR-10 archive against its published checksum.
func checkFile(p string) catalog.Check {
	info, err := os.Stat(p)
	switch {
	case err != nil:
		return catalog.Check{What: "checksum", OK: false, Detail: err.Error()}
	case info.IsDir():
		return catalog.Check{What: "checksum", OK: true, Detail: "none published for unpacked files; read check only"}
	}
	switch filepath.Base(p) {
	case BinaryArchiveName:
		sum, err := FileMD5(p)
		return catalog.SumCheck("MD5", sum, BinaryArchiveMD5, err)
	case JPEGArchiveName:
		sums, err := checksum.File(p, sha256.New())
		sum := ""
		if err == nil {
			sum = sums[0]
		}
		return catalog.SumCheck("SHA-256", sum, JPEGArchiveSHA256, err)
	}
	return catalog.Check{What: "checksum", OK: true, Detail: fmt.Sprintf("none known for %s; read check only", filepath.Base(p))}
}

// Fetch implements catalog.Source: the official binary archive over HTTP.
func (s Source) Fetch(ctx context.Context, opts catalog.Options) (string, error) {
	f := s.Fetcher
	if f.BaseURL == "" {
		f = OfficialFetcher()
	}
	return f.Fetch(ctx, opts.CacheFor(Name))
}
