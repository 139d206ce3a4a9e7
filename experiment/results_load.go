package experiment

// This file is the first of the results document's three steps: load. It
// reads the typed outputs of finished experiments — a comparison's
// report.json, a sweep's plan.json and results.jsonl — and checks them,
// before anything is analysed (results_analyse.go) or written
// (results.go). Every problem is an error naming the directory, what is
// missing, and the command that makes it.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

type compareInput struct {
	dir string
	cmp *Comparison
}

type sweepInput struct {
	dir  string
	spec *Spec
	res  *SweepResult
	// stale counts results of rows that plan.json no longer has (the spec
	// changed); partial reports an unfinished last line of results.jsonl.
	stale   int
	partial bool
}

// checkDir returns an error unless dir is an existing directory.
func checkDir(dir, makeIt string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: no such directory; %s", dir, makeIt)
	case err != nil:
		return fmt.Errorf("%s: %v", dir, err)
	case !fi.IsDir():
		return fmt.Errorf("%s is a file, not an experiment output directory", dir)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func loadCompareDir(dir string) (*Comparison, error) {
	makeIt := fmt.Sprintf("run mirage compare --out %s first", dir)
	if err := checkDir(dir, makeIt); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if errors.Is(err, fs.ErrNotExist) {
		if exists(filepath.Join(dir, "plan.json")) {
			return nil, fmt.Errorf("%s: no report.json; it holds a sweep (plan.json): pass it with --sweep, not --compare", dir)
		}
		return nil, fmt.Errorf("%s: no report.json; %s (an interrupted compare writes its report only at the end: run the same command again)", dir, makeIt)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read report.json: %v", dir, err)
	}
	var c Comparison
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: report.json is not a comparison report (%v); run mirage compare again to rewrite it", dir, err)
	}
	if len(c.Arms) == 0 {
		return nil, fmt.Errorf("%s: report.json lists no arms; run mirage compare again to rewrite it", dir)
	}
	return &c, nil
}

func loadSweepDir(dir string) (*sweepInput, error) {
	makeIt := fmt.Sprintf("run mirage sweep --spec FILE --out %s first", dir)
	if err := checkDir(dir, makeIt); err != nil {
		return nil, err
	}
	spec, rows, err := readPlan(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if exists(filepath.Join(dir, "report.json")) {
			return nil, fmt.Errorf("%s: no plan.json; it holds a comparison (report.json): pass it with --compare, not --sweep", dir)
		}
		return nil, fmt.Errorf("%s: no plan.json; %s", dir, makeIt)
	}
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return nil, fmt.Errorf("%s: cannot read plan.json: %v", dir, pathErr.Err)
	}
	if err != nil {
		return nil, err
	}
	in := &sweepInput{dir: dir, spec: spec, res: &SweepResult{Rows: rows, Results: map[string]*ResultRow{}}}
	results, partial, err := readResults(filepath.Join(dir, "results.jsonl"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no results.jsonl: none of the sweep's %d runs has finished; run mirage sweep --spec FILE --out %s (again) to run them", dir, rows.Len(), dir)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %v", dir, err)
	}
	in.partial = partial
	for r := range All(rows) {
		if got := results[r.ID]; got != nil {
			in.res.Results[r.ID] = got
		}
	}
	in.stale = len(results) - len(in.res.Results)
	if len(in.res.Results) == 0 {
		return nil, fmt.Errorf("%s: results.jsonl holds no result of the %d runs in plan.json; run mirage sweep --spec FILE --out %s (again) to run them", dir, rows.Len(), dir)
	}
	return in, nil
}

// readResults reads results.jsonl like loadResults, the last line per row
// winning, but never changes the file: a partial last line (a sweep
// interrupted while appending) is ignored and reported, not cut off.
func readResults(path string) (map[string]*ResultRow, bool, error) {
	out := map[string]*ResultRow{}
	partial, err := scanWholeResults(path, func(r *ResultRow) { out[r.ID] = r })
	if err != nil {
		return nil, false, err
	}
	return out, partial, nil
}

// scanWholeResults calls fn with each result row of results.jsonl in file
// order, leaving the file as it is: a partial last line is skipped, and
// reported as partial.
func scanWholeResults(path string, fn func(*ResultRow)) (partial bool, err error) {
	keep, size, err := completeLines(path)
	if err != nil {
		return false, err
	}
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if keep < size {
		// A last line without its newline may still be whole.
		last := make([]byte, size-keep)
		if _, err := f.ReadAt(last, keep); err != nil {
			return false, err
		}
		var r ResultRow
		if json.Unmarshal(last, &r) != nil || r.ID == "" {
			size, partial = keep, true
		}
	}
	return partial, scanResultRows(io.LimitReader(f, size), "results.jsonl", fn)
}
