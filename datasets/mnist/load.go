package mnist

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mirage-go/mirage/datasets"
)

// fileSpec is one of the four files of a data set.
type fileSpec struct {
	// base is the file name without ".gz".
	base string
	// md5 and sha256 are hex checksums of the distributed .gz file; an
	// empty one is not checked.
	md5, sha256 string
}

// variant describes one member of the MNIST family and where to find it.
type variant struct {
	name        string // data set name, also the cache folder name
	display     string // for messages
	trainImages fileSpec
	trainLabels fileSpec
	testImages  fileSpec
	testLabels  fileSpec
	mean, std   float64
	classes     []string
	// torchvisionDir is the folder torchvision keeps the raw files in,
	// relative to its root ("MNIST/raw"); a data directory may be either.
	torchvisionDir string
	// mirrors are base URLs of the canonical download, tried in order.
	mirrors []string
	// local lists the preinstalled sources tried before downloading.
	local []localSource
}

// localSource finds a folder holding the .gz files on this machine.
type localSource struct {
	name string
	find func(ctx context.Context) (string, error)
	// checked sources hold the distributed .gz files and are verified
	// against the checksums before use.
	checked bool
}

func (v *variant) files() []fileSpec {
	return []fileSpec{v.trainImages, v.trainLabels, v.testImages, v.testLabels}
}

