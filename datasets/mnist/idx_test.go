package mnist

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// idxFile builds an IDX file: magic, big-endian dimensions, data.
func idxFile(magic uint32, dims []uint32, data []byte) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.BigEndian, magic)
	for _, d := range dims {
		_ = binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(data)
	return b.Bytes()
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	_, _ = w.Write(b)
	_ = w.Close()
	return out.Bytes()
}

// smallImages is a valid IDX images file: 3 images of 2×2.
func smallImages() []byte {
	return idxFile(ImagesMagic, []uint32{3, 2, 2}, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255})
}

func smallLabels() []byte { return idxFile(LabelsMagic, []uint32{3}, []byte{7, 0, 9}) }

func TestDecodeValid(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{{"raw", smallImages()}, {"gzip", gz(smallImages())}} {
		t.Run(tc.name, func(t *testing.T) {
			im, err := DecodeImages(bytes.NewReader(tc.data))
			require.NoError(t, err)
			require.Equal(t, &Images{N: 3, Rows: 2, Cols: 2, Pixels: []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255}}, im)
		})
	}
	labels, err := DecodeLabels(bytes.NewReader(gz(smallLabels())))
	require.NoError(t, err)
	require.Equal(t, []uint8{7, 0, 9}, labels)
}

func TestDecodeErrors(t *testing.T) {
	valid := smallImages()
	corruptGzip := gz(smallImages())
	corruptGzip[len(corruptGzip)-6] ^= 0xff // inside the CRC-32 trailer
	for _, tc := range []struct {
		name string
		data []byte
		msg  string
	}{
		{"empty", nil, "file is empty"},
		{"short magic", valid[:3], "expected a 4-byte magic number, got 3 bytes"},
		{"labels given as images", smallLabels(), "were the images and labels files swapped"},
		{"not IDX", []byte("hello world, not an idx file"), "wrong magic number 0x68656c6c: expected 0x00000803"},
		{"truncated header", valid[:9], "truncated header: expected 12 bytes of dimensions, got 5"},
		{"truncated data", valid[:len(valid)-5], "truncated: header says 3×2×2 = 12 bytes of data, the file holds 7"},
		{"truncated gzip", gz(valid)[:25], ""},
		{"trailing bytes", append(append([]byte(nil), valid...), 1, 2), "continues after the 12 bytes"},
		{"huge header", idxFile(ImagesMagic, []uint32{1 << 20, 1 << 10, 1 << 10}, nil), "the file is corrupt"},
		{"gzip checksum", corruptGzip, "corrupt gzip data"},
		{"gzip header", []byte{0x1f, 0x8b, 0, 0}, "corrupt gzip header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeImages(bytes.NewReader(tc.data))
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.msg)
		})
	}
}

// TestDecodeEveryTruncation cuts a valid file (raw and gzip) at every length:
// only the full file may decode, every prefix must give an error, and none
// may panic.
func TestDecodeEveryTruncation(t *testing.T) {
	for _, full := range [][]byte{smallImages(), gz(smallImages())} {
		for n := range len(full) {
			_, err := DecodeImages(bytes.NewReader(full[:n]))
			require.Error(t, err, "prefix of %d of %d bytes", n, len(full))
		}
		_, err := DecodeImages(bytes.NewReader(full))
		require.NoError(t, err)
	}
}

// TestDecodeRandomCorruption flips random bytes of valid files; decoding
// must either fail or return self-consistent data, never panic.
func TestDecodeRandomCorruption(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, full := range [][]byte{smallImages(), gz(smallImages()), smallLabels(), gz(smallLabels())} {
		for range 2000 {
			b := append([]byte(nil), full...)
			for range 1 + rng.IntN(3) {
				b[rng.IntN(len(b))] = byte(rng.Uint32())
			}
			checkDecode(t, b)
		}
	}
}

func checkDecode(t *testing.T, b []byte) {
	if im, err := DecodeImages(bytes.NewReader(b)); err == nil {
		require.Len(t, im.Pixels, im.N*im.Rows*im.Cols)
	}
	if labels, err := DecodeLabels(bytes.NewReader(b)); err == nil {
		require.NotNil(t, labels)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(smallImages())
	f.Add(gz(smallImages()))
	f.Add(smallLabels())
	f.Add(gz(smallLabels()))
	f.Fuzz(func(t *testing.T, b []byte) { checkDecode(t, b) })
}
