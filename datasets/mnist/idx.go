package mnist

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// IDX is the file format of MNIST and its relatives: a 4-byte big-endian
// magic number whose low byte is the number of dimensions and whose third
// byte is the element type (0x08 = unsigned byte), then one 4-byte
// big-endian size per dimension, then the elements in row-major order.
const (
	// ImagesMagic starts an IDX file of unsigned-byte images [N, rows, cols].
	ImagesMagic = 0x00000803
	// LabelsMagic starts an IDX file of unsigned-byte labels [N].
	LabelsMagic = 0x00000801
)

// maxIDXBytes bounds the data a header may announce. The largest file of the
// MNIST family holds 47 MB; a header claiming more than this is corrupt, and
// refusing it avoids allocating memory on the word of a broken file.
const maxIDXBytes = 1 << 30

// Images is the content of an IDX images file.
type Images struct {
	N, Rows, Cols int
	// Pixels holds N images of Rows×Cols bytes each, row-major, as stored:
	// 0 is the background, 255 full ink.
	Pixels []uint8
}

// ReadImagesFile reads an IDX images file, gzip-compressed or raw (gzip is
// recognised by its magic bytes, whatever the file name).
func ReadImagesFile(path string) (*Images, error) {
	dims, data, err := readIDXFile(path, ImagesMagic)
	if err != nil {
		return nil, err
	}
	return &Images{N: dims[0], Rows: dims[1], Cols: dims[2], Pixels: data}, nil
}

// ReadLabelsFile reads an IDX labels file, gzip-compressed or raw.
func ReadLabelsFile(path string) ([]uint8, error) {
	_, data, err := readIDXFile(path, LabelsMagic)
	return data, err
}

// DecodeImages reads IDX images from r, which may be gzip-compressed.
func DecodeImages(r io.Reader) (*Images, error) {
	dims, data, err := decodeIDX(r, ImagesMagic)
	if err != nil {
		return nil, err
	}
	return &Images{N: dims[0], Rows: dims[1], Cols: dims[2], Pixels: data}, nil
}

// DecodeLabels reads IDX labels from r, which may be gzip-compressed.
func DecodeLabels(r io.Reader) ([]uint8, error) {
	_, data, err := decodeIDX(r, LabelsMagic)
	return data, err
}

func readIDXFile(path string, magic uint32) ([]int, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	dims, data, err := decodeIDX(f, magic)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return dims, data, nil
}

// decodeIDX reads one IDX file with the given magic number from r, after
// undoing gzip compression if r starts with the gzip magic bytes.
func decodeIDX(r io.Reader, magic uint32) ([]int, []byte, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	src := io.Reader(br)
	compressed := false
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("corrupt gzip header: %w", err)
		}
		defer zr.Close()
		src, compressed = zr, true
	}
	wrap := func(err error) error {
		if compressed && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return fmt.Errorf("corrupt gzip data: %w", err)
		}
		return err
	}

	var head [4]byte
	if n, err := io.ReadFull(src, head[:]); err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return nil, nil, errors.New("file is empty, expected an IDX file")
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, nil, fmt.Errorf("truncated: expected a 4-byte magic number, got %d bytes", n)
		}
		return nil, nil, wrap(err)
	}
	got := binary.BigEndian.Uint32(head[:])
	if got != magic {
		return nil, nil, fmt.Errorf("wrong magic number 0x%08x: expected 0x%08x (%s)%s",
			got, magic, describeMagic(magic), hintMagic(got))
	}

	nd := int(magic & 0xff)
	sizes := make([]byte, 4*nd)
	if n, err := io.ReadFull(src, sizes); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("truncated header: expected %d bytes of dimensions, got %d", len(sizes), n)
		}
		return nil, nil, wrap(err)
	}
	dims := make([]int, nd)
	total := int64(1)
	for i := range dims {
		d := binary.BigEndian.Uint32(sizes[4*i:])
		dims[i] = int(d)
		total *= int64(d)
		if total > maxIDXBytes {
			return nil, nil, fmt.Errorf("header announces dimensions %v…, more than %d bytes of data: the file is corrupt",
				dims[:i+1], maxIDXBytes)
		}
	}

	data, err := readExactly(src, int(total))
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("truncated: header says %s = %d bytes of data, the file holds %d",
				formatDims(dims), total, len(data))
		}
		return nil, nil, wrap(err)
	}
	// One more read must hit the end: trailing bytes mean the header does
	// not describe the file, and for gzip this read checks the CRC.
	var extra [1]byte
	if n, err := io.ReadFull(src, extra[:]); n > 0 {
		return nil, nil, fmt.Errorf("the file continues after the %d bytes of data its header %s announces: corrupt or not an IDX file",
			total, formatDims(dims))
	} else if !errors.Is(err, io.EOF) {
		return nil, nil, wrap(err)
	}
	return dims, data, nil
}

// readExactly reads n bytes, growing the buffer as data arrives rather than
// trusting n up front, so a corrupt header cannot make a tiny file allocate
// a gigabyte. On a short read it returns what it got and the read error.
func readExactly(r io.Reader, n int) ([]byte, error) {
	const chunk = 64 << 10
	buf := make([]byte, 0, min(n, chunk))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, 2*cap(buf)))
			copy(grown, buf)
			buf = grown
		}
		m, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return buf, err
		}
	}
	return buf, nil
}

func describeMagic(m uint32) string {
	switch m {
	case ImagesMagic:
		return "IDX images, 3 dimensions of unsigned bytes"
	case LabelsMagic:
		return "IDX labels, 1 dimension of unsigned bytes"
	}
	return "IDX"
}

func hintMagic(got uint32) string {
	switch got {
	case ImagesMagic:
		return "; this is an images file, were the images and labels files swapped?"
	case LabelsMagic:
		return "; this is a labels file, were the images and labels files swapped?"
	}
	return "; not an IDX file of the MNIST family"
}

func formatDims(dims []int) string {
	s := ""
	for i, d := range dims {
		if i > 0 {
			s += "×"
		}
		s += fmt.Sprint(d)
	}
	return s
}
