package train

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mirage-go/mirage/autograd"
	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/checkpoint"
	"github.com/mirage-go/mirage/datasets"
	"github.com/mirage-go/mirage/layers"
	"github.com/mirage-go/mirage/optim"
)

// StateFile is the name of the resumable state in a run directory. It is
// one safetensors file, so that replacing it is one atomic rename: the
// tensors (the model's weights and buffers under "model/NAME", the
// optimizer's buffers under "optim/PARAM/BUFFER") and, in the metadata,
// the configuration ("mirage.config") and everything else as JSON
// ("mirage.state", see runState).
const StateFile = "state.safetensors"

const (
	stateMetadataKey = "mirage.state"
	stateVersion     = 1
	modelPrefix      = "model/"
	optimPrefix      = "optim/"
)

// runState is the JSON part of a resumable state: where the run stands and
// every piece of state besides tensors that the next step depends on.
type runState struct {
	Version int `json:"version"`
	// Position is the epoch in progress (from 1; Epochs+1 once all are
	// done) and the number of its batches already trained.
	Position datasets.Position `json:"position"`
	// Step is the number of optimizer steps taken, which the learning-rate
	// schedule is a function of.
	Step int `json:"step"`
	// TrainExamples is the size of the training set, checked on resume.
	TrainExamples int `json:"train_examples"`
	// Metrics are the finished epochs' lines of metrics.jsonl.
	Metrics []EpochMetrics `json:"metrics"`
	// The epoch in progress: its running sums, so that its train loss and
	// accuracy come out as in an uninterrupted epoch. LossSum is stored as
	// IEEE-754 bits: it must come back exactly and may be NaN.
	LossSumBits  uint64  `json:"loss_sum_bits"`
	Correct      int     `json:"correct"`
	Seen         int     `json:"seen"`
	Diverged     bool    `json:"diverged"`
	EpochSeconds float64 `json:"epoch_seconds"`
	// Elapsed is the wall time of the run so far, for summary.json.
	Elapsed float64 `json:"elapsed_seconds"`
	// Optimizer: the learning rate and per-parameter step counts (its
	// buffers are tensors).
	LR    float64        `json:"lr"`
	Steps map[string]int `json:"optimizer_steps"`
	// WithGrad names the parameters that had a gradient buffer: an
	// optimizer updates (weight decay, momentum) exactly those.
	WithGrad []string `json:"params_with_grad"`
	// Backend is the backend's state (backend.Stateful), absent for a
	// backend without one.
	Backend json.RawMessage `json:"backend,omitempty"`
	// BackendConfig is the backend's effective configuration
	// (backend.Configurer), every setting with the value it had, defaults
	// included: a run resumed by a mirage whose defaults changed since
	// must not go on with other settings than it started with. States
	// written before it was recorded have none, and are not checked.
	BackendConfig json.RawMessage `json:"backend_config,omitempty"`
	// Dropout holds the position of every generator of the model
	// (layers.Stochastic), in order.
	Dropout [][]byte `json:"dropout_rng"`
	// Finite records that every tensor was finite when the state was
	// written; a state claiming so whose tensors are not is corrupt.
	Finite bool `json:"finite"`
	// Cores are the GOMAXPROCS values the run has trained with, in order,
	// each listed once per change: the core count decides how some sums
	// are split, so a run resumed with another count goes on differently
	// from the uninterrupted one. States written before it was recorded
	// have none.
	Cores []int `json:"gomaxprocs,omitempty"`
}

// maxCores bounds the GOMAXPROCS values a state may record.
const maxCores = 1 << 20

// coresFrom returns the core counts of a run that goes on, with now
// GOMAXPROCS, from a state that recorded saved, and whether the count
// changed at this resume.
func coresFrom(saved []int, now int) (cores []int, changed bool) {
	cores = append([]int{}, saved...)
	if len(cores) == 0 || cores[len(cores)-1] != now {
		changed = len(cores) > 0
		cores = append(cores, now)
	}
	return cores, changed
}

