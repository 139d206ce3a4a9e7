// Package checksum hashes files, for the data-set loaders' integrity
// checks: one function reads a file once through any number of hashes
// (MD5 and SHA-256 are what the data sets publish).
package checksum

import (
	"encoding/hex"
	"hash"
	"io"
	"os"
)

// File reads the file at path once through every hash and returns their
// digests as lower-case hex, in the order of hashes.
func File(path string, hashes ...hash.Hash) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	writers := make([]io.Writer, len(hashes))
	for i, h := range hashes {
		writers[i] = h
	}
	if _, err := io.Copy(io.MultiWriter(writers...), f); err != nil {
		return nil, err
	}
	sums := make([]string, len(hashes))
	for i, h := range hashes {
		sums[i] = hex.EncodeToString(h.Sum(nil))
	}
	return sums, nil
}
