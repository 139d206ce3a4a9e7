package cifar

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// testPixels returns a deterministic image for (label, k) in plane order.
func testPixels(label, k int) []byte {
	pix := make([]byte, ImageBytes)
	for i := range pix {
		pix[i] = byte(i*7 + label*31 + k*13)
	}
	return pix
}

func testImage(pix []byte) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, Width, Height))
	for y := range Height {
		for x := range Width {
			i := y*Width + x
			img.SetNRGBA(x, y, color.NRGBA{pix[i], pix[Height*Width+i], pix[2*Height*Width+i], 255})
		}
	}
	return img
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	return buf.Bytes()
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}))
	return buf.Bytes()
}

type file struct {
	name string
	data []byte
}

// imageFiles returns PNG image folders: perSplit images per split, spread
// over the classes, under prefix.
func imageFiles(t testing.TB, prefix string, train, test int) []file {
	var files []file
	for split, n := range map[string]int{"train": train, "test": test} {
		for k := range n {
			label := k % NumClasses
			name := filepath.ToSlash(filepath.Join(prefix, split, Classes()[label], string(rune('a'+k))+".png"))
			files = append(files, file{name, encodePNG(t, testImage(testPixels(label, k)))})
		}
	}
	return files
}

func binaryBatch(t testing.TB, n, offset int) []byte {
	var im Images
	for k := range n {
		im.Labels = append(im.Labels, uint8((k+offset)%NumClasses))
		im.Pixels = append(im.Pixels, testPixels((k+offset)%NumClasses, k+offset))
	}
	var buf bytes.Buffer
	require.NoError(t, WriteBinary(&buf, im))
	return buf.Bytes()
}

// binaryFiles returns the six batch files (3 records each, test 2) plus the
// official archive's extra files, under prefix.
func binaryFiles(t testing.TB, prefix string) []file {
	var files []file
	for i, name := range TrainBatchNames() {
		files = append(files, file{filepath.ToSlash(filepath.Join(prefix, name)), binaryBatch(t, 3, 3*i)})
	}
	files = append(files,
		file{filepath.ToSlash(filepath.Join(prefix, TestBatchName)), binaryBatch(t, 2, 100)},
		file{filepath.ToSlash(filepath.Join(prefix, "batches.meta.txt")), []byte("airplane\n")},
	)
	return files
}

func writeDir(t *testing.T, dir string, files []file) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, f.data, 0o644))
	}
}

func tarBytes(t testing.TB, files []file, gz bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w *tar.Writer
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = tar.NewWriter(zw)
	} else {
		w = tar.NewWriter(&buf)
	}
	for _, f := range files {
		require.NoError(t, w.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg}))
		_, err := w.Write(f.data)
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	if gz {
		require.NoError(t, zw.Close())
	}
	return buf.Bytes()
}

func writeFile(t *testing.T, p string, data []byte) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, data, 0o644))
	return p
}

func TestReadBinary(t *testing.T) {
	good := binaryBatch(t, 2, 0)
	badLabel := append([]byte{}, good...)
	badLabel[recordBytes] = 10
	tests := []struct {
		name    string
		data    []byte
		wantN   int
		wantErr string
	}{
		{"two records", good, 2, ""},
		{"empty", nil, 0, ""},
		{"short last record", good[:len(good)-1], 0, "truncated"},
		{"label above 9", badLabel, 0, "label 10"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var im Images
			err := ReadBinary(bytes.NewReader(tc.data), "batch.bin", &im)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.ErrorContains(t, err, "batch.bin")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantN, im.Len())
			for k := range im.Len() {
				require.Equal(t, uint8(k%NumClasses), im.Labels[k])
				require.Equal(t, testPixels(k%NumClasses, k), im.Pixels[k])
			}
		})
	}
}