// The MNIST checksums are the published MD5s of the original files
// (yann.lecun.com, as listed by torchvision) and the SHA-256 of the same
// bytes, computed from the GoMNIST module copy whose MD5s match.
func mnistVariant() *variant {
	return &variant{
		name:           "mnist",
		display:        "MNIST",
		trainImages:    fileSpec{"train-images-idx3-ubyte", "f68b3c2dcbeaaa9fbdd348bbdeb94873", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"},
		trainLabels:    fileSpec{"train-labels-idx1-ubyte", "d53e105ee54ea40749a09fcbcd1e9432", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"},
		testImages:     fileSpec{"t10k-images-idx3-ubyte", "9fb629c4189551a2d022fa330f9573f3", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"},
		testLabels:     fileSpec{"t10k-labels-idx1-ubyte", "ec29112dd5afa0611ce80d1b7f02629c", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"},
		mean:           MNISTMean,
		std:            MNISTStd,
		classes:        MNISTClasses(),
		torchvisionDir: filepath.Join("MNIST", "raw"),
		mirrors: []string{
			"https://ossci-datasets.s3.amazonaws.com/mnist/",
			"https://yann.lecun.com/exdb/mnist/",
		},
		local: []localSource{{
			name:    "Go module " + goMNISTModule + "@" + goMNISTVersion,
			find:    goMNISTDir,
			checked: true,
		}},
	}
}

// debianFashionDir is where the Debian package dataset-fashion-mnist
// installs the files.
const debianFashionDir = "/usr/share/datasets/fashion-mnist"

// Fashion-MNIST's checksums are the MD5s published by Zalando Research for
// its download. The Debian package recompresses the files (same images,
// other .gz bytes), so its copy is not checked against them; apt verifies
// the package instead.
func fashionVariant() *variant {
	return &variant{
		name:           "fashion-mnist",
		display:        "Fashion-MNIST",
		trainImages:    fileSpec{"train-images-idx3-ubyte", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", ""},
		trainLabels:    fileSpec{"train-labels-idx1-ubyte", "25c81989df183df01b3e8a0aad5dffbe", ""},
		testImages:     fileSpec{"t10k-images-idx3-ubyte", "bef4ecab320f06d8554ea6380940ec79", ""},
		testLabels:     fileSpec{"t10k-labels-idx1-ubyte", "bb300cfdad3c16e7a12a480ee83cd310", ""},
		mean:           FashionMean,
		std:            FashionStd,
		classes:        FashionClasses(),
		torchvisionDir: filepath.Join("FashionMNIST", "raw"),
		mirrors:        []string{"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"},
		local: []localSource{{
			name: "Debian package dataset-fashion-mnist",
			find: func(context.Context) (string, error) {
				if _, err := os.Stat(filepath.Join(debianFashionDir, "train-images-idx3-ubyte.gz")); err != nil {
					return "", errors.New("not installed (apt-get install dataset-fashion-mnist)")
				}
				return debianFashionDir, nil
			},
		}},
	}
}

// Load returns MNIST's training and test sets. With a non-empty dataDir it
// reads the four IDX files (.gz or raw) from that folder (or from its
// torchvision-style MNIST/raw subfolder) and nowhere else; otherwise it
// finds them as the package documentation describes.
func Load(dataDir string) (datasets.Split, error) {
	split, _, err := Open("mnist", dataDir, Options{})
	return split, err
}

// LoadFashion returns Fashion-MNIST's training and test sets, found like
// [Load]'s (its torchvision subfolder is FashionMNIST/raw).
func LoadFashion(dataDir string) (datasets.Split, error) {
	split, _, err := Open("fashion-mnist", dataDir, Options{})
	return split, err
}

// Names lists the data sets [Open] knows.
func Names() []string { return []string{"mnist", "fashion-mnist"} }

// Options tune [Open]; the zero value gives the defaults.
type Options struct {
	// CacheDir is the folder downloads are kept in, one subfolder per data
	// set; "" means the mirage folder of the user cache directory.
	CacheDir string
	// Mirrors replaces the canonical download base URLs (a private
	// mirror); each must serve the four .gz files under their usual names.
	Mirrors []string
	// Client makes the downloads; nil means http.DefaultClient.
	Client *http.Client
}

// Open loads the data set called name ("mnist" or "fashion-mnist") like
// [Load] and also returns where the files were found, for the user.
func Open(name, dataDir string, opts Options) (split datasets.Split, source string, err error) {
	var v *variant
	switch name {
	case "mnist":
		v = mnistVariant()
	case "fashion-mnist":
		v = fashionVariant()
	default:
		return datasets.Split{}, "", fmt.Errorf("mnist: unknown data set %q; valid names: %s", name, strings.Join(Names(), ", "))
	}
	if opts.Mirrors != nil {
		v.mirrors = opts.Mirrors
	}
	client := opts.Client
	if client == nil {
		client = http.DefaultClient
	}
	cacheDir := func(name string) (string, error) {
		if opts.CacheDir != "" {
			return filepath.Join(opts.CacheDir, name), nil
		}
		base, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("no cache directory to download into (%v)", err)
		}
		return filepath.Join(base, "mirage", name), nil
	}
	return load(context.Background(), v, dataDir, cacheDir, client)
}

// Timeouts for the automatic sources: generous enough for a slow network,
// finite so that a stalled connection ends in an error rather than a hang.
const (
	goCommandTimeout = 10 * time.Minute
	downloadTimeout  = 10 * time.Minute
)

func load(ctx context.Context, v *variant, dataDir string, cacheDir func(string) (string, error), client *http.Client) (datasets.Split, string, error) {
	if dataDir != "" {
		dir, err := v.locateIn(dataDir)
		if err != nil {
			return datasets.Split{}, "", err
		}
		checks, err := v.checkDir(dir)
		if err != nil {
			return datasets.Split{}, "", err
		}
		split, err := v.read(dir)
		for _, c := range checks {
			if !c.OK {
				split.Warnings = append(split.Warnings, fmt.Sprintf("WARNING: %s %s; continuing with it", c.Path, c.Detail))
			}
		}
		return split, dir, err
	}
	var tried []string
	for _, src := range v.local {
		dir, err := src.find(ctx)
		if err == nil && src.checked {
			err = v.verify(dir)
		}
		if err == nil {
			split, err := v.read(dir)
			return split, src.name + " at " + dir, err
		}
		tried = append(tried, fmt.Sprintf("%s: %v", src.name, err))
	}
	dir, err := cacheDir(v.name)
	if err == nil {
		dctx, cancel := context.WithTimeout(ctx, downloadTimeout)
		err = v.fetch(dctx, client, v.mirrors, dir)
		cancel()
	}
	if err == nil {
		split, err := v.read(dir)
		return split, "download cache " + dir, err
	}
	tried = append(tried, fmt.Sprintf("download: %v", err))
	return datasets.Split{}, "", fmt.Errorf("%s: could not find the data (%s); download the four files %s (.gz or raw) and point --data-dir at their folder",
		v.display, strings.Join(tried, "; "), v.fileList())
}

// fileList names the four expected files for messages.
func (v *variant) fileList() string {
	var names []string
	for _, f := range v.files() {
		names = append(names, f.base)
	}
	return strings.Join(names, ", ")
}

// locateIn returns the folder under dataDir that holds the files: dataDir
// itself or its torchvision subfolder. The error names what is missing.
func (v *variant) locateIn(dataDir string) (string, error) {
	info, err := os.Stat(dataDir)
	if err != nil {
		return "", fmt.Errorf("%s: data directory: %w", v.display, err)
	}
	if !info.IsDir() {
		return "", fmt.Errorf("%s: data directory %s is a file; --data-dir must name the folder holding %s",
			v.display, dataDir, v.fileList())
	}
	for _, dir := range []string{dataDir, filepath.Join(dataDir, v.torchvisionDir)} {
		if _, err := findFile(dir, v.trainImages.base); err == nil {
			return dir, nil
		}
	}
	return dataDir, nil // read reports exactly which files are missing
}

// findFile returns the path of base.gz or base in dir.
func findFile(dir, base string) (string, error) {
	for _, name := range []string{base + ".gz", base} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("neither %s.gz nor %s is in %s", base, base, dir)
}

// read loads the four files from dir.
func (v *variant) read(dir string) (datasets.Split, error) {
	var missing []string
	paths := map[string]string{}
	for _, f := range v.files() {
		p, err := findFile(dir, f.base)
		if err != nil {
			missing = append(missing, f.base)
			continue
		}
		paths[f.base] = p
	}
	if len(missing) > 0 {
		what := strings.Join(missing, ", ") + " missing"
		if len(missing) == len(v.files()) {
			what = "no " + v.display + " files"
		}
		return datasets.Split{}, fmt.Errorf("%s: %s in %s: expected the IDX files %s, each .gz or raw; --data-dir must point at the folder holding them",
			v.display, what, dir, v.fileList())
	}
	train, err := v.readPart(paths[v.trainImages.base], paths[v.trainLabels.base])
	if err != nil {
		return datasets.Split{}, err
	}
	test, err := v.readPart(paths[v.testImages.base], paths[v.testLabels.base])
	if err != nil {
		return datasets.Split{}, err
	}
	return datasets.Split{Name: v.name, Train: train, Test: test}, nil
}

func (v *variant) readPart(imagesPath, labelsPath string) (*Set, error) {
	images, err := ReadImagesFile(imagesPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", v.display, err)
	}
	labels, err := ReadLabelsFile(labelsPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", v.display, err)
	}
	s, err := NewSet(images, labels, v.classes, v.mean, v.std)
	if err != nil {
		return nil, fmt.Errorf("%s: %s and %s: %w", v.display, filepath.Base(imagesPath), filepath.Base(labelsPath), err)
	}
	return s, nil
}
