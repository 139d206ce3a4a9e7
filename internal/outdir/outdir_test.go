package outdir

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLockIsExclusiveAndNamesTheHolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	first, err := Acquire(dir, "mirage sweep")
	require.NoError(t, err)
	// flock locks belong to an open file description, so a second Acquire
	// conflicts even within one process.
	_, err = Acquire(dir, "mirage compare")
	require.EqualError(t, err, dir+" is in use by another process (mirage sweep, pid "+strconv.Itoa(os.Getpid())+"); wait for it to finish or use another --out")
	require.NoError(t, first.Release())
	second, err := Acquire(dir, "mirage compare")
	require.NoError(t, err, "the lock is free again after Release")
	require.NoError(t, second.Release())
	require.NoError(t, second.Release(), "Release twice is harmless")
}

func TestAcquireRefusesAnUnusableDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, err := Acquire(filepath.Join(file, "out"), "mirage sweep")
	require.ErrorContains(t, err, "cannot create output directory")
}

func TestCheckWritable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	require.NoError(t, CheckWritable(dir))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "the probe file is removed")

	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	require.ErrorContains(t, CheckWritable(filepath.Join(file, "out")), "not a directory")

	if os.Geteuid() != 0 { // root writes through permission bits
		ro := t.TempDir()
		require.NoError(t, os.Chmod(ro, 0o555))
		defer os.Chmod(ro, 0o755)
		require.ErrorContains(t, CheckWritable(ro), "is not writable")
	}
}
