package experiment

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/models"
	"github.com/mirage-go/mirage/train"
)

// Spec describes a sweep: training settings shared by every run, and a grid
// of values whose every combination is one run. In YAML:
//
//	name: rns-noise
//	description: accuracy against readout noise, with and without RRNS
//	base:                     # training settings (summary.json names)
//	  model: lenet
//	  dataset: mnist
//	  epochs: 2
//	  train_limit: 10000
//	backend: rns              # backend of every group that names none
//	options:                  # backend options shared by every run
//	  rns-moduli: special-k6
//	  bfp-bits: 6
//	grid:                     # swept knobs: every combination is a run
//	  noise-sigma: [0, 0.1, 0.12, 0.15]
//	  rrns-redundant: [0, 2]
//
// A grid key is a backend option (rns-moduli, bfp-bits, tile, noise-sigma,
// rrns-redundant, adc-bits, ... — every option of a registered backend), a
// training setting (epochs, lr, batch_size, seed, ...; dashes or
// underscores), or "backend" itself. Values are scalars or, for list
// options such as moduli, lists ([63, 64, 65] is the same as "63,64,65").
//
// Groups run several grids in one sweep, for knobs that belong to different
// backends (RNS with RRNS and the analog baseline at several ADC widths);
// each group inherits backend and grid from the top level and may override
// or extend them. Top-level options apply to every group whose backend has
// them (an option no group's backend has is an error); a group's own
// options and every grid knob must apply to its backend; a group drops an
// inherited grid knob by setting it to null (an FP32 baseline in a noise
// sweep: grid: {noise-sigma: null}):
//
//	groups:
//	  - name: rns
//	    backend: rns
//	    grid: {rrns-redundant: [0, 2]}
//	  - name: analog
//	    backend: analog
//	    grid: {adc-bits: [6, 8]}
//
// Grid keys are expanded in alphabetical order, the last varying fastest.
type Spec struct {
	Name        string         `json:"name" yaml:"name"`
	Description string         `json:"description,omitempty" yaml:"description"`
	Base        map[string]any `json:"base" yaml:"base"`
	Backend     string         `json:"backend,omitempty" yaml:"backend"`
	Options     map[string]any `json:"options,omitempty" yaml:"options"`
	Grid        map[string]any `json:"grid,omitempty" yaml:"grid"`
	Groups      []Group        `json:"groups,omitempty" yaml:"groups"`
}

// Group is one grid of a sweep with several; see Spec.
type Group struct {
	Name    string         `json:"name" yaml:"name"`
	Backend string         `json:"backend,omitempty" yaml:"backend"`
	Options map[string]any `json:"options,omitempty" yaml:"options"`
	Grid    map[string]any `json:"grid,omitempty" yaml:"grid"`
}

// Knob is one swept setting of a row and its value as text.
type Knob struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Row is one run of a sweep.
type Row struct {
	// Index is the row's position in the expanded grid, from 0.
	Index int `json:"index"`
	// ID identifies the row's configuration: a hash of everything that
	// affects the run, so a resumed sweep recognises finished rows even
	// when the spec gained or lost other rows.
	ID     string       `json:"id"`
	Group  string       `json:"group,omitempty"`
	Knobs  []Knob       `json:"knobs"`
	Config train.Config `json:"config"`
}

// Label is the row's knobs as "name=value" pairs, for messages and legends.
func (r Row) Label() string {
	if len(r.Knobs) == 0 {
		return r.Config.Backend
	}
	parts := make([]string, len(r.Knobs))
	for i, k := range r.Knobs {
		parts[i] = k.Name + "=" + k.Value
	}
	return strings.Join(parts, " ")
}

// ParseSpec reads a sweep spec. Files named *.json are JSON, anything else
// YAML (which also reads JSON). Unknown top-level or group fields are
// errors, so a misspelt "grids:" does not silently sweep nothing.
func ParseSpec(data []byte, filename string) (*Spec, error) {
	var s Spec
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s is empty: a sweep spec needs a base and groups (see sweeps/README.md and sweeps/quick.yaml)", filename)
	}
	if strings.EqualFold(filepath.Ext(filename), ".json") {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return nil, fmt.Errorf("%s: %w", filename, err)
		}
	} else {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&s); err != nil {
			// yaml lists its errors on several lines; keep the message on one.
			return nil, fmt.Errorf("%s: %s", filename, strings.Join(strings.Fields(err.Error()), " "))
		}
	}
	return &s, nil
}

