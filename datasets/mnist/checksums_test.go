package mnist

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDataDirChecksums checks the real MNIST files from a data directory
// as .gz (published MD5s) and raw (recorded content SHA-256s), refuses
// them as Fashion-MNIST, and warns about a raw file with one byte flipped
// while still loading it.
func TestDataDirChecksums(t *testing.T) {
	real := realMNISTDir(t)
	gzDir, rawDir := t.TempDir(), t.TempDir()
	for _, f := range mnistVariant().files() {
		data, err := os.ReadFile(filepath.Join(real, f.base+".gz"))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(gzDir, f.base+".gz"), data, 0o644))
		zr, err := gzip.NewReader(strings.NewReader(string(data)))
		require.NoError(t, err)
		raw, err := io.ReadAll(zr)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(rawDir, f.base), raw, 0o644))
	}
	for _, dir := range []string{gzDir, rawDir} {
		checks, err := VerifyDir("mnist", dir)
		require.NoError(t, err)
		require.Len(t, checks, 4)
		for _, c := range checks {
			require.True(t, c.OK, "%s: %s", c.Path, c.Detail)
		}
		_, err = VerifyDir("fashion-mnist", dir)
		require.ErrorContains(t, err, "is the MNIST file, not Fashion-MNIST's")
		_, _, err = Open("fashion-mnist", dir, Options{})
		require.ErrorContains(t, err, "use --dataset mnist")
	}

	// Flip one pixel byte of the raw training images in place.
	p := filepath.Join(rawDir, "train-images-idx3-ubyte")
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte{0x07}, 5000)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	checks, err := VerifyDir("mnist", rawDir)
	require.NoError(t, err)
	require.False(t, checks[0].OK)
	require.Contains(t, checks[0].Detail, "does not match the published checksum")
	split, _, err := Open("mnist", rawDir, Options{})
	require.NoError(t, err, "a damaged file is used, with a warning")
	require.Len(t, split.Warnings, 1)
	require.Contains(t, split.Warnings[0], "WARNING: "+p+" does not match the published checksum")
}

// Files of neither data set (the tests' small sets) load with a warning
// per file that cannot be verified.
func TestDataDirUnknownFilesWarn(t *testing.T) {
	dir := t.TempDir()
	writeSmallSet(t, dir)
	split, _, err := Open("fashion-mnist", dir, Options{})
	require.NoError(t, err)
	require.Len(t, split.Warnings, 4)
	require.Contains(t, split.Warnings[0], "cannot be verified")
	split, _, err = Open("mnist", dir, Options{})
	require.NoError(t, err)
	require.Len(t, split.Warnings, 4)
	require.Contains(t, split.Warnings[0], "does not match the published checksum")
}
