package experiment

// The analysis behind the short-run sections of the results document, as
// pure functions over typed rows: no Markdown, no files, so each answer is
// unit-tested on its own (results_analyse_test.go) and the templates only
// word it. The full-length sections' analysis is in
// results_analyse_full.go.

import (
	"math"
	"sort"
	"strconv"

	"github.com/mirage-go/mirage/backend"
	ibfp "github.com/mirage-go/mirage/internal/bfp"
	"github.com/mirage-go/mirage/internal/rns"
)

// rowResult is a sweep row with its result and the FP32 row it is
// measured against.
type rowResult struct {
	Row Row
	Got *ResultRow // nil: not run yet
	FP  *ResultRow // nil: no FP32 row with the same training settings
}

// Delta is the row's distance to FP32 in points, NaN when unknown.
func (r rowResult) Delta() float64 {
	if r.Got == nil || r.FP == nil || r.Got.Status == Failed {
		return math.NaN()
	}
	return 100 * float64(r.Got.FinalTestAcc-r.FP.FinalTestAcc)
}

// Within reports whether the row trained normally and is within Within
// points of FP32. Accuracies are counts over the same test set, so a Δ of
// exactly −Within can come out a hair below it in floating point; the
// tolerance (far below one example in a million) keeps such a run in.
func (r rowResult) Within() bool {
	d := r.Delta()
	return r.Got != nil && r.Got.Status == OK && finite(d) && d >= -Within-1e-9
}

// IsBaseline reports whether the row is the FP32 run it is measured
// against.
func (r rowResult) IsBaseline() bool {
	return r.FP != nil && r.Got != nil && r.FP.ID == r.Got.ID
}

// HasOutcome reports whether the row finished, normally or not (it did not
// fail and is not still to run).
func (r rowResult) HasOutcome() bool {
	return r.Got != nil && r.Got.Status != Failed
}

// rowResults pairs every row of res with its result and FP32 baseline.
func rowResults(res *SweepResult) []rowResult {
	base := baselines(res)
	rows := make([]rowResult, 0, res.Rows.Len())
	for r := range All(res.Rows) {
		rows = append(rows, rowResult{Row: r, Got: res.Results[r.ID], FP: base[trainingKey(r.Config)]})
	}
	return rows
}

func hasKnob(rows []rowResult, name string) bool {
	for _, r := range rows {
		if _, ok := knobValue(r.Row, name); ok {
			return true
		}
	}
	return false
}

func isFP32Baseline(r Row) bool {
	return r.Config.Backend == "fp32" && len(r.Config.BackendOptions) == 0
}

// fp32Rows are the rows that are plain FP32 runs.
func fp32Rows(rows []rowResult) []rowResult {
	var out []rowResult
	for _, r := range rows {
		if isFP32Baseline(r.Row) {
			out = append(out, r)
		}
	}
	return out
}

// widthAnswer answers "how narrow can the converters be within [Within]
// points of FP32?" for rows sorted narrowest first.
type widthAnswer struct {
	// NoBaseline is set when no row has an FP32 run with the same training
	// settings: then nothing can be answered and the other fields are zero.
	NoBaseline bool
	// First is the first row, in the given order, that trained normally
	// within Within points of FP32; nil when none does.
	First *rowResult
	// FewestBits is, of the rows that qualify, the first with the fewest
	// BFP mantissa bits; nil when none qualifies.
	FewestBits *rowResult
	// Closest is the first of the normally trained runs nearest to FP32
	// (largest Δ), what to quote when none qualifies; nil when no run
	// trained normally against a baseline.
	Closest *rowResult
	// Missing counts rows without an outcome (not run yet, or failed): the
	// answer may change when they have one.
	Missing int
}

// analyseWidths computes the widthAnswer of rows (narrowest first); bits
// gives a row's BFP mantissa width. The returned pointers point into rows.
func analyseWidths(rows []rowResult, bits func(rowResult) int) widthAnswer {
	var w widthAnswer
	w.NoBaseline = true
	for i := range rows {
		r := &rows[i]
		if r.FP != nil {
			w.NoBaseline = false
		}
		if r.Got == nil || r.Got.Status == Failed {
			w.Missing++
		}
	}
	if w.NoBaseline {
		return widthAnswer{NoBaseline: true}
	}
	for i := range rows {
		r := &rows[i]
		if d := r.Delta(); r.Got != nil && r.Got.Status == OK && finite(d) && (w.Closest == nil || d > w.Closest.Delta()) {
			w.Closest = r
		}
		if !r.Within() {
			continue
		}
		if w.First == nil {
			w.First = r
		}
		if w.FewestBits == nil || bits(*r) < bits(*w.FewestBits) {
			w.FewestBits = r
		}
	}
	return w
}

