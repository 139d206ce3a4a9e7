package experiment

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"

	"github.com/mirage-go/mirage/internal/atomicfile"
)

// compactResults rewrites results.jsonl with one line per row, the last
// one written (which is what loadResults reads), so that a row that failed
// and later succeeded no longer shows a stale "failed" line. The rewrite is
// atomic; a file that already has one line per row is left untouched. The
// file is streamed twice (find each row's last line, then copy those), so
// memory holds each row's ID, not the file.
func compactResults(path string) error {
	last := map[string]int{} // row ID → number of its last line
	lines := 0
	clean, err := eachResultLine(path, func(n int, id string, _ []byte) error {
		last[id] = n
		lines++
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) || !clean || err == nil && len(last) == lines {
		return nil // a bad line is loadResults' to report; leave the file as it is
	}
	if err != nil {
		return err
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := eachResultLine(path, func(n int, id string, line []byte) error {
			if last[id] != n {
				return nil
			}
			_, err := w.Write(append(line, '\n'))
			return err
		})
		return err
	})
}

// eachResultLine calls fn with each non-empty line of results.jsonl (its
// number among those lines, its row ID, the line without its newline). It
// reports false, and stops, at a line that has no row ID.
func eachResultLine(path string, fn func(n int, id string, line []byte) error) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<16), maxResultLine)
	for n := 0; sc.Scan(); {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var r struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(line, &r); err != nil || r.ID == "" {
			return false, nil
		}
		if err := fn(n, r.ID, line); err != nil {
			return true, err
		}
		n++
	}
	return true, sc.Err()
}