// checkSynthetic checks data loaded from imageFiles(…, 12, 5) or binaryFiles.
func checkSynthetic(t *testing.T, d *Data, binary bool) {
	t.Helper()
	require.Zero(t, d.Skipped.Count, d.Skipped.String())
	if binary {
		require.Equal(t, 15, d.Train.Len())
		require.Equal(t, 2, d.Test.Len())
		for k := range 15 {
			require.Equal(t, uint8(k%NumClasses), d.Train.Images().Labels[k])
			require.Equal(t, testPixels(k%NumClasses, k), d.Train.Images().Pixels[k])
		}
		require.Equal(t, testPixels(100%NumClasses, 100), d.Test.Images().Pixels[0])
		return
	}
	require.Equal(t, 12, d.Train.Len())
	require.Equal(t, 5, d.Test.Len())
	// Sorted by path: class folders in label order, then file names.
	im := d.Train.Images()
	for i := range im.Len() {
		label := int(im.Labels[i])
		require.GreaterOrEqual(t, label, 0)
		if i > 0 {
			require.GreaterOrEqual(t, label, int(im.Labels[i-1]))
		}
	}
	// Image k=11 is the second image of class 1 (k=1 and k=11): PNG is
	// lossless, so the pixels come back exactly.
	require.Equal(t, uint8(1), im.Labels[3])
	require.Equal(t, testPixels(1, 11), im.Pixels[3])
}

func TestLoadForms(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, dir string) string
		binary bool
	}{
		{"binary batches in a directory", func(t *testing.T, dir string) string {
			writeDir(t, dir, binaryFiles(t, ""))
			return dir
		}, true},
		{"cifar-10-batches-bin folder", func(t *testing.T, dir string) string {
			writeDir(t, dir, binaryFiles(t, binaryFolderName))
			return dir
		}, true},
		{"official tar.gz", func(t *testing.T, dir string) string {
			return writeFile(t, filepath.Join(dir, "x.tar.gz"), tarBytes(t, binaryFiles(t, binaryFolderName), true))
		}, true},
		{"directory holding the official archive", func(t *testing.T, dir string) string {
			writeFile(t, filepath.Join(dir, BinaryArchiveName), tarBytes(t, binaryFiles(t, binaryFolderName), true))
			return dir
		}, true},
		{"image folders in a directory", func(t *testing.T, dir string) string {
			writeDir(t, dir, imageFiles(t, "", 12, 5))
			return dir
		}, false},
		{"image folders in a plain tar", func(t *testing.T, dir string) string {
			return writeFile(t, filepath.Join(dir, "x.tar"), tarBytes(t, imageFiles(t, "", 12, 5), false))
		}, false},
		{"image folders in a tar.gz with a prefix", func(t *testing.T, dir string) string {
			return writeFile(t, filepath.Join(dir, "x.tgz"), tarBytes(t, imageFiles(t, "cifar10-jpeg", 12, 5), true))
		}, false},
		{"directory holding the JPEG archive", func(t *testing.T, dir string) string {
			writeFile(t, filepath.Join(dir, JPEGArchiveName), tarBytes(t, imageFiles(t, "cifar10-jpeg", 12, 5), true))
			return dir
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.setup(t, t.TempDir())
			for _, workers := range []int{0, 1, 3} {
				d, err := Load(p, LoadOptions{Workers: workers})
				require.NoError(t, err)
				checkSynthetic(t, d, tc.binary)
				require.Equal(t, "cifar10", d.Split().Name)
			}
		})
	}
}

func TestLoadJPEG(t *testing.T) {
	// JPEG is lossy: check the decoded pixels are close, not equal.
	pix := testPixels(3, 0)
	for i := range pix { // a smooth image survives JPEG well
		pix[i] = byte(64 + (i%Width)*2 + (i/(Height*Width))*20)
	}
	files := []file{
		{"train/cat/a.jpg", encodeJPEG(t, testImage(pix))},
		{"test/cat/a.JPEG", encodeJPEG(t, testImage(pix))},
	}
	dir := t.TempDir()
	d, err := Load(writeFile(t, filepath.Join(dir, "j.tar.gz"), tarBytes(t, files, true)), LoadOptions{})
	require.NoError(t, err)
	require.Equal(t, 1, d.Train.Len())
	require.Equal(t, 1, d.Test.Len())
	got := d.Train.Images().Pixels[0]
	for i := range pix {
		require.InDelta(t, float64(pix[i]), float64(got[i]), 12, "pixel %d", i) // JPEG q90 error bound
	}
}