// optionOf returns a row's value of a backend option: set by the sweep,
// or the backend's default ("" when the backend has no such option).
type optionOf func(r Row, name string) string

// registryOptions looks options up in reg.
func registryOptions(reg *backend.Registry) optionOf {
	return func(r Row, name string) string {
		if v, ok := r.Config.BackendOptions[name]; ok {
			return v
		}
		for _, o := range reg.Options(r.Config.Backend) {
			if o.Name == name {
				return o.Default
			}
		}
		return ""
	}
}

// modelOf says which hardware model a backend emulates. It is read from
// the capabilities of the backend's typed configuration, not its name, so
// that a backend registered from another module is analysed like the
// shipped one it resembles.
type modelOf func(backendName string) hardwareModel

// hardwareModel is what the analyses need to know of a backend.
type hardwareModel int

const (
	otherModel    hardwareModel = iota // no BFP format (fp32, or unknown)
	exactBFPModel                      // BFP tiles read exactly (bfp)
	rnsModel                           // BFP tiles computed in residues (rns)
	adcModel                           // BFP tiles read by one ADC (analog)
)

// The capabilities of a backend configuration that tell its model.
type (
	rnsConfig interface{ RNSModuli() []int64 }
	adcConfig interface{ ADCWidth() int }
	bfpConfig interface{ BFPFormat() ibfp.Format }
)

// registryModels reads each backend's model from its default
// configuration in reg.
func registryModels(reg *backend.Registry) modelOf {
	return func(name string) hardwareModel {
		cfg, err := reg.NewConfig(name, nil)
		if err != nil {
			return otherModel
		}
		if _, ok := cfg.(rnsConfig); ok {
			return rnsModel
		}
		if _, ok := cfg.(adcConfig); ok {
			return adcModel
		}
		if _, ok := cfg.(bfpConfig); ok {
			return exactBFPModel
		}
		return otherModel
	}
}

// bitsAnalysis answers how narrow the converters can be: rows that vary
// rns-moduli or bfp-bits, RNS and plain BFP separately, each sorted
// narrowest first and answered by analyseWidths.
type bitsAnalysis struct {
	RNS, BFP             []rowResult
	RNSAnswer, BFPAnswer widthAnswer
	// moduli of each RNS row by ID (nil when unparsable).
	moduli map[string][]int64
	option optionOf
}

// analyseBits returns nil when no row varies rns-moduli or bfp-bits.
func analyseBits(rows []rowResult, option optionOf, model modelOf) *bitsAnalysis {
	a := &bitsAnalysis{moduli: map[string][]int64{}, option: option}
	for _, rr := range rows {
		r := rr.Row
		_, moduli := knobValue(r, "rns-moduli")
		_, bits := knobValue(r, "bfp-bits")
		switch {
		case model(r.Config.Backend) == rnsModel && (moduli || bits):
			m, err := rns.ParseModuli(option(r, "rns-moduli"))
			if err == nil {
				a.moduli[r.ID] = m
			}
			a.RNS = append(a.RNS, rr)
		case model(r.Config.Backend) == exactBFPModel && bits:
			a.BFP = append(a.BFP, rr)
		}
	}
	if len(a.RNS) == 0 && len(a.BFP) == 0 {
		return nil
	}
	// Narrowest first: by largest modulus, then range, then mantissa bits.
	sort.SliceStable(a.RNS, func(i, j int) bool {
		mi, mj := a.moduli[a.RNS[i].Row.ID], a.moduli[a.RNS[j].Row.ID]
		if x, y := maxModulus(mi), maxModulus(mj); x != y {
			return x < y
		}
		if x, y := product(mi), product(mj); x != y {
			return x < y
		}
		return a.Bits(a.RNS[i]) < a.Bits(a.RNS[j])
	})
	sort.SliceStable(a.BFP, func(i, j int) bool { return a.Bits(a.BFP[i]) < a.Bits(a.BFP[j]) })
	a.RNSAnswer = analyseWidths(a.RNS, a.Bits)
	a.BFPAnswer = analyseWidths(a.BFP, a.Bits)
	return a
}

// Bits is the row's BFP mantissa width, or a large number when
// unparsable.
func (a *bitsAnalysis) Bits(r rowResult) int {
	n, err := strconv.Atoi(a.BFPBits(r))
	if err != nil {
		return math.MaxInt
	}
	return n
}