// trainer is the part of a run that a resumable state saves and restores.
type trainer struct {
	cfg     Config
	env     *Env
	model   layers.Module
	params  []*autograd.Tensor
	opt     optim.Optimizer
	backend backend.Backend
}

// snapshot is a run's progress at a step boundary.
type snapshot struct {
	pos          datasets.Position
	cores        []int // see runState.Cores
	step         int
	metrics      []EpochMetrics
	lossSum      float64
	correct      int
	seen         int
	diverged     bool
	epochSeconds float64
	elapsed      float64
}

// save writes the resumable state of tr at s into dir, atomically.
func (tr *trainer) save(dir string, s snapshot) error {
	st := runState{
		Version: stateVersion, Position: s.pos, Step: s.step, TrainExamples: tr.env.Train.Len(),
		Metrics: append([]EpochMetrics{}, s.metrics...), LossSumBits: math.Float64bits(s.lossSum),
		Correct: s.correct, Seen: s.seen, Diverged: s.diverged,
		EpochSeconds: s.epochSeconds, Elapsed: s.elapsed,
		Dropout: [][]byte{}, WithGrad: []string{}, Steps: map[string]int{},
		Cores: s.cores,
	}
	var tensors []*autograd.Tensor
	for _, t := range layers.StateDict(tr.model) {
		tensors = append(tensors, named(modelPrefix+t.Name, t.Data(), t.Shape()))
	}
	for _, p := range tr.params {
		if p.Grad() != nil {
			st.WithGrad = append(st.WithGrad, p.Name)
		}
	}
	if so, ok := tr.opt.(optim.Stateful); ok {
		ostate := so.State()
		st.LR, st.Steps = ostate.LR, ostate.Steps
		for _, p := range tr.params {
			for _, kind := range sortedKeys(ostate.Buffers[p.Name]) {
				b := ostate.Buffers[p.Name][kind]
				tensors = append(tensors, named(optimPrefix+p.Name+"/"+kind, b, p.Shape()))
			}
		}
	} else {
		return fmt.Errorf("optimizer %s cannot save its state", tr.cfg.Optimizer)
	}
	if sb, ok := tr.backend.(backend.Stateful); ok {
		b, err := sb.MarshalState()
		if err != nil {
			return fmt.Errorf("backend state: %w", err)
		}
		st.Backend = b
	}
	if c, ok := tr.backend.(backend.Configurer); ok {
		b, err := json.Marshal(c.Config())
		if err != nil {
			return fmt.Errorf("backend configuration: %w", err)
		}
		st.BackendConfig = b
	}
	for _, g := range layers.Generators(tr.model) {
		b, err := g.MarshalBinary()
		if err != nil {
			return err
		}
		st.Dropout = append(st.Dropout, b)
	}
	st.Finite = allFinite(tensors)
	js, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("cannot encode the resumable state: %w", err)
	}
	meta, err := checkpointMetadata(tr.cfg)
	if err != nil {
		return err
	}
	meta[stateMetadataKey] = string(js)
	if err := checkpoint.Save(filepath.Join(dir, StateFile), tensors, meta); err != nil {
		return fmt.Errorf("cannot write the resumable state: %w", err)
	}
	return nil
}

func named(name string, data []float32, shape []int) *autograd.Tensor {
	t := autograd.New(data, shape...)
	t.Name = name
	return t
}

func allFinite(tensors []*autograd.Tensor) bool {
	for _, t := range tensors {
		for _, v := range t.Data() {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return false
			}
		}
	}
	return true
}

// savedState is a state file read and decoded, not yet checked against a
// run.
type savedState struct {
	path    string
	config  Config
	state   runState
	tensors map[string]*autograd.Tensor
}

// stateBytesLimit bounds the size of a state file read before the model
// is known: far above any model mirage builds (BERT-small with AdamW is
// about 0.1 GB), far below what would exhaust memory.
const stateBytesLimit = 4 << 30