func TestLoadBadInput(t *testing.T) {
	good := imageFiles(t, "", 12, 5)
	gray := image.NewGray(image.Rect(0, 0, Width, Height))
	big := image.NewNRGBA(image.Rect(0, 0, 33, 32))
	tests := []struct {
		name        string
		path        func(t *testing.T, dir string) string
		wantErr     string
		wantSkipped int
		wantReason  string
	}{
		{"missing path", func(t *testing.T, dir string) string { return filepath.Join(dir, "nope") }, "no such file", 0, ""},
		{"empty directory", func(t *testing.T, dir string) string { return dir }, "holds none of", 0, ""},
		{"truncated tar.gz", func(t *testing.T, dir string) string {
			data := tarBytes(t, good, true)
			return writeFile(t, filepath.Join(dir, "x.tar.gz"), data[:len(data)/2])
		}, "truncated", 0, ""},
		{"truncated plain tar", func(t *testing.T, dir string) string {
			data := tarBytes(t, good, false)
			return writeFile(t, filepath.Join(dir, "x.tar"), data[:len(data)/2+100])
		}, "truncated", 0, ""},
		{"not an archive", func(t *testing.T, dir string) string {
			return writeFile(t, filepath.Join(dir, "x.tar"), bytes.Repeat([]byte("not a tar "), 100))
		}, "not a readable tar", 0, ""},
		{"unknown class folder", func(t *testing.T, dir string) string {
			files := append(append([]file{}, good...), file{"train/zebra/a.png", encodePNG(t, gray)})
			return writeFile(t, filepath.Join(dir, "x.tar"), tarBytes(t, files, false))
		}, `folder "zebra" is not a CIFAR-10 class`, 0, ""},
		{"corrupt image is skipped and reported", func(t *testing.T, dir string) string {
			files := append(append([]file{}, good...), file{"train/cat/bad.jpg", []byte("garbage")})
			return writeFile(t, filepath.Join(dir, "x.tar"), tarBytes(t, files, false))
		}, "", 1, "train/cat/bad.jpg: cannot decode"},
		{"wrong size is skipped and reported", func(t *testing.T, dir string) string {
			files := append(append([]file{}, good...), file{"test/dog/big.png", encodePNG(t, big)})
			writeDir(t, dir, files)
			return dir
		}, "", 1, "test/dog/big.png: image is 33x32"},
		{"non-image file is skipped and reported", func(t *testing.T, dir string) string {
			files := append(append([]file{}, good...), file{"train/cat/notes.txt", []byte("hi")})
			return writeFile(t, filepath.Join(dir, "x.tar"), tarBytes(t, files, false))
		}, "", 1, "train/cat/notes.txt: not a .jpg"},
		{"misplaced file is skipped and reported", func(t *testing.T, dir string) string {
			files := append(append([]file{}, good...), file{"README", []byte("hi")})
			return writeFile(t, filepath.Join(dir, "x.tar"), tarBytes(t, files, false))
		}, "", 1, "README: not at train|test/<class>/<file>"},
		{"oversized image is skipped and reported", func(t *testing.T, dir string) string {
			files := append(append([]file{}, good...), file{"train/cat/huge.png", make([]byte, maxImageBytes+1)})
			return writeFile(t, filepath.Join(dir, "x.tar"), tarBytes(t, files, false))
		}, "", 1, "train/cat/huge.png: 1048577 bytes, too large"},
		{"oversized batch", func(t *testing.T, dir string) string {
			files := append(binaryFiles(t, ""), file{"x/" + TestBatchName, make([]byte, maxBatchBytes+1)})
			return writeFile(t, filepath.Join(dir, "x.tar"), tarBytes(t, files, false))
		}, "the file is corrupt", 0, ""},
		{"no test images", func(t *testing.T, dir string) string {
			return writeFile(t, filepath.Join(dir, "x.tar"), tarBytes(t, imageFiles(t, "", 12, 0), false))
		}, "found 12 training and 0 test images", 0, ""},
		{"image folder without test/", func(t *testing.T, dir string) string {
			writeDir(t, dir, imageFiles(t, "", 12, 0))
			return dir
		}, "has no test/ folder", 0, ""},
		{"missing batch", func(t *testing.T, dir string) string {
			files := binaryFiles(t, "")
			return writeFile(t, filepath.Join(dir, "x.tar"), tarBytes(t, files[1:], false))
		}, "has no data_batch_1.bin", 0, ""},
		{"missing batch file in a directory", func(t *testing.T, dir string) string {
			writeDir(t, dir, binaryFiles(t, ""))
			require.NoError(t, os.Remove(filepath.Join(dir, "data_batch_3.bin")))
			return dir
		}, "data_batch_3.bin", 0, ""},
		{"short binary record", func(t *testing.T, dir string) string {
			writeDir(t, dir, binaryFiles(t, ""))
			p := filepath.Join(dir, TestBatchName)
			require.NoError(t, os.Truncate(p, recordBytes+10))
			return dir
		}, "record 1 has 10 bytes, want 3073", 0, ""},
		{"both forms", func(t *testing.T, dir string) string {
			files := append(binaryFiles(t, ""), good...)
			return writeFile(t, filepath.Join(dir, "x.tar"), tarBytes(t, files, false))
		}, "both binary batches and image folders", 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Load(tc.path(t, t.TempDir()), LoadOptions{Workers: 2})
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantSkipped, d.Skipped.Count)
			require.Contains(t, d.Skipped.String(), tc.wantReason)
			require.Equal(t, 12, d.Train.Len()+d.Test.Len()-5)
		})
	}
}

