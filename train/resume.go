package train

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mirage-go/mirage"
)

// InterruptedError is returned by RunContext when its context was
// cancelled (SIGINT, SIGTERM): the step in progress was finished and the
// state saved, so that the run continues from there.
type InterruptedError struct {
	Dir string
	// Epoch and Step are where the run will continue: Step steps of epoch
	// Epoch's Steps are done.
	Epoch, Step, Steps int
}

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("interrupted at epoch %d step %d of %d; state saved in %s", e.Epoch, e.Step, e.Steps, filepath.Join(e.Dir, StateFile))
}

// FinishedError is returned by Run for an output directory that holds a
// finished run (a summary.json) when Config.Overwrite is not set.
type FinishedError struct {
	Dir     string
	Summary Summary
}

func (e *FinishedError) Error() string {
	return fmt.Sprintf("%s holds a finished run (%s on %s, %s backend, final test accuracy %.2f%%); pass --overwrite to train it again from scratch, or choose another --out",
		e.Dir, e.Summary.Model, e.Summary.Dataset, e.Summary.Backend, 100*e.Summary.FinalTestAcc)
}

// prepareOutDir decides what a run does with its output directory: start
// afresh (nil) or resume from the state returned.
func prepareOutDir(cfg Config, reg mirage.Registries) (*savedState, error) {
	dir := cfg.OutDir
	if info, err := os.Stat(dir); err == nil && !info.IsDir() {
		return nil, fmt.Errorf("--out %s is a file, not a directory", dir)
	}
	if cfg.Overwrite {
		return nil, nil // clearForOverwrite removes the old run once the new one is known to start
	}
	if s, err := ReadSummary(dir); err == nil {
		return nil, &FinishedError{Dir: dir, Summary: *s}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%v; pass --overwrite to train again from scratch", err)
	}
	saved, err := readState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if diff := ConfigDiff(saved.config, cfg); len(diff) > 0 && !sameBackendSpelledOtherwise(diff, saved, cfg, reg) {
		return nil, fmt.Errorf("%s holds an unfinished run with other settings (%s); resume it with mirage train --resume %s, or pass --overwrite to start afresh, or choose another --out",
			dir, strings.Join(diff, "; "), dir)
	}
	return saved, nil
}

// ResumeDiff lists the settings that keep cfg from resuming the state in
// dir, as ConfigDiff names them, or nothing when cfg resumes it: also when
// only the backend options are spelled otherwise for the backend settings
// the state recorded (see sameBackendSpelledOtherwise). An error says that
// the state is missing (errors.Is fs.ErrNotExist) or unreadable.
func ResumeDiff(dir string, cfg Config, reg mirage.Registries) ([]string, error) {
	saved, err := readState(dir)
	if err != nil {
		return nil, err
	}
	diff := ConfigDiff(saved.config, cfg)
	if len(diff) > 0 && sameBackendSpelledOtherwise(diff, saved, cfg, reg) {
		return nil, nil
	}
	return diff, nil
}

// sameBackendSpelledOtherwise reports whether a saved run whose settings
// differ from cfg's only in the backend options (diff, from ConfigDiff) is
// the same run all the same: the state recorded its backend's effective
// settings and cfg's backend has exactly those (an option given its
// default value, or a default left implicit, as when a run is relabelled
// for defaults that changed since).
func sameBackendSpelledOtherwise(diff []string, saved *savedState, cfg Config, reg mirage.Registries) bool {
	for _, d := range diff {
		if !strings.HasPrefix(d, "backend_options: ") {
			return false
		}
	}
	if saved.config.Backend != cfg.Backend || reg.Backends == nil || len(saved.state.BackendConfig) == 0 {
		return false
	}
	b, err := newBackend(cfg, reg)
	return err == nil && SameBackendSettings(saved.state.BackendConfig, b)
}

// clearForOverwrite removes the finished run's mark and any saved state
// from dir for --overwrite. RunContext calls it only after every check of
// the new run has passed, so a refused command leaves the old run intact.
func clearForOverwrite(dir string) error {
	for _, f := range []string{"summary.json", StateFile} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("--overwrite: %w", err)
		}
	}
	return nil
}

// ReadSummary reads dir's summary.json, the mark of a finished run. A
// missing file is reported as an error satisfying errors.Is(err,
// fs.ErrNotExist).
func ReadSummary(dir string) (*Summary, error) {
	data, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		return nil, err
	}
	var s Summary
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: unreadable summary.json (%v)", dir, err)
	}
	return &s, nil
}

// SavedConfig returns the configuration of the resumable state in dir,
// after checking that the state file is readable.
func SavedConfig(dir string) (Config, error) {
	s, err := readState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := ReadSummary(dir); serr == nil {
			return Config{}, fmt.Errorf("%s holds a finished run: there is nothing to resume", dir)
		}
		return Config{}, fmt.Errorf("%s holds no resumable state (%s): was it written by mirage train --out?", dir, StateFile)
	}
	if err != nil {
		return Config{}, err
	}
	return s.config, nil
}

// ConfigDiff lists the settings in which a run saved with configuration
// old differs from cur, as "name: old → new", sorted by name. Where the
// data is read from (DataDir) does not change the run and is ignored, as
// are the fields that are not part of a run's identity (OutDir, Progress,
// CheckpointEvery, Overwrite).
func ConfigDiff(old, cur Config) []string {
	ma, mb := Settings(old), Settings(cur)
	keys := map[string]bool{}
	for k := range ma {
		keys[k] = true
	}
	for k := range mb {
		keys[k] = true
	}
	var diff []string
	for k := range keys {
		a, b := ma[k], mb[k]
		if !bytes.Equal(a, b) {
			diff = append(diff, fmt.Sprintf("%s: %s → %s", k, show(a), show(b)))
		}
	}
	sort.Strings(diff)
	return diff
}

// Settings returns cfg's JSON fields without DataDir (where the data is
// read from is not part of a run's configuration), canonicalised so that
// the order of keys in nested objects (backend options) does not matter.
// Comparing two configurations field by field starts from it.
func Settings(cfg Config) map[string]json.RawMessage {
	cfg.DataDir = ""
	data, err := json.Marshal(cfg)
	if err != nil {
		panic(err) // Config holds only plain values
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		panic(err)
	}
	for k, v := range m {
		var x any
		if json.Unmarshal(v, &x) == nil {
			m[k], _ = json.Marshal(x)
		}
	}
	return m
}

func show(v json.RawMessage) string {
	if v == nil {
		return "(unset)"
	}
	return string(v)
}
