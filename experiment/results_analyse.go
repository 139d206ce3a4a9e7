package experiment

// This file holds the analysis behind the results document as pure
// functions over typed rows: no Markdown, no files, so each answer is
// unit-tested on its own (results_analyse_test.go) and results.go only
// words it.

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
		if r.fp != nil {
			w.NoBaseline = false
		}
		if r.got == nil || r.got.Status == Failed {
			w.Missing++
		}
	}
	if w.NoBaseline {
		return widthAnswer{NoBaseline: true}
	}
	for i := range rows {
		r := &rows[i]
		if d := r.delta(); r.got != nil && r.got.Status == OK && finite(d) && (w.Closest == nil || d > w.Closest.delta()) {
			w.Closest = r
		}
		if !r.within() {
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