func TestExampleNormalises(t *testing.T) {
	pix := testPixels(4, 2)
	for _, augment := range []bool{false, true} {
		s := NewSet(Images{Pixels: [][]byte{pix}, Labels: []uint8{4}}, augment)
		require.Equal(t, []int{3, 32, 32}, s.Shape())
		require.Len(t, s.Classes(), NumClasses)
		dst := make([]float32, ImageBytes)
		// A nil rng never augments.
		require.Equal(t, 4, s.Example(0, dst, nil))
		mean, std := Mean(), Std()
		for i, v := range pix {
			c := i / (Height * Width)
			want := (float64(v)/255 - float64(mean[c])) / float64(std[c])
			require.InDelta(t, want, float64(dst[i]), 1e-5)
		}
	}
	// A non-augmenting set ignores the rng.
	s := NewSet(Images{Pixels: [][]byte{pix}, Labels: []uint8{4}}, false)
	plain, withRNG := make([]float32, ImageBytes), make([]float32, ImageBytes)
	s.Example(0, plain, nil)
	s.Example(0, withRNG, rand.New(rand.NewPCG(1, 2)))
	require.Equal(t, plain, withRNG)
}

// reference computes the augmented image for a shift and flip the slow way:
// pad the byte image with zeros, crop, flip, normalise.
func reference(s *Set, pix []byte, dy, dx int, flip bool) []float32 {
	const padded = Width + 2*cropPadding
	out := make([]float32, ImageBytes)
	for c := range Channels {
		var pad [padded][padded]byte
		for y := range Height {
			for x := range Width {
				pad[y+cropPadding][x+cropPadding] = pix[c*Height*Width+y*Width+x]
			}
		}
		for y := range Height {
			for x := range Width {
				cx := x
				if flip {
					cx = Width - 1 - x
				}
				v := pad[y+dy+cropPadding][cx+dx+cropPadding]
				out[c*Height*Width+y*Width+x] = float32(v)*s.scale[c] + s.shift[c]
			}
		}
	}
	return out
}