// BFPBits is the row's bfp-bits option as written.
func (a *bitsAnalysis) BFPBits(r rowResult) string { return a.option(r.Row, "bfp-bits") }

// ModuliName is the row's rns-moduli option as written.
func (a *bitsAnalysis) ModuliName(r rowResult) string { return a.option(r.Row, "rns-moduli") }

// Moduli is the row's moduli set, nil when unparsable.
func (a *bitsAnalysis) Moduli(r rowResult) []int64 { return a.moduli[r.Row.ID] }

func maxModulus(m []int64) int64 {
	if len(m) == 0 {
		return math.MaxInt64
	}
	out := m[0]
	for _, v := range m {
		out = max(out, v)
	}
	return out
}

func product(m []int64) float64 {
	if len(m) == 0 {
		return math.Inf(1)
	}
	p := 1.0
	for _, v := range m {
		p *= float64(v)
	}
	return p
}

// noiseTable is accuracy against noise σ for one backend (σ's unit differs
// between backends): one row per σ, ascending, and one column per group
// and combination of the other knobs.
type noiseTable struct {
	Backend string
	Cols    []string
	Rows    []noiseRow
}

// noiseRow is one σ; a nil cell has no run.
type noiseRow struct {
	Sigma string
	Cells []*rowResult
}

// noiseTables tabulates the rows that set noise-sigma, backends in
// first-seen order; covered gets the IDs of the rows tabulated.
func noiseTables(rows []rowResult, covered map[string]bool) []noiseTable {
	var backends []string
	byBackend := map[string][]rowResult{}
	for _, r := range rows {
		if _, ok := knobValue(r.Row, "noise-sigma"); !ok {
			continue
		}
		be := r.Row.Config.Backend
		if byBackend[be] == nil {
			backends = append(backends, be)
		}
		byBackend[be] = append(byBackend[be], r)
		covered[r.Row.ID] = true
	}
	var out []noiseTable
	for _, be := range backends {
		rs := byBackend[be]
		groups := map[string]bool{}
		for _, r := range rs {
			groups[r.Row.Group] = true
		}
		t := noiseTable{Backend: be}
		var sigmas []string
		seenS, seenC := map[string]bool{}, map[string]bool{}
		cells := map[[2]string]*rowResult{}
		for i, r := range rs {
			sigma, _ := knobValue(r.Row, "noise-sigma")
			col := otherKnobs(r.Row, "noise-sigma")
			if col == "—" {
				col = be
			}
			if len(groups) > 1 {
				col = r.Row.Group + ": " + col
			}
			if !seenS[sigma] {
				seenS[sigma] = true
				sigmas = append(sigmas, sigma)
			}
			if !seenC[col] {
				seenC[col] = true
				t.Cols = append(t.Cols, col)
			}
			cells[[2]string{sigma, col}] = &rs[i]
		}
		sort.SliceStable(sigmas, func(i, j int) bool {
			x, errX := strconv.ParseFloat(sigmas[i], 64)
			y, errY := strconv.ParseFloat(sigmas[j], 64)
			if errX != nil || errY != nil {
				return sigmas[i] < sigmas[j]
			}
			return x < y
		})
		for _, sigma := range sigmas {
			row := noiseRow{Sigma: sigma}
			for _, c := range t.Cols {
				row.Cells = append(row.Cells, cells[[2]string{sigma, c}])
			}
			t.Rows = append(t.Rows, row)
		}
		out = append(out, t)
	}
	return out
}

// overviewTable is the results document's accuracy of every compared arm
// label (columns, in first-seen order) per comparison (rows).
type overviewTable struct {
	Labels []string
	Rows   []overviewRow
}

// overviewRow is one comparison: its arm of each label (nil: it has none)
// and its reference arm.
type overviewRow struct {
	C    *Comparison
	Arms []*ArmResult
	Ref  *ArmResult
}

// overviewOf lays out the comparisons' arms by label.
func overviewOf(cs []*Comparison) overviewTable {
	var t overviewTable
	seen := map[string]bool{}
	for _, c := range cs {
		for _, a := range c.Arms {
			if !seen[a.Label] {
				seen[a.Label] = true
				t.Labels = append(t.Labels, a.Label)
			}
		}
	}
	for _, c := range cs {
		row := overviewRow{C: c, Ref: c.reference()}
		for _, l := range t.Labels {
			var arm *ArmResult
			for i := range c.Arms {
				if c.Arms[i].Label == l {
					arm = &c.Arms[i]
				}
			}
			row.Arms = append(row.Arms, arm)
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}