// readState reads and decodes dir's state file. A missing file is
// reported as an error satisfying errors.Is(err, fs.ErrNotExist).
func readState(dir string) (*savedState, error) {
	path := filepath.Join(dir, StateFile)
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.Size() > stateBytesLimit {
		return nil, stateError(path, fmt.Errorf("%d bytes is more than any run's state (limit %d)", info.Size(), int64(stateBytesLimit)))
	}
	tensors, meta, err := checkpoint.Load(path)
	if err != nil {
		return nil, stateError(path, err)
	}
	s := &savedState{path: path, tensors: tensors}
	rawCfg, ok := meta[configMetadataKey]
	if !ok {
		return nil, stateError(path, fmt.Errorf("no %q metadata", configMetadataKey))
	}
	if err := json.Unmarshal([]byte(rawCfg), &s.config); err != nil {
		return nil, stateError(path, fmt.Errorf("bad %s metadata: %v", configMetadataKey, err))
	}
	rawState, ok := meta[stateMetadataKey]
	if !ok {
		return nil, stateError(path, fmt.Errorf("no %q metadata", stateMetadataKey))
	}
	dec := json.NewDecoder(strings.NewReader(rawState))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s.state); err != nil {
		return nil, stateError(path, fmt.Errorf("bad %s metadata: %v", stateMetadataKey, err))
	}
	if s.state.Version != stateVersion {
		return nil, stateError(path, fmt.Errorf("state version %d, this mirage reads version %d", s.state.Version, stateVersion))
	}
	return s, nil
}

// stateError makes one line naming the file and the problem.
func stateError(path string, err error) error {
	msg := strings.ReplaceAll(strings.TrimPrefix(err.Error(), "checkpoint: "+path+": "), "\n", " ")
	return fmt.Errorf("cannot resume from %s: %s; delete it (or pass --overwrite) to start the run afresh", path, msg)
}

// restore checks s against the run tr is set up for and, if it all fits,
// loads it into tr's model, optimizer, backend and generators, and returns
// the run's progress. Everything is checked before anything is changed,
// except the optimizer's and the backend's own parts, which they check
// themselves: a backend state refused after the optimizer took its own
// leaves the optimizer changed, in a run that then stops with the error.
func (tr *trainer) restore(s *savedState, stepsPerEpoch int) (snapshot, error) {
	snap, err := tr.checkAndRestore(s, stepsPerEpoch)
	if err != nil {
		return snapshot{}, stateError(s.path, err)
	}
	return snap, nil
}

