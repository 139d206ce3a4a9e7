package experiment

import (
	"context"
	"fmt"
	"iter"
	"sort"
	"strings"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/train"
)

// Rows is a sweep's rows in order. A sweep never holds its rows: a [Grid]
// makes row i from the spec when it is asked for, so a sweep of 100,000
// rows plans, runs and reports in the memory of one row (plus what it
// reports about each). Row panics unless 0 ≤ i < Len().
type Rows interface {
	Len() int
	Row(i int) Row
}

// All returns the rows in order, made one at a time.
func All(rows Rows) iter.Seq[Row] {
	return func(yield func(Row) bool) {
		for i := range rows.Len() {
			if !yield(rows.Row(i)) {
				return
			}
		}
	}
}

// rowList is Rows held in memory: a plan.json written before sweeps were
// planned lazily lists its rows, and those rows (not what today's code
// makes of the spec) are what its results belong to.
type rowList []Row

func (l rowList) Len() int      { return len(l) }
func (l rowList) Row(i int) Row { return l[i] }

// Grid is a sweep spec ready to expand: the shared training settings,
// and for each group its backend, options and the values of each knob,
// each value checked once. Row i is computed from i alone (a mixed-radix
// number over the knobs' value lists, the last knob fastest), so nothing
// proportional to the number of rows is kept. NewGrid does not validate
// rows; [Grid.Walk] does.
type Grid struct {
	k      *knobs
	reg    mirage.Registries
	base   train.Config
	groups []gridGroup
	n      int
	// unused lists top-level options that apply to none of the groups'
	// backends: a mistake Walk reports.
	unused []string
}

type gridGroup struct {
	where   string // "spec", "group 2" or `group "rns"`, for messages
	name    string
	backend string
	options backend.Options
	names   []string
	values  [][]gridValue
	first   int // index of the group's first row
	rows    int
}

// gridValue is one value of a grid knob: what the spec says and its text.
type gridValue struct {
	raw  any
	text string
}

// NewGrid checks a spec's structure — the shared settings, every group's
// backend, options and knob names, every knob value once — and counts its
// rows, refusing a grid of more than MaxSweepRows before making any.
func NewGrid(s *Spec, reg mirage.Registries) (*Grid, error) {
	if err := reg.Check(); err != nil {
		return nil, err
	}
	k := newKnobs(reg)
	model, _ := s.Base["model"].(string)
	if model == "" {
		return nil, fmt.Errorf("spec: base.model is required (valid: %s)", strings.Join(reg.Models.Names(), ", "))
	}
	dataset, _ := s.Base["dataset"].(string)
	g := &Grid{k: k, reg: reg, base: train.Recipe(reg, model, dataset)}
	g.base.Progress = false
	for _, name := range sortedKeys(s.Base) {
		if name == "model" || name == "dataset" {
			continue
		}
		if k.kind(name) != trainingKnob {
			return nil, fmt.Errorf("spec: base.%s is not a training setting (valid: %s)", name, k.valid())
		}
		if err := k.set(&g.base, name, s.Base[name]); err != nil {
			return nil, fmt.Errorf("spec: base.%v", err)
		}
	}
	groups := s.Groups
	if len(groups) == 0 {
		groups = []Group{{}}
	}
	var planned int64 // rows of the groups seen so far
	usedShared := map[string]bool{}
	for gi, grp := range groups {
		gg := gridGroup{where: "spec", name: grp.Name, backend: grp.Backend, options: backend.Options{}, first: int(planned)}
		if len(s.Groups) > 0 {
			gg.where = fmt.Sprintf("group %d", gi+1)
			if grp.Name != "" {
				gg.where = fmt.Sprintf("group %q", grp.Name)
			}
		}
		if gg.backend == "" {
			gg.backend = s.Backend
		}
		for level, src := range []map[string]any{s.Options, grp.Options} {
			for _, name := range sortedKeys(src) {
				if k.kind(name) != optionKnob {
					return nil, fmt.Errorf("%s: options.%s is not a backend option (valid: %s)", gg.where, name, k.valid())
				}
				// Top-level options are shared: each applies to the groups
				// whose backend has it (noise-sigma to rns and analog, say).
				if level == 0 && gg.backend != "" && !k.accepts(gg.backend, name) {
					continue
				}
				v, err := valueText(src[name])
				if err != nil {
					return nil, fmt.Errorf("%s: options.%s: %v", gg.where, name, err)
				}
				gg.options[name] = v
				usedShared[name] = usedShared[name] || level == 0
			}
		}
		grid := map[string]any{}
		for _, src := range []map[string]any{s.Grid, grp.Grid} {
			for name, v := range src {
				grid[name] = v
				if v == nil {
					delete(grid, name) // a group drops an inherited knob
				}
			}
		}
		gg.names = sortedKeys(grid)
		counts := make([][]any, len(gg.names))
		for i, name := range gg.names {
			if k.kind(name) == unknownKnob {
				return nil, fmt.Errorf("%s: unknown knob %q in grid (valid: %s)", gg.where, name, k.valid())
			}
			counts[i] = gridValues(grid[name])
			if len(counts[i]) == 0 {
				return nil, fmt.Errorf("%s: grid knob %q has no values", gg.where, name)
			}
		}
		if gg.backend == "" && grid["backend"] == nil {
			return nil, fmt.Errorf("%s: no backend: set backend: (one of %s) or sweep it in the grid", gg.where, strings.Join(k.reg.Names(), ", "))
		}
		// Count before looking at values: a 1000×1000 grid is refused
		// without touching its million combinations.
		before := planned
		if planned = addRows(planned, counts); planned > MaxSweepRows {
			return nil, fmt.Errorf("%s: the grid has %s rows, more than the limit of %d a sweep may have; sweep fewer values or split the spec into several sweeps", gg.where, rowCountText(planned), MaxSweepRows)
		}
		gg.rows = int(planned - before)
		// Each value is checked once here, so that making a row cannot
		// fail: its text, and for a training setting its type.
		gg.values = make([][]gridValue, len(gg.names))
		for i, name := range gg.names {
			for _, v := range counts[i] {
				text, err := valueText(v)
				if err != nil {
					return nil, fmt.Errorf("%s: grid %s: %v", gg.where, name, err)
				}
				if k.kind(name) == trainingKnob {
					scratch := g.base
					if err := k.set(&scratch, name, v); err != nil {
						return nil, fmt.Errorf("%s: grid %v", gg.where, err)
					}
				}
				gg.values[i] = append(gg.values[i], gridValue{raw: v, text: text})
			}
		}
		g.groups = append(g.groups, gg)
	}
	g.n = int(planned)
	for _, name := range sortedKeys(s.Options) {
		if !usedShared[name] {
			g.unused = append(g.unused, name)
		}
	}
	return g, nil
}

