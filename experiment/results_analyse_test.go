package experiment

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// widthCase is one sweep row for analyseWidths: its BFP width and outcome.
type widthCase struct {
	id     string
	bits   int
	status Status
	acc    float64 // percent; ignored for a row without a result
	run    bool    // false: not run yet
}

// widthCaseRows builds the rows of cases, measured against the FP32 run fp,
// and the function giving each row's BFP width.
func widthCaseRows(fp *ResultRow, cases ...widthCase) ([]rowResult, func(rowResult) int) {
	rows := make([]rowResult, len(cases))
	bits := map[string]int{}
	for i, c := range cases {
		rows[i] = rowResult{Row: Row{Index: i, ID: c.id}, FP: fp}
		if c.run {
			rows[i].Got = &ResultRow{ID: c.id, Status: c.status, FinalTestAcc: jsonFloat(c.acc / 100)}
		}
		bits[c.id] = c.bits
	}
	return rows, func(r rowResult) int { return bits[r.Row.ID] }
}

// id returns the ID of the row r points to, "" for nil.
func id(r *rowResult) string {
	if r == nil {
		return ""
	}
	return r.Row.ID
}

func TestAnalyseWidths(t *testing.T) {
	fp := &ResultRow{ID: "fp32", Status: OK, FinalTestAcc: 0.98}
	tests := []struct {
		name                   string
		fp                     *ResultRow
		rows                   []widthCase
		noBaseline             bool
		first, fewest, closest string
		missing                int
	}{
		{
			name: "the first qualifying row is the narrowest; fewest bits may be a later row",
			fp:   fp,
			rows: []widthCase{
				{"a", 6, OK, 90, true},   // −8 points: out
				{"b", 8, OK, 97.6, true}, // −0.4: in
				{"c", 4, OK, 97.9, true}, // in, fewer bits
				{"d", 4, OK, 98.0, true}, // in, as few bits but later
			},
			first: "b", fewest: "c", closest: "d",
		},
		{
			name:  "exactly −0.5 points qualifies",
			fp:    fp,
			rows:  []widthCase{{"a", 5, OK, 97.5, true}},
			first: "a", fewest: "a", closest: "a",
		},
		{
			name: "none qualifies: the closest normal run is quoted; diverged and collapsed runs are not normal",
			fp:   fp,
			rows: []widthCase{
				{"a", 3, Diverged, 99, true},
				{"b", 4, OK, 95, true},
				{"c", 5, Collapsed, 98, true},
				{"d", 6, OK, 96, true},
				{"e", 7, OK, 96, true}, // as close as d, but later
			},
			closest: "d",
		},
		{
			name: "failed and unrun rows are missing, and never qualify",
			fp:   fp,
			rows: []widthCase{
				{"a", 3, Failed, 0, true},
				{"b", 4, OK, 0, false},
				{"c", 5, OK, 98, true},
			},
			first: "c", fewest: "c", closest: "c", missing: 2,
		},
		{
			name:       "without an FP32 run nothing is answered",
			rows:       []widthCase{{"a", 3, OK, 98, true}, {"b", 4, OK, 0, false}},
			noBaseline: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows, bits := widthCaseRows(tc.fp, tc.rows...)
			w := analyseWidths(rows, bits)
			require.Equal(t, tc.noBaseline, w.NoBaseline)
			require.Equal(t, tc.first, id(w.First), "first")
			require.Equal(t, tc.fewest, id(w.FewestBits), "fewest bits")
			require.Equal(t, tc.closest, id(w.Closest), "closest")
			require.Equal(t, tc.missing, w.Missing, "missing")
		})
	}
}