func (tr *trainer) checkAndRestore(s *savedState, stepsPerEpoch int) (snapshot, error) {
	st := &s.state
	cfg := tr.cfg
	pos := st.Position
	switch {
	case st.TrainExamples != tr.env.Train.Len():
		return snapshot{}, fmt.Errorf("it was written for %d training examples, the data set now has %d", st.TrainExamples, tr.env.Train.Len())
	case pos.Epoch < 1 || pos.Epoch > cfg.Epochs+1:
		return snapshot{}, fmt.Errorf("epoch %d is outside 1..%d", pos.Epoch, cfg.Epochs+1)
	case pos.Batch < 0 || pos.Batch >= stepsPerEpoch || pos.Epoch == cfg.Epochs+1 && pos.Batch != 0:
		return snapshot{}, fmt.Errorf("step %d of epoch %d is outside the epoch's %d steps", pos.Batch, pos.Epoch, stepsPerEpoch)
	case st.Step != (pos.Epoch-1)*stepsPerEpoch+pos.Batch:
		return snapshot{}, fmt.Errorf("global step %d does not match epoch %d step %d at %d steps per epoch", st.Step, pos.Epoch, pos.Batch, stepsPerEpoch)
	case len(st.Metrics) != pos.Epoch-1:
		return snapshot{}, fmt.Errorf("%d epochs of metrics for %d finished epochs", len(st.Metrics), pos.Epoch-1)
	case st.Seen != min(pos.Batch*cfg.BatchSize, tr.env.Train.Len()):
		return snapshot{}, fmt.Errorf("%d examples seen in %d steps of %d", st.Seen, pos.Batch, cfg.BatchSize)
	case st.Correct < 0 || st.Correct > st.Seen:
		return snapshot{}, fmt.Errorf("%d correct of %d examples seen", st.Correct, st.Seen)
	case !finiteNonNegative(st.Elapsed) || !finiteNonNegative(st.EpochSeconds):
		return snapshot{}, fmt.Errorf("invalid elapsed times %g and %g seconds", st.Elapsed, st.EpochSeconds)
	case slices.ContainsFunc(st.Cores, func(n int) bool { return n < 1 || n > maxCores }):
		return snapshot{}, fmt.Errorf("core counts %v outside 1..%d", st.Cores, maxCores)
	}
	if diff := BackendSettingsDiff(st.BackendConfig, tr.backend); len(diff) > 0 {
		return snapshot{}, fmt.Errorf("the backend's effective settings differ from those the run started with (%s): this mirage's defaults are not that run's; give its values as options to continue it", strings.Join(diff, "; "))
	}
	for i, m := range st.Metrics {
		if m.Epoch != i+1 {
			return snapshot{}, fmt.Errorf("metrics line %d is for epoch %d", i+1, m.Epoch)
		}
	}
	if !st.Finite && !st.Diverged && !slices.ContainsFunc(st.Metrics, func(m EpochMetrics) bool { return m.Diverged }) {
		return snapshot{}, fmt.Errorf("it holds non-finite numbers but records no divergence")
	}

	// Tensors: exactly the model's and the optimizer's, with their shapes.
	used := map[string]bool{}
	take := func(name string, shape []int) (*autograd.Tensor, error) {
		t, ok := s.tensors[name]
		if !ok {
			return nil, fmt.Errorf("tensor %s is missing", name)
		}
		if !slices.Equal(t.Shape(), shape) {
			return nil, fmt.Errorf("tensor %s is %v, the model's is %v", name, t.Shape(), shape)
		}
		if st.Finite && !allFinite([]*autograd.Tensor{t}) {
			return nil, fmt.Errorf("tensor %s holds NaN or infinite values although the state says all are finite", name)
		}
		used[name] = true
		return t, nil
	}
	dict := layers.StateDict(tr.model)
	weights := make([]*autograd.Tensor, len(dict))
	for i, t := range dict {
		w, err := take(modelPrefix+t.Name, t.Shape())
		if err != nil {
			return snapshot{}, err
		}
		weights[i] = w
	}
	ostate := optim.State{LR: st.LR, Buffers: map[string]map[string][]float32{}, Steps: st.Steps}
	byName := map[string]*autograd.Tensor{}
	for _, p := range tr.params {
		byName[p.Name] = p
	}
	for name := range s.tensors {
		rest, ok := strings.CutPrefix(name, optimPrefix)
		if !ok {
			continue
		}
		i := strings.LastIndexByte(rest, '/')
		if i < 0 || byName[rest[:i]] == nil {
			return snapshot{}, fmt.Errorf("tensor %s names no parameter of the model", name)
		}
		p, kind := byName[rest[:i]], rest[i+1:]
		t, err := take(name, p.Shape())
		if err != nil {
			return snapshot{}, err
		}
		if ostate.Buffers[p.Name] == nil {
			ostate.Buffers[p.Name] = map[string][]float32{}
		}
		ostate.Buffers[p.Name][kind] = t.Data()
	}
	for name := range s.tensors {
		if !used[name] {
			return snapshot{}, fmt.Errorf("tensor %s belongs to no part of this run", name)
		}
	}
	if !finiteNonNegative(st.LR) {
		return snapshot{}, fmt.Errorf("learning rate %g", st.LR)
	}
	for _, name := range st.WithGrad {
		if byName[name] == nil {
			return snapshot{}, fmt.Errorf("params_with_grad names %q, which is not a parameter", name)
		}
	}
	gens := layers.Generators(tr.model)
	if len(st.Dropout) != len(gens) {
		return snapshot{}, fmt.Errorf("%d dropout generators for a model with %d", len(st.Dropout), len(gens))
	}
	restored := make([]rand.PCG, len(gens))
	for i, b := range st.Dropout {
		if err := restored[i].UnmarshalBinary(b); err != nil {
			return snapshot{}, fmt.Errorf("dropout generator %d: %v", i, err)
		}
	}
	sb, stateful := tr.backend.(backend.Stateful)
	switch {
	case stateful && len(st.Backend) == 0:
		return snapshot{}, fmt.Errorf("no state for backend %s", tr.backend.Name())
	case !stateful && len(st.Backend) > 0:
		return snapshot{}, fmt.Errorf("backend state given for backend %s, which keeps none", tr.backend.Name())
	}
	so, ok := tr.opt.(optim.Stateful)
	if !ok {
		return snapshot{}, fmt.Errorf("optimizer %s cannot restore its state", tr.cfg.Optimizer)
	}

	// Everything that can be checked without changing anything has been.
	// The optimizer and the backend check their own parts whole before
	// changing anything; the optimizer goes first, and the backend last,
	// so a failure leaves at most the optimizer changed, of a run that
	// then stops.
	if err := so.SetState(ostate); err != nil {
		return snapshot{}, err
	}
	if stateful {
		if err := sb.UnmarshalState(st.Backend); err != nil {
			return snapshot{}, err
		}
	}
	for i, t := range dict {
		copy(t.Data(), weights[i].Data())
	}
	for i, g := range gens {
		*g = restored[i]
	}
	for _, name := range st.WithGrad {
		if p := byName[name]; p.Grad() == nil {
			p.SetGrad(make([]float32, p.Numel()))
		}
	}
	return snapshot{
		pos: pos, cores: st.Cores, step: st.Step, metrics: st.Metrics,
		lossSum: math.Float64frombits(st.LossSumBits), correct: st.Correct, seen: st.Seen,
		diverged: st.Diverged, epochSeconds: st.EpochSeconds, elapsed: st.Elapsed,
	}, nil
}

