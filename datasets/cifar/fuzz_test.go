package cifar

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// The fuzz targets below feed arbitrary bytes to every way CIFAR-10 is
// read: binary batches, single images (the JPEG/PNG path), image folders
// and .tar(.gz) archives. Whatever the input, the readers must return an
// error or a consistent result; they must not panic, hang or allocate
// more than the input justifies.

func FuzzReadBinary(f *testing.F) {
	var buf bytes.Buffer
	require.NoError(f, WriteBinary(&buf, Images{Labels: []uint8{3}, Pixels: [][]byte{make([]byte, ImageBytes)}}))
	f.Add(buf.Bytes())
	f.Add([]byte{10})
	f.Add(buf.Bytes()[:100])
	f.Fuzz(func(t *testing.T, data []byte) {
		var im Images
		if err := ReadBinary(bytes.NewReader(data), "fuzz.bin", &im); err != nil {
			return
		}
		require.Len(t, im.Pixels, len(im.Labels))
		require.Equal(t, len(data), len(im.Labels)*recordBytes)
		for i, l := range im.Labels {
			require.Less(t, l, uint8(NumClasses))
			require.Len(t, im.Pixels[i], ImageBytes)
		}
	})
}

func FuzzDecodeImage(f *testing.F) {
	img := testImage(testPixels(1, 2))
	f.Add("a.png", encodePNG(f, img))
	f.Add("a.jpg", encodeJPEG(f, img))
	f.Add("a.png", []byte("\x89PNG\r\n\x1a\n"))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		pix, err := decodeImage(name, data)
		if err != nil {
			return
		}
		require.Len(t, pix, ImageBytes)
	})
}

func FuzzLoadArchive(f *testing.F) {
	files := append(imageFiles(f, "cifar10", 2, 1), binaryFiles(f, "bin")[:1]...)
	f.Add(tarBytes(f, files, false))
	f.Add(tarBytes(f, files, true))
	f.Add(tarBytes(f, binaryFiles(f, "cifar-10-batches-bin"), true))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "fuzz.tar.gz")
		require.NoError(t, os.WriteFile(p, data, 0o644))
		d, err := Load(p, LoadOptions{Workers: 1})
		if err != nil {
			return
		}
		checkData(t, d)
	})
}

// FuzzLoadImageDir fuzzes the image-folder layout: one training and one
// test image with arbitrary names and contents.
func FuzzLoadImageDir(f *testing.F) {
	png := encodePNG(f, testImage(testPixels(0, 0)))
	f.Add("cat/a.png", png, "dog/b.png", png)
	f.Add("cat/a.jpg", encodeJPEG(f, testImage(testPixels(0, 0))), "nosuchclass/b.png", png)
	f.Fuzz(func(t *testing.T, trainName string, trainData []byte, testName string, testData []byte) {
		dir := t.TempDir()
		for _, fl := range []struct {
			split, name string
			data        []byte
		}{{"train", trainName, trainData}, {"test", testName, testData}} {
			if !filepath.IsLocal(fl.name) {
				return
			}
			p := filepath.Join(dir, fl.split, fl.name)
			if os.MkdirAll(filepath.Dir(p), 0o755) != nil || os.WriteFile(p, fl.data, 0o644) != nil {
				return // a name the file system refuses
			}
		}
		d, err := Load(dir, LoadOptions{Workers: 1})
		if err != nil {
			return
		}
		checkData(t, d)
	})
}

func checkData(t *testing.T, d *Data) {
	for _, s := range []*Set{d.Train, d.Test} {
		im := s.Images()
		require.Len(t, im.Pixels, len(im.Labels))
		for i, l := range im.Labels {
			require.Less(t, l, uint8(NumClasses))
			require.Len(t, im.Pixels[i], ImageBytes)
		}
	}
}

// TestDecodeImageRefusesHugeHeaderCheaply checks that an image whose header
// claims 50000×50000 pixels is refused from its header, without the
// decoder allocating the 7.5 GB such an image would take.
func TestDecodeImageRefusesHugeHeaderCheaply(t *testing.T) {
	data := encodePNG(t, testImage(testPixels(0, 0)))
	// IHDR is the first chunk: 8-byte signature, length, "IHDR", width,
	// height, ...; its CRC covers the type and the 13 data bytes.
	binary.BigEndian.PutUint32(data[16:], 50000)
	binary.BigEndian.PutUint32(data[20:], 50000)
	binary.BigEndian.PutUint32(data[29:], crc32.ChecksumIEEE(data[12:29]))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := decodeImage("big.png", data)
	runtime.ReadMemStats(&after)
	require.ErrorContains(t, err, "image is 50000x50000, want 32x32")
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "bytes allocated to refuse the image")
}