// knobKind says what a grid or option key sets.
type knobKind int

const (
	unknownKnob  knobKind = iota
	backendKnob           // "backend"
	optionKnob            // a backend option
	trainingKnob          // a train.Config field
)

// knobs knows the names a spec may use.
type knobs struct {
	reg     *backend.Registry
	models  *models.Registry
	options map[string]bool
	fields  map[string][]int // train.Config JSON name → field index
}

func newKnobs(reg mirage.Registries) *knobs {
	k := &knobs{reg: reg.Backends, models: reg.Models, options: map[string]bool{}, fields: map[string][]int{}}
	for _, name := range k.reg.Names() {
		for _, o := range k.reg.Options(name) {
			k.options[o.Name] = true
		}
	}
	t := reflect.TypeOf(train.Config{})
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" || name == "backend" || name == "backend_options" {
			continue
		}
		k.fields[name] = t.Field(i).Index
	}
	return k
}

func (k *knobs) kind(name string) knobKind {
	switch {
	case name == "backend":
		return backendKnob
	case k.options[name]:
		return optionKnob
	case k.fields[strings.ReplaceAll(name, "-", "_")] != nil:
		return trainingKnob
	}
	return unknownKnob
}

// accepts reports whether the backend has the option.
func (k *knobs) accepts(backendName, option string) bool {
	for _, o := range k.reg.Options(backendName) {
		if o.Name == option {
			return true
		}
	}
	return false
}

func (k *knobs) valid() string {
	var opts, fields []string
	for o := range k.options {
		opts = append(opts, o)
	}
	for f := range k.fields {
		fields = append(fields, f)
	}
	sort.Strings(opts)
	sort.Strings(fields)
	return fmt.Sprintf("backend options: %s; training settings: %s; or backend", strings.Join(opts, ", "), strings.Join(fields, ", "))
}

// set applies a training setting to cfg, with the type checks of JSON.
func (k *knobs) set(cfg *train.Config, name string, v any) error {
	idx := k.fields[strings.ReplaceAll(name, "-", "_")]
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	field := reflect.ValueOf(cfg).Elem().FieldByIndex(idx)
	fresh := reflect.New(field.Type())
	if err := json.Unmarshal(data, fresh.Interface()); err != nil {
		return fmt.Errorf("%s: %s is not a valid %s", name, data, field.Type())
	}
	field.Set(fresh.Elem())
	return nil
}

// valueText turns a spec value into an option string: numbers in their
// shortest form, lists joined with commas.
func valueText(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			s, err := valueText(e)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	case nil:
		return "", fmt.Errorf("empty value")
	}
	return "", fmt.Errorf("unsupported value %v (%T): use a number, a string or a list", v, v)
}

// gridValues returns the values of a grid entry: a list, or one scalar.
func gridValues(v any) []any {
	if list, ok := v.([]any); ok {
		return list
	}
	return []any{v}
}

// Plan expands a spec into its rows and validates every one of them — the
// training settings, the model name, and each row's backend options as the
// backend's factory sees them (invalid moduli, a tile that overflows the
// RNS range, an option the backend does not have) — before anything runs.
// The error names each bad row and what is wrong, up to a handful of rows.
// A spec of more than MaxSweepRows rows is refused before it is expanded.
// Plan holds every row; [PlanGrid] validates the same way and makes rows
// on demand instead, which is what sweeps run from.
func Plan(s *Spec, reg mirage.Registries) ([]Row, error) {
	var rows []Row
	if err := WalkPlan(s, reg, func(r Row) { rows = append(rows, r) }); err != nil {
		return nil, err
	}
	return rows, nil
}

// WalkPlan expands and validates a spec like Plan, handing each row to
// visit as it is made instead of keeping them (see [Grid.Walk]): what
// `mirage sweep --dry-run` lists rows with.
func WalkPlan(s *Spec, reg mirage.Registries, visit func(Row)) error {
	g, err := NewGrid(s, reg)
	if err != nil {
		return err
	}
	return g.Walk(visit)
}

func validateRow(k *knobs, reg mirage.Registries, r Row) error {
	if err := r.Config.Validate(reg); err != nil {
		return err
	}
	_, err := k.reg.New(r.Config.Backend, r.Config.BackendOptions)
	return err
}

// rowID hashes the configuration as it decides the run (the data
// directory excluded, as in configDiff).
func rowID(c train.Config) string {
	m := configMap(c)
	data, _ := json.Marshal(m) // map keys are sorted by encoding/json
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:6])
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
