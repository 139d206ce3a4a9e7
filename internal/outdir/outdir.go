// Package outdir guards an output directory: [Lock] makes one process its
// only writer, and [CheckWritable] finds out before any work is done that
// results could not be saved there.
//
// The lock is an advisory flock(2) on a file named .mirage.lock in the
// directory. The kernel drops it when the process exits, however it exits
// (kill -9 included), so a crashed run never leaves a stale lock behind;
// the file itself stays and records the pid of the last holder, which is
// what a refused second writer is told.
package outdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// LockFile is the name of the lock file inside a locked directory.
const LockFile = ".mirage.lock"

// Lock is an exclusive lock on a directory, held until Release.
type Lock struct {
	f *os.File
	// made lists what Acquire created, the lock file last, for Discard.
	made []string
}

// Acquire creates dir if needed and locks it. If another process holds
// the lock, the error names it by pid and says what to do; it does not
// wait. what names the command for the message ("mirage sweep").
func Acquire(dir, what string) (*Lock, error) {
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("--out %s is a file, not a directory; choose another --out", dir)
	}
	made, err := mkdirAll(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot create output directory: %w", err)
	}
	path := filepath.Join(dir, LockFile)
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		made = append(made, path)
	}
	// A lock file removed by Discard between our open and our flock would
	// leave us holding a lock nobody else can see: lock, then check that
	// the name still leads to the file locked, and start again if not.
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("output directory %s is not writable (%v); choose another --out or fix its permissions", dir, unwrapPath(err))
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			holder := readPID(f)
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, fmt.Errorf("%s is in use by another process (%s); wait for it to finish or use another --out", dir, holder)
			}
			return nil, fmt.Errorf("cannot lock %s: %w", path, err)
		}
		locked, err1 := f.Stat()
		named, err2 := os.Stat(path)
		if err1 != nil || err2 != nil || !os.SameFile(locked, named) {
			f.Close()
			continue
		}
		// Record who holds the lock, for the message of a refused writer.
		if err := f.Truncate(0); err == nil {
			_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+" "+what+"\n"), 0)
		}
		return &Lock{f: f, made: made}, nil
	}
}

// mkdirAll is os.MkdirAll that returns the directories it created,
// parents first.
func mkdirAll(dir string) ([]string, error) {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	slices.Reverse(missing)
	return missing, nil
}

func readPID(f *os.File) string {
	buf := make([]byte, 128)
	n, _ := f.ReadAt(buf, 0)
	pid, what, _ := strings.Cut(strings.TrimSpace(string(buf[:n])), " ")
	if _, err := strconv.Atoi(pid); err != nil {
		return "pid unknown"
	}
	if what == "" {
		return "pid " + pid
	}
	return what + ", pid " + pid
}

// Release unlocks the directory. The lock file stays: the directory was
// written to, and the file tells a refused writer who wrote last.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor drops the flock
	l.f = nil
	return err
}

// Discard is Release for a command that failed before writing anything:
// it also removes what Acquire created — the lock file, and the
// directories it made if they are still empty — so that a refused command
// leaves the file system as it found it. A process that opened the lock
// file meanwhile notices its removal (see Acquire) and locks afresh.
func (l *Lock) Discard() error {
	if l == nil || l.f == nil {
		return nil
	}
	for i := len(l.made) - 1; i >= 0; i-- {
		if err := os.Remove(l.made[i]); err != nil {
			break // not empty: something was written after all
		}
	}
	return l.Release()
}

// CheckWritable reports whether files can be created in dir, creating dir
// if it does not exist. It writes and removes a small probe file, which
// catches read-only mounts and permissions alike (also for root, which
// permission bits do not stop).
func CheckWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create output directory %s: %v; choose another --out", dir, unwrapPath(err))
	}
	f, err := os.CreateTemp(dir, ".mirage-write-check-*")
	if err != nil {
		return fmt.Errorf("output directory %s is not writable (%v); choose another --out or fix its permissions", dir, unwrapPath(err))
	}
	name := f.Name()
	_, werr := f.Write([]byte("ok\n"))
	cerr := f.Close()
	os.Remove(name)
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("output directory %s is not writable (%v); choose another --out", dir, unwrapPath(err))
	}
	return nil
}

// unwrapPath drops the path from a *PathError, which the message already
// names.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