func TestExampleAugments(t *testing.T) {
	pix := testPixels(7, 3)
	s := NewSet(Images{Pixels: [][]byte{pix}, Labels: []uint8{7}}, true)
	rng := rand.New(rand.NewPCG(3, 4))
	seenDX, seenDY := map[int]bool{}, map[int]bool{}
	flips := 0
	const draws = 2000
	// Every (dy, dx, flip) gives a different output: the test image has no
	// symmetry that would make two of them coincide.
	type transform struct {
		dy, dx int
		flip   bool
	}
	outputs := map[string]transform{}
	for dy := -cropPadding; dy <= cropPadding; dy++ {
		for dx := -cropPadding; dx <= cropPadding; dx++ {
			for _, flip := range []bool{false, true} {
				outputs[string(f32bytes(reference(s, pix, dy, dx, flip)))] = transform{dy, dx, flip}
			}
		}
	}
	require.Len(t, outputs, (2*cropPadding+1)*(2*cropPadding+1)*2)
	dst := make([]float32, ImageBytes)
	for range draws {
		require.Equal(t, 7, s.Example(0, dst, rng))
		tr, ok := outputs[string(f32bytes(dst))]
		require.True(t, ok, "the augmented image is no padded crop or flip of the original")
		seenDX[tr.dx], seenDY[tr.dy] = true, true
		if tr.flip {
			flips++
		}
	}
	// Every shift shows up, and flips happen about half the time: with 2000
	// draws a missing shift has probability < 9·(8/9)^2000, and the flip
	// count lies within ±5 standard deviations (±112) of 1000.
	require.Len(t, seenDX, 2*cropPadding+1)
	require.Len(t, seenDY, 2*cropPadding+1)
	require.InDelta(t, draws/2, flips, 112)
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, f := range v {
		u := int32(f * 1e4) // compare to 1e-4, as the two paths round alike
		b = append(b, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
	}
	return b
}

// findShared looks for shared/data/name in the ancestors of the working
// directory, where the project keeps the data sets it tests with.
func findShared(tb testing.TB, name string) string {
	dir, err := os.Getwd()
	require.NoError(tb, err)
	for {
		p := filepath.Join(dir, "shared", "data", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func TestRealJPEGArchive(t *testing.T) {
	p := findShared(t, JPEGArchiveName)
	if p == "" {
		t.Skip("shared/data/" + JPEGArchiveName + " is not in any parent folder of the working directory " +
			"(CI always has it)")
	}
	d, err := Load(p, LoadOptions{})
	require.NoError(t, err)
	require.Zero(t, d.Skipped.Count, d.Skipped.String())
	require.Equal(t, 50000, d.Train.Len())
	require.Equal(t, 10000, d.Test.Len())
	for _, part := range []struct {
		set  *Set
		want int
	}{{d.Train, 5000}, {d.Test, 1000}} {
		counts := make([]int, NumClasses)
		for _, l := range part.set.Images().Labels {
			counts[l]++
		}
		for c, n := range counts {
			require.Equal(t, part.want, n, "class %s", Classes()[c])
		}
	}
	// The decoded training pixels must reproduce the published channel
	// means; JPEG at quality 75 moves them by far less than the tolerance.
	var sum [Channels]float64
	for _, pix := range d.Train.Images().Pixels {
		for c := range Channels {
			for _, v := range pix[c*Height*Width : (c+1)*Height*Width] {
				sum[c] += float64(v)
			}
		}
	}
	for c := range Channels {
		mean := sum[c] / float64(50000*Height*Width) / 255
		require.InDelta(t, float64(Mean()[c]), mean, 0.005, "channel %d", c)
	}
}

// BenchmarkLoadJPEGArchive measures reading and decoding all 60,000 images
// of the shared archive: go test -run X -bench LoadJPEG -benchtime 3x.
func BenchmarkLoadJPEGArchive(b *testing.B) {
	p := findShared(b, JPEGArchiveName)
	if p == "" {
		b.Skip("shared/data/" + JPEGArchiveName + " not found")
	}
	for b.Loop() {
		if _, err := Load(p, LoadOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLoadSurvivesCorruption flips random bytes of small archives: Load may
// fail or skip files, but must neither panic nor return inconsistent data.
func TestLoadSurvivesCorruption(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	archives := map[string][]byte{
		"images.tar.gz": tarBytes(t, imageFiles(t, "", 12, 5), true),
		"images.tar":    tarBytes(t, imageFiles(t, "", 12, 5), false),
		"binary.tar":    tarBytes(t, binaryFiles(t, "b"), false),
	}
	dir := t.TempDir()
	for name, data := range archives {
		for i := range 100 {
			bad := append([]byte{}, data...)
			for range 1 + rng.IntN(4) {
				bad[rng.IntN(len(bad))] ^= byte(1 + rng.IntN(255))
			}
			if i%10 == 0 {
				bad = bad[:rng.IntN(len(bad))] // also cut it short
			}
			p := writeFile(t, filepath.Join(dir, name), bad)
			d, err := Load(p, LoadOptions{Workers: 2})
			if err != nil {
				continue
			}
			for _, s := range []*Set{d.Train, d.Test} {
				im := s.Images()
				require.Equal(t, len(im.Labels), len(im.Pixels))
				for k, pix := range im.Pixels {
					require.Len(t, pix, ImageBytes)
					require.Less(t, im.Labels[k], uint8(NumClasses))
				}
			}
		}
	}
}
