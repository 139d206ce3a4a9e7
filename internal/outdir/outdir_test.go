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
	_, err = Acquire(file, "mirage train")
	require.EqualError(t, err, "--out "+file+" is a file, not a directory; choose another --out")
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

// Discard leaves the file system as Acquire found it: a new directory
// (and its new parents) go, an existing one keeps its files and loses only
// a lock file Acquire created; a lock file that was there stays.
func TestDiscardRemovesOnlyWhatAcquireMade(t *testing.T) {
	root := t.TempDir()
	fresh := filepath.Join(root, "a", "b")
	l, err := Acquire(fresh, "mirage train")
	require.NoError(t, err)
	require.NoError(t, l.Discard())
	_, err = os.Stat(filepath.Join(root, "a"))
	require.True(t, os.IsNotExist(err), "the directories Acquire made are gone")

	existing := filepath.Join(root, "run")
	require.NoError(t, os.MkdirAll(existing, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(existing, "summary.json"), []byte("{}"), 0o644))
	l, err = Acquire(existing, "mirage train")
	require.NoError(t, err)
	require.NoError(t, l.Discard())
	entries, err := os.ReadDir(existing)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, "summary.json", entries[0].Name())

	// A directory written to after Acquire stays, with its files.
	l, err = Acquire(fresh, "mirage train")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(fresh, "metrics.jsonl"), nil, 0o644))
	require.NoError(t, l.Discard())
	_, err = os.Stat(filepath.Join(fresh, "metrics.jsonl"))
	require.NoError(t, err)

	// A lock file from an earlier run is not Acquire's to remove.
	l, err = Acquire(existing, "mirage train")
	require.NoError(t, err)
	require.NoError(t, l.Release())
	l, err = Acquire(existing, "mirage train")
	require.NoError(t, err)
	require.NoError(t, l.Discard())
	_, err = os.Stat(filepath.Join(existing, LockFile))
	require.NoError(t, err)

	// After a Discard, the lock works as before.
	l, err = Acquire(existing, "mirage train")
	require.NoError(t, err)
	_, err = Acquire(existing, "mirage sweep")
	require.ErrorContains(t, err, "in use by another process (mirage train")
	require.NoError(t, l.Release())
}