func finiteNonNegative(x float64) bool { return x >= 0 && !math.IsInf(x, 1) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// BackendSettingsDiff lists, as "name: recorded → now", the settings in
// which b's effective configuration (backend.Configurer) differs from
// recorded, one a run wrote (summary.json's or a state's backend_config),
// sorted by name; nothing when they agree or either is unknown. Only the
// settings both name are compared: a run recorded by an older mirage may
// lack settings added since, which it did not know about. So a setting
// whose default changed is named, and one that was added is not.
func BackendSettingsDiff(recorded json.RawMessage, b backend.Backend) []string {
	c, ok := b.(backend.Configurer)
	if !ok || len(recorded) == 0 || bytes.Equal(recorded, []byte("null")) {
		return nil
	}
	cur, err := json.Marshal(c.Config())
	if err != nil {
		return []string{fmt.Sprintf("the backend's configuration cannot be encoded: %v", err)}
	}
	var a, now map[string]json.RawMessage
	if json.Unmarshal(recorded, &a) != nil || json.Unmarshal(cur, &now) != nil {
		if !bytes.Equal(canonicalJSON(recorded), canonicalJSON(cur)) {
			return []string{fmt.Sprintf("%s → %s", recorded, cur)}
		}
		return nil
	}
	var diff []string
	for _, k := range sortedKeys(a) {
		y, ok := now[k]
		if !ok {
			continue
		}
		if x, y := canonicalJSON(a[k]), canonicalJSON(y); !bytes.Equal(x, y) {
			diff = append(diff, fmt.Sprintf("%s: %s → %s", k, show(x), show(y)))
		}
	}
	return diff
}

// SameBackendSettings reports whether b's effective configuration is
// recorded, every setting and nothing else: a run recorded with it is the
// run b would train, however its options were spelled (an option given
// its default value, or left out).
func SameBackendSettings(recorded json.RawMessage, b backend.Backend) bool {
	c, ok := b.(backend.Configurer)
	if !ok || len(recorded) == 0 {
		return false
	}
	cur, err := json.Marshal(c.Config())
	return err == nil && bytes.Equal(canonicalJSON(recorded), canonicalJSON(cur))
}

// canonicalJSON re-encodes v with its object keys sorted; nil stays nil.
func canonicalJSON(v json.RawMessage) json.RawMessage {
	if len(v) == 0 {
		return nil
	}
	var x any
	if json.Unmarshal(v, &x) != nil {
		return v
	}
	out, _ := json.Marshal(x)
	return out
}