// Len is the number of rows.
func (g *Grid) Len() int { return g.n }

// Row makes row i: the shared settings, its group's backend and options,
// and its knob values, with its ID. It panics unless 0 ≤ i < Len().
func (g *Grid) Row(i int) Row {
	if i < 0 || i >= g.n {
		panic(fmt.Sprintf("experiment: row %d of a sweep of %d rows", i, g.n))
	}
	gi := sort.Search(len(g.groups), func(j int) bool { return g.groups[j].first+g.groups[j].rows > i })
	grp := &g.groups[gi]
	row := Row{Index: i, Group: grp.name, Config: g.base}
	if len(grp.names) > 0 {
		row.Knobs = make([]Knob, len(grp.names))
	}
	row.Config.Backend = grp.backend
	opts := make(backend.Options, len(grp.options)+len(grp.names))
	for o, v := range grp.options {
		opts[o] = v
	}
	// The position of each knob: digits of i within the group, the last
	// knob the least significant.
	rest := i - grp.first
	pos := make([]int, len(grp.names))
	for j := len(grp.names) - 1; j >= 0; j-- {
		pos[j] = rest % len(grp.values[j])
		rest /= len(grp.values[j])
	}
	for j, name := range grp.names {
		v := grp.values[j][pos[j]]
		row.Knobs[j] = Knob{Name: name, Value: v.text}
		switch g.k.kind(name) {
		case backendKnob:
			row.Config.Backend = v.text
		case optionKnob:
			opts[name] = v.text
		case trainingKnob:
			_ = g.k.set(&row.Config, name, v.raw) // checked by NewGrid
		}
	}
	if len(opts) > 0 {
		row.Config.BackendOptions = opts
	}
	row.ID = rowID(row.Config)
	return row
}

// Walk makes and validates every row in order, handing each to visit
// (valid or not) as it is made; the error, after the last row, says which
// rows were bad — the training settings, the model name, each row's
// backend options as the backend's factory sees them, duplicate rows —
// and options that apply to no backend. Memory stays that of one row plus
// each row's 12-character ID, to find duplicates.
func (g *Grid) Walk(visit func(Row)) error {
	return g.walk(context.Background(), visit)
}

// walk is Walk that stops, returning ctx's error, when ctx is cancelled:
// validating 100,000 rows takes a while, and an interrupted sweep must
// stop without waiting for it.
func (g *Grid) walk(ctx context.Context, visit func(Row)) error {
	// Only the first few problems are kept for the message: a grid whose
	// every row is bad must not hold a message per row.
	const show = 3
	var problems []string
	count := 0
	problem := func(msg string) {
		if count++; count <= show {
			problems = append(problems, msg)
		}
	}
	seen := make(map[string]int32, g.n)
	for i := range g.n {
		if err := ctx.Err(); err != nil {
			return err
		}
		row := g.Row(i)
		if err := validateRow(g.k, g.reg, row); err != nil {
			problem(fmt.Sprintf("row %d (%s, backend %s): %v", row.Index+1, row.Label(), row.Config.Backend, err))
		}
		if first, dup := seen[row.ID]; dup {
			problem(fmt.Sprintf("row %d (%s) is the same run as row %d; remove one of the duplicate grid values", row.Index+1, row.Label(), first+1))
		}
		seen[row.ID] = int32(row.Index)
		if visit != nil {
			visit(row)
		}
	}
	for _, name := range g.unused {
		problem(fmt.Sprintf("options.%s applies to none of the sweep's backends", name))
	}
	if count > 0 {
		// One line, like every CLI error; the first few problems usually
		// share one cause.
		msg := strings.Join(problems, "; ")
		if count > show {
			msg += fmt.Sprintf("; and %d more", count-show)
		}
		return fmt.Errorf("the sweep has %d problem(s) in %d rows; nothing was run: %s", count, g.n, msg)
	}
	return nil
}

// PlanGrid is NewGrid followed by Walk: the spec's rows, validated, and
// made again on demand.
func PlanGrid(s *Spec, reg mirage.Registries) (*Grid, error) {
	g, err := NewGrid(s, reg)
	if err != nil {
		return nil, err
	}
	if err := g.Walk(nil); err != nil {
		return nil, err
	}
	return g, nil
}
