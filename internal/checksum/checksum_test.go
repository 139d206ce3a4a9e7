package checksum

import (
	"crypto/md5"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "abc")
	require.NoError(t, os.WriteFile(path, []byte("abc"), 0o644))
	// The digests of "abc" published in RFC 1321 and FIPS 180-2.
	sums, err := File(path, md5.New(), sha256.New())
	require.NoError(t, err)
	require.Equal(t, []string{
		"900150983cd24fb0d6963f7d28e17f72",
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	}, sums)

	sums, err = File(path, sha256.New())
	require.NoError(t, err)
	require.Equal(t, []string{"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}, sums)

	_, err = File(filepath.Join(t.TempDir(), "missing"), md5.New())
	require.ErrorIs(t, err, os.ErrNotExist)
}
