package cifar

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// Names of the official binary files: five training batches and one test
// batch of 10,000 records each.
const (
	TestBatchName = "test_batch.bin"
	numTrainBatch = 5
	batchRecords  = 10000
)

// TrainBatchNames returns data_batch_1.bin … data_batch_5.bin.
func TrainBatchNames() []string {
	names := make([]string, numTrainBatch)
	for i := range names {
		names[i] = fmt.Sprintf("data_batch_%d.bin", i+1)
	}
	return names
}

// ReadBinary reads records of the official binary form from r until EOF and
// appends them to im. name is used in error messages. A record cut short
// (a truncated file) or a label above 9 is an error: the file cannot be
// trusted, and skipping would shift every later record.
func ReadBinary(r io.Reader, name string, im *Images) error {
	br := bufio.NewReaderSize(r, 1<<16)
	for n := 0; ; n++ {
		// One allocation per record keeps each image independent of the
		// others, so a Set can be built from any subset.
		rec := make([]byte, recordBytes)
		got, err := io.ReadFull(br, rec)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%s: record %d has %d bytes, want %d (1 label + 3072 pixels): the file is truncated; "+
				"download it again", name, n, got, recordBytes)
		}
		if err != nil {
			return fmt.Errorf("%s: reading record %d: %w", name, n, err)
		}
		if rec[0] >= NumClasses {
			return fmt.Errorf("%s: record %d has label %d, want 0-%d: this is not a CIFAR-10 binary batch "+
				"(CIFAR-100 files have two label bytes)", name, n, rec[0], NumClasses-1)
		}
		im.Labels = append(im.Labels, rec[0])
		im.Pixels = append(im.Pixels, rec[1:])
	}
}

// WriteBinary writes im in the official binary form (label byte, then the
// R, G and B planes) to w.
func WriteBinary(w io.Writer, im Images) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	for i, pix := range im.Pixels {
		if len(pix) != ImageBytes {
			return fmt.Errorf("cifar: image %d has %d bytes, want %d", i, len(pix), ImageBytes)
		}
		if err := bw.WriteByte(im.Labels[i]); err != nil {
			return err
		}
		if _, err := bw.Write(pix); err != nil {
			return err
		}
	}
	return bw.Flush()
}
