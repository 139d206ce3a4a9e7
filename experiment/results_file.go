package experiment

// results.jsonl is read a line at a time, never whole: a sweep of 100,000
// rows has a results file of a hundred megabytes, and resuming it needs
// only each row's status.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// maxResultLine is the longest line of results.jsonl read; a row's line
// is a few kilobytes.
const maxResultLine = 1 << 26

// scanResultRows calls fn with each result row of r, a results.jsonl
// (named name in errors), in file order. A line that is no result row is
// an error naming it.
func scanResultRows(r io.Reader, name string, fn func(*ResultRow)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<16), maxResultLine)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var row ResultRow
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return fmt.Errorf("%s line %d is not a result row (%v); fix or delete that line", name, line, err)
		}
		if row.ID == "" {
			return fmt.Errorf("%s line %d has no id; fix or delete that line", name, line)
		}
		fn(&row)
	}
	return sc.Err()
}

// scanResultsFile is scanResultRows over the file at path; a missing file
// has no rows.
func scanResultsFile(path string, fn func(*ResultRow)) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return scanResultRows(f, path, fn)
}

// completeLines returns the length of the file at path up to and including
// its last newline: what is left when a partial last line (the process
// died while appending) is cut off. It reads the file from its end.
func completeLines(path string) (keep, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	size = fi.Size()
	buf := make([]byte, 4096)
	for end := size; end > 0; {
		start := max(0, end-int64(len(buf)))
		chunk := buf[:end-start]
		if _, err := f.ReadAt(chunk, start); err != nil {
			return 0, 0, err
		}
		for i := len(chunk) - 1; i >= 0; i-- {
			if chunk[i] == '\n' {
				return start + int64(i) + 1, size, nil
			}
		}
		end = start
	}
	return 0, size, nil
}

// cutPartialLine removes a partial last line from results.jsonl, saying
// so on log.
func cutPartialLine(path string, log io.Writer) error {
	keep, size, err := completeLines(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil || keep == size {
		return err
	}
	fmt.Fprintf(log, "experiment: %s ends in a partial line (an interrupted write); removing it\n", path)
	return os.Truncate(path, keep)
}

// loadResults reads results.jsonl, the last line per row ID winning. A
// partial last line (the process died while appending) is cut off; any
// other bad line is an error that names it.
func loadResults(path string, log io.Writer) (map[string]*ResultRow, error) {
	if err := cutPartialLine(path, log); err != nil {
		return nil, err
	}
	out := map[string]*ResultRow{}
	if err := scanResultsFile(path, func(r *ResultRow) { out[r.ID] = r }); err != nil {
		return nil, err
	}
	return out, nil
}

// rowStatus is what is known of a row from its result without holding
// the result: whether it failed and when it finished.
type rowStatus struct {
	Status   Status
	Finished string
}

// statusOf returns r's rowStatus.
func statusOf(r *ResultRow) rowStatus { return rowStatus{r.Status, r.Finished} }

// replacedBy reports whether the result f (a Slurm task's row file)
// replaces s, the row's result so far: f finished later, or it succeeded
// where s failed.
func (s rowStatus) replacedBy(f rowStatus) bool {
	return s.Finished < f.Finished || s.Status == Failed && f.Status != Failed
}

// loadStatuses is loadResults keeping only each row's status: what a
// resumed sweep needs to know which rows to skip.
func loadStatuses(path string, log io.Writer) (map[string]rowStatus, error) {
	if err := cutPartialLine(path, log); err != nil {
		return nil, err
	}
	out := map[string]rowStatus{}
	if err := scanResultsFile(path, func(r *ResultRow) { out[r.ID] = statusOf(r) }); err != nil {
		return nil, err
	}
	return out, nil
}

// parseResultRows parses the lines of a results.jsonl held in memory
// (named name in errors), the last line of a row winning.
func parseResultRows(data []byte, name string) (map[string]*ResultRow, error) {
	out := map[string]*ResultRow{}
	if err := scanResultRows(bytes.NewReader(data), name, func(r *ResultRow) { out[r.ID] = r }); err != nil {
		return nil, err
	}
	return out, nil
}
