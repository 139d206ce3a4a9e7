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
// atomic; a file that already has one line per row is left untouched.
func compactResults(path string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var lines [][]byte
	var ids []string
	last := map[string]int{} // row ID → index of its last line
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 1<<16), 1<<26)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var r struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(line, &r); err != nil {
			return nil // loadResults has reported bad lines; leave the file as it is
		}
		last[r.ID] = len(lines)
		lines = append(lines, append([]byte(nil), line...))
		ids = append(ids, r.ID)
	}
	if err := sc.Err(); err != nil || len(last) == len(lines) {
		return err
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		for i, line := range lines {
			if last[ids[i]] != i {
				continue
			}
			if _, err := w.Write(append(line, '\n')); err != nil {
				return err
			}
		}
		return nil
	})
}
