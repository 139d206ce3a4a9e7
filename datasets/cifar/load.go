package cifar

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// LoadOptions tune [Load]. The zero value is ready to use.
type LoadOptions struct {
	// Workers is the number of image-decoding goroutines; 0 means GOMAXPROCS.
	Workers int
}

// Known file names [Load] looks for inside a directory, in this order after
// the binary batches and the train/ and test/ folders.
const (
	// BinaryArchiveName is the official download.
	BinaryArchiveName = "cifar-10-binary.tar.gz"
	// binaryFolderName is the folder the official archive unpacks to.
	binaryFolderName = "cifar-10-batches-bin"
	// JPEGArchiveName is the image-folder archive this project's CI uses.
	JPEGArchiveName = "cifar10-jpeg.tar.gz"
)

// Load reads CIFAR-10 from path, which may be
//
//   - a directory holding the binary batches (data_batch_1.bin …,
//     test_batch.bin), or a cifar-10-batches-bin folder holding them;
//   - a directory holding train/ and test/ image folders;
//   - a directory holding cifar-10-binary.tar.gz or cifar10-jpeg.tar.gz;
//   - a .tar or .tar.gz (gzip is recognised by content, not by name) holding
//     either form.
//
// Decoded images are not cached on disk: all 60,000 JPEGs of the shared
// archive decode in about 2 s on two cores, too little to be worth a cache
// that could go stale.
func Load(path string, opts LoadOptions) (*Data, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cifar10: %w", err)
	}
	if !info.IsDir() {
		return loadArchive(path, opts)
	}
	switch found := Find(path); {
	case found == "":
		return nil, fmt.Errorf("cifar10: %s holds none of: %s and data_batch_*.bin, a %s folder, train/ and test/ "+
			"image folders, %s, %s", path, TestBatchName, binaryFolderName, BinaryArchiveName, JPEGArchiveName)
	case fileExists(filepath.Join(found, TestBatchName)):
		return loadBinaryDir(found)
	case dirExists(found):
		return loadImageDir(found, opts)
	default:
		return loadArchive(found, opts)
	}
}

// Find returns what [Load] reads when given the directory dir: dir itself
// (binary batches or image folders), its cifar-10-batches-bin folder, or the
// archive it holds. It returns "" when dir holds no form of CIFAR-10.
func Find(dir string) string {
	switch {
	case fileExists(filepath.Join(dir, TestBatchName)):
		return dir
	case fileExists(filepath.Join(dir, binaryFolderName, TestBatchName)):
		return filepath.Join(dir, binaryFolderName)
	case dirExists(filepath.Join(dir, "train")) || dirExists(filepath.Join(dir, "test")):
		return dir
	}
	for _, name := range []string{BinaryArchiveName, JPEGArchiveName} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	return ""
}

func fileExists(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.Mode().IsRegular()
}

func dirExists(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.IsDir()
}

// loadBinaryDir reads the six binary batch files from dir.
func loadBinaryDir(dir string) (*Data, error) {
	var train, test Images
	for _, name := range append(TrainBatchNames(), TestBatchName) {
		p := filepath.Join(dir, name)
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("cifar10: the binary form needs %s and data_batch_1.bin … data_batch_5.bin: %w",
				TestBatchName, err)
		}
		dst := &train
		if name == TestBatchName {
			dst = &test
		}
		err = ReadBinary(f, p, dst)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("cifar10: %w", err)
		}
	}
	return newData(train, test, "binary batches in "+dir, skippedFiles())
}

func newData(train, test Images, source string, skipped Skipped) (*Data, error) {
	if train.Len() == 0 || test.Len() == 0 {
		return nil, fmt.Errorf("cifar10: %s: found %d training and %d test images, need both; %s",
			source, train.Len(), test.Len(), skipped)
	}
	return &Data{Train: NewSet(train, true), Test: NewSet(test, false), Source: source, Skipped: skipped}, nil
}

// collector sorts the files of either form, from a directory walk or an
// archive, into binary batches, images to decode, and reported skips.
type collector struct {
	source  string
	batches map[string][]byte // binary batch base name → contents
	images  int
	skipped Skipped
}

// officialExtras are the non-batch files of the official binary archive,
// passed over without being reported as skips.
func isOfficialExtra(base string) bool {
	return base == "batches.meta.txt" || base == "readme.html"
}

func isBatchName(base string) bool {
	return base == TestBatchName || slices.Contains(TrainBatchNames(), base)
}

// Size limits that keep a corrupt or hostile header from making the loader
// allocate gigabytes: a batch file is 30.7 MB, a 32×32 image a few KB.
const (
	maxBatchBytes = 64 << 20
	maxImageBytes = 1 << 20
)

// add classifies one regular file of the given size, read by readData only
// when needed.
func (c *collector) add(name string, size int64, readData func() ([]byte, error), submit func(decodeJob)) error {
	base := path.Base(name)
	if isBatchName(base) {
		if size > maxBatchBytes {
			return fmt.Errorf("cifar10: %s in %s is %d bytes, far more than a batch file's %d; the file is corrupt",
				name, c.source, size, batchRecords*recordBytes)
		}
		data, err := readData()
		if err != nil {
			return err
		}
		c.batches[base] = data
		return nil
	}
	if isOfficialExtra(base) {
		return nil
	}
	parts := strings.Split(strings.Trim(name, "/"), "/")
	i := len(parts) - 3
	if i < 0 || (parts[i] != "train" && parts[i] != "test") {
		c.skipped.Add(name + ": not at train|test/<class>/<file>")
		return nil
	}
	label := slices.Index(Classes(), parts[i+1])
	if label < 0 {
		return fmt.Errorf("%s: folder %q is not a CIFAR-10 class; the class folders must be named %s",
			name, parts[i+1], strings.Join(Classes(), ", "))
	}
	if !isImageName(base) {
		c.skipped.Add(name + ": not a .jpg, .jpeg or .png file")
		return nil
	}
	if size > maxImageBytes {
		c.skipped.Add(fmt.Sprintf("%s: %d bytes, too large for a 32x32 image", name, size))
		return nil
	}
	data, err := readData()
	if err != nil {
		return err
	}
	split := splitTrain
	if parts[i] == "test" {
		split = splitTest
	}
	c.images++
	submit(decodeJob{split: split, label: uint8(label), name: name, data: data})
	return nil
}

// finish turns the collected batches or decoded images into Data.
func (c *collector) finish(results []decoded) (*Data, error) {
	if len(c.batches) > 0 && c.images > 0 {
		return nil, fmt.Errorf("cifar10: %s holds both binary batches and image folders; use one form", c.source)
	}
	if len(c.batches) > 0 {
		var train, test Images
		for _, name := range append(TrainBatchNames(), TestBatchName) {
			data, ok := c.batches[name]
			if !ok {
				return nil, fmt.Errorf("cifar10: %s has no %s; the binary form needs data_batch_1.bin … "+
					"data_batch_5.bin and %s", c.source, name, TestBatchName)
			}
			dst := &train
			if name == TestBatchName {
				dst = &test
			}
			if err := ReadBinary(bytes.NewReader(data), name+" in "+c.source, dst); err != nil {
				return nil, fmt.Errorf("cifar10: %w", err)
			}
		}
		return newData(train, test, "binary batches in "+c.source, c.skipped)
	}
	// Sort by name so the order does not depend on which goroutine finished
	// first, nor on the archive's member order.
	slices.SortFunc(results, func(a, b decoded) int { return strings.Compare(a.name, b.name) })
	var parts [2]Images
	for _, r := range results {
		if r.err != nil {
			c.skipped.Add(r.name + ": " + r.err.Error())
			continue
		}
		parts[r.split].Pixels = append(parts[r.split].Pixels, r.pix)
		parts[r.split].Labels = append(parts[r.split].Labels, r.label)
	}
	return newData(parts[splitTrain], parts[splitTest], "image folders in "+c.source, c.skipped)
}

// loadImageDir reads the image folders under dir/train and dir/test.
func loadImageDir(dir string, opts LoadOptions) (*Data, error) {
	c := &collector{source: dir, batches: map[string][]byte{}, skipped: skippedFiles()}
	results, err := decodeParallel(opts.Workers, func(submit func(decodeJob)) error {
		for _, split := range []string{"train", "test"} {
			root := filepath.Join(dir, split)
			if !dirExists(root) {
				return fmt.Errorf("cifar10: %s has no %s/ folder; the image-folder form needs train/<class>/ "+
					"and test/<class>/", dir, split)
			}
			err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if !d.Type().IsRegular() {
					return nil
				}
				rel, err := filepath.Rel(dir, p)
				if err != nil {
					return err
				}
				info, err := d.Info()
				if err != nil {
					return err
				}
				return c.add(filepath.ToSlash(rel), info.Size(), func() ([]byte, error) { return os.ReadFile(p) }, submit)
			})
			if err != nil {
				return fmt.Errorf("cifar10: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c.finish(results)
}

// openArchive returns a tar reader over the file at p, ungzipping it when
// its first bytes are the gzip magic number.
func openArchive(f *os.File) (*tar.Reader, error) {
	br := bufio.NewReaderSize(f, 1<<20)
	magic, err := br.Peek(2)
	if err != nil {
		return nil, fmt.Errorf("%s: too short to be an archive: %w", f.Name(), err)
	}
	if magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name(), err)
		}
		return tar.NewReader(gz), nil
	}
	return tar.NewReader(br), nil
}

// loadArchive reads either form from a .tar or .tar.gz, streaming it once.
func loadArchive(p string, opts LoadOptions) (*Data, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("cifar10: %w", err)
	}
	defer f.Close()
	tr, err := openArchive(f)
	if err != nil {
		return nil, fmt.Errorf("cifar10: %w", err)
	}
	c := &collector{source: p, batches: map[string][]byte{}, skipped: skippedFiles()}
	members := 0
	results, err := decodeParallel(opts.Workers, func(submit func(decodeJob)) error {
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return archiveError(p, members, err)
			}
			members++
			if hdr.Typeflag != tar.TypeReg {
				continue // folders, links: nothing to read
			}
			readData := func() ([]byte, error) {
				data := make([]byte, hdr.Size)
				if _, err := io.ReadFull(tr, data); err != nil {
					return nil, archiveError(p, members, err)
				}
				return data, nil
			}
			if err := c.add(hdr.Name, hdr.Size, readData, submit); err != nil {
				return err
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return c.finish(results)
}

func archiveError(p string, members int, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("cifar10: %s ends early (after %d archive members): the archive is truncated; "+
			"copy or download it again", p, members)
	}
	return fmt.Errorf("cifar10: %s is not a readable tar/tar.gz (after %d archive members): %w", p, members, err)
}
