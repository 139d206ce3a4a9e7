package experiment

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/registry"
	"github.com/mirage-go/mirage/train"
)

// The analysis functions of the documents, table-tested on hand-made rows:
// no files, no Markdown.

// knobRow is a sweep row of backend with knobs given as name, value pairs;
// its ID is id and its options are its knobs.
func knobRow(index int, id, group, be string, kv ...string) Row {
	r := Row{Index: index, ID: id, Group: group, Config: train.Config{Backend: be, BackendOptions: backend.Options{}}}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Knobs = append(r.Knobs, Knob{Name: kv[i], Value: kv[i+1]})
		r.Config.BackendOptions[kv[i]] = kv[i+1]
	}
	return r
}

// result is a finished row's result with final accuracy acc (fraction).
func result(r Row, status Status, acc float64) *ResultRow {
	return &ResultRow{ID: r.ID, Index: r.Index, Status: status, FinalTestAcc: jsonFloat(acc), Why: "why " + r.ID, Error: "error " + r.ID}
}

// ids returns the row IDs of rs, "" for a nil entry.
func ids(rs []*rowResult) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		if r != nil {
			out[i] = r.Row.ID
		}
	}
	return out
}

func TestNoiseTables(t *testing.T) {
	fp := &ResultRow{ID: "fp", Status: OK, FinalTestAcc: 0.99}
	row := func(i int, id, group, be string, kv ...string) rowResult {
		r := knobRow(i, id, group, be, kv...)
		return rowResult{Row: r, Got: result(r, OK, 0.9), FP: fp}
	}
	tests := []struct {
		name    string
		rows    []rowResult
		want    []noiseTable // cells as row IDs, "" for none
		cells   [][][]string
		covered []string
	}{
		{
			name: "σ ascending as numbers, one column per other knob, a missing combination is empty",
			rows: []rowResult{
				row(0, "fp32", "", "fp32"),
				row(1, "a", "", "rns", "noise-sigma", "0.12", "rrns-redundant", "0"),
				row(2, "b", "", "rns", "noise-sigma", "0.1", "rrns-redundant", "0"),
				row(3, "c", "", "rns", "noise-sigma", "1e-2", "rrns-redundant", "2"),
			},
			want:    []noiseTable{{Backend: "rns", Cols: []string{"rrns-redundant=0", "rrns-redundant=2"}}},
			cells:   [][][]string{{{"", "c"}, {"b", ""}, {"a", ""}}},
			covered: []string{"a", "b", "c"},
		},
		{
			name: "one table per backend; no other knob names the backend; several groups prefix the column",
			rows: []rowResult{
				row(0, "r1", "g1", "rns", "noise-sigma", "0.1"),
				row(1, "r2", "g2", "rns", "noise-sigma", "0.1"),
				row(2, "a1", "an", "analog", "noise-sigma", "0.5"),
			},
			want: []noiseTable{
				{Backend: "rns", Cols: []string{"g1: rns", "g2: rns"}},
				{Backend: "analog", Cols: []string{"analog"}},
			},
			cells:   [][][]string{{{"r1", "r2"}}, {{"a1"}}},
			covered: []string{"r1", "r2", "a1"},
		},
		{
			name: "unparsable σ sort as text after none",
			rows: []rowResult{
				row(0, "x", "", "rns", "noise-sigma", "b"),
				row(1, "y", "", "rns", "noise-sigma", "a"),
			},
			want:    []noiseTable{{Backend: "rns", Cols: []string{"rns"}}},
			cells:   [][][]string{{{"y"}, {"x"}}},
			covered: []string{"x", "y"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			covered := map[string]bool{}
			got := noiseTables(tc.rows, covered)
			require.Len(t, got, len(tc.want))
			for i, w := range tc.want {
				require.Equal(t, w.Backend, got[i].Backend)
				require.Equal(t, w.Cols, got[i].Cols)
				require.Len(t, got[i].Rows, len(tc.cells[i]))
				for j, r := range got[i].Rows {
					require.Equal(t, tc.cells[i][j], ids(r.Cells), "table %d, σ %s", i, r.Sigma)
				}
			}
			var c []string
			for id := range covered {
				c = append(c, id)
			}
			require.ElementsMatch(t, tc.covered, c)
		})
	}
}

func TestAnalyseBitsOrdersNarrowestFirst(t *testing.T) {
	fp := &ResultRow{ID: "fp", Status: OK, FinalTestAcc: 0.99}
	defaults := func(r Row, name string) string {
		if v, ok := r.Config.BackendOptions[name]; ok {
			return v
		}
		return map[string]string{"bfp-bits": "8", "rns-moduli": "special-k6"}[name]
	}
	mk := func(i int, id, be string, kv ...string) rowResult {
		r := knobRow(i, id, "", be, kv...)
		return rowResult{Row: r, Got: result(r, OK, 0.99), FP: fp}
	}
	rows := []rowResult{
		mk(0, "fp32", "fp32"),
		mk(1, "k6", "rns", "bfp-bits", "4"),                              // default moduli special-k6: max 65
		mk(2, "wide", "rns", "rns-moduli", "7,9,11,13", "bfp-bits", "5"), // max 13, range 9009
		mk(3, "narrow", "rns", "rns-moduli", "5,7,13", "bfp-bits", "6"),  // max 13, range 455: first
		mk(4, "same", "rns", "rns-moduli", "5,7,13", "bfp-bits", "3"),    // same set, fewer bits: before narrow
		mk(5, "bad", "rns", "rns-moduli", "nonsense"),                    // unparsable: last
		mk(6, "b6", "bfp", "bfp-bits", "6"),
		mk(7, "b3", "bfp", "bfp-bits", "3"),
		mk(8, "noise", "rns", "noise-sigma", "0.1"), // varies neither: left out
		mk(9, "xb", "bfp", "bfp-bits", "x"),
	}
	a := analyseBits(rows, defaults, registryModels(registry.New()))
	require.NotNil(t, a)
	var rnsIDs, bfpIDs []string
	for _, r := range a.RNS {
		rnsIDs = append(rnsIDs, r.Row.ID)
	}
	for _, r := range a.BFP {
		bfpIDs = append(bfpIDs, r.Row.ID)
	}
	require.Equal(t, []string{"same", "narrow", "wide", "k6", "bad"}, rnsIDs)
	require.Equal(t, []string{"b3", "b6", "xb"}, bfpIDs)
	require.Equal(t, []int64{63, 64, 65}, a.Moduli(a.RNS[3]), "options the sweep does not set are the backend's defaults")
	require.Nil(t, a.Moduli(a.RNS[4]))
	require.Equal(t, 8, a.Bits(a.RNS[4]), "the default bfp-bits of a row that does not set it")
	require.Equal(t, math.MaxInt, a.Bits(a.BFP[2]), "unparsable bits sort last")
	require.Equal(t, "same", a.RNSAnswer.First.Row.ID)
	require.Equal(t, "b3", a.BFPAnswer.First.Row.ID)

	require.Nil(t, analyseBits(rows[:1], defaults, registryModels(registry.New())), "no row varies moduli or width")
	require.Nil(t, analyseBits(rows[8:9], defaults, registryModels(registry.New())))
}

func TestOverviewOf(t *testing.T) {
	arm := func(label, be string, acc float64) ArmResult {
		return ArmResult{Arm: Arm{Label: label, Backend: be}, Outcome: &Outcome{Summary: train.Summary{FinalTestAcc: acc}, Status: OK}}
	}
	a := &Comparison{Reference: "fp32", Arms: []ArmResult{arm("fp32", "fp32", 0.9), arm("rns", "rns", 0.8)}}
	b := &Comparison{Reference: "rns", Arms: []ArmResult{arm("rns", "rns", 0.7), arm("analog", "analog", 0.6)}}
	got := overviewOf([]*Comparison{a, b})
	require.Equal(t, []string{"fp32", "rns", "analog"}, got.Labels)
	require.Len(t, got.Rows, 2)
	require.Equal(t, []*ArmResult{&a.Arms[0], &a.Arms[1], nil}, got.Rows[0].Arms)
	require.Equal(t, []*ArmResult{nil, &b.Arms[0], &b.Arms[1]}, got.Rows[1].Arms)
	require.Same(t, &a.Arms[0], got.Rows[0].Ref)
	require.Same(t, &b.Arms[0], got.Rows[1].Ref)
	require.Empty(t, overviewOf(nil).Labels)
}

func TestSweepRunsAndBadRuns(t *testing.T) {
	fp := knobRow(0, "fp", "", "fp32")
	ok1 := knobRow(1, "ok", "", "rns", "tile", "32")
	bad := knobRow(2, "bad", "", "rns", "tile", "64")
	div := knobRow(3, "div", "", "rns", "tile", "128")
	todo := knobRow(4, "todo", "", "bfp", "bfp-bits", "4")
	other := knobRow(5, "other", "", "rns", "tile", "16")
	other.Config.Epochs = 9 // other training settings: no baseline
	res := &SweepResult{Rows: rowList{fp, ok1, bad, div, todo, other}, Results: map[string]*ResultRow{
		"fp": result(fp, OK, 0.9), "ok": result(ok1, OK, 0.85), "bad": result(bad, Failed, math.NaN()),
		"div": result(div, Diverged, math.NaN()), "other": result(other, OK, 0.5)}}
	runs := sweepRuns(res)
	require.Len(t, runs, 6)
	require.Equal(t, []string{"—", "—"}, runs[0].Knobs)
	require.Equal(t, []string{"32", "—"}, runs[1].Knobs)
	require.Equal(t, []string{"—", "4"}, runs[4].Knobs)
	for i, want := range []float64{math.NaN(), -5, math.NaN(), math.NaN(), math.NaN(), math.NaN()} {
		if math.IsNaN(want) {
			require.True(t, math.IsNaN(runs[i].Delta), "row %d: Δ %v, want none", i, runs[i].Delta)
		} else {
			require.InDelta(t, want, runs[i].Delta, 1e-9, "row %d", i)
		}
	}
	require.Nil(t, runs[4].Got)

	b := badRuns(res.Rows, res.Results)
	require.Len(t, b, 2)
	require.Equal(t, "bad", b[0].Row.ID)
	require.Equal(t, "error bad", b[0].Reason(), "a failed run gives its error")
	require.Equal(t, "div", b[1].Row.ID)
	require.Equal(t, "why div", b[1].Reason(), "a diverged run gives why")
}

func TestCompareArmsAndEpochRows(t *testing.T) {
	ms := []train.EpochMetrics{{Epoch: 1, TestAcc: 0.5}, {Epoch: 2, TestAcc: 0.9}}
	c := &Comparison{Config: train.Config{Epochs: 3}, Reference: "fp32", Arms: []ArmResult{
		{Arm: Arm{Label: "fp32", Backend: "fp32"}, Outcome: &Outcome{Summary: train.Summary{FinalTestAcc: 0.9}, Metrics: ms, Status: OK}},
		{Arm: Arm{Label: "rns", Backend: "rns"}, Outcome: &Outcome{Summary: train.Summary{FinalTestAcc: 0.88}, Metrics: ms[:1], Status: OK}},
		{Arm: Arm{Label: "bfp", Backend: "bfp"}, Error: "refused"},
	}}
	arms := compareArms(c)
	require.True(t, math.IsNaN(arms[0].Delta), "the reference has no Δ")
	require.InDelta(t, -2, arms[1].Delta, 1e-9)
	require.True(t, math.IsNaN(arms[2].Delta))
	require.Equal(t, Failed, arms[2].Status, "an arm without an outcome failed")

	rows := epochRows(c)
	require.Len(t, rows, 3, "one row per configured epoch")
	require.Equal(t, []*train.EpochMetrics{&ms[0], &ms[0], nil}, rows[0].Cells)
	require.Equal(t, []*train.EpochMetrics{&ms[1], nil, nil}, rows[1].Cells)
	require.Equal(t, []*train.EpochMetrics{nil, nil, nil}, rows[2].Cells)
	require.Equal(t, 3, rows[2].Epoch)

	// Without a reference arm nothing has a Δ.
	c.Reference = "gone"
	for _, a := range compareArms(c) {
		require.True(t, math.IsNaN(a.Delta))
	}
}

func TestWidthRows(t *testing.T) {
	runs := []widthRun{{Bits: 10, Done: true, OK: true, Acc: 0.61}, {Bits: 6, Done: true, Acc: 0.11}, {Bits: 8}}
	rows := widthRows(runs, 0.6, true)
	require.Equal(t, []int{6, 8, 10}, []int{rows[0].Bits, rows[1].Bits, rows[2].Bits})
	require.InDelta(t, -49, rows[0].Delta, 1e-9)
	require.True(t, math.IsNaN(rows[1].Delta), "not run yet")
	require.InDelta(t, 1, rows[2].Delta, 1e-9)
	for _, r := range widthRows(runs, 0.6, false) {
		require.True(t, math.IsNaN(r.Delta), "no FP32 run: no Δ")
	}
	require.Equal(t, 10, runs[0].Bits, "the input is not reordered")
}

func TestSeedGroups(t *testing.T) {
	arms := []Arm{{Label: "fp32", Backend: "fp32"}, {Label: "rns", Backend: "rns"}}
	plan := func(seed uint64, epochs int, arms []Arm) *fullInput {
		return &fullInput{plan: CompareConfig{Base: train.Config{Model: "lenet", Dataset: "mnist", Epochs: epochs, Seed: seed}, Arms: arms}}
	}
	a1, a2, a3 := plan(1, 3, arms), plan(2, 3, arms), plan(3, 3, arms)
	longer := plan(1, 9, arms) // other epochs: another group, of one
	fewer := plan(2, 3, arms[:1])
	groups := seedGroups([]*fullInput{a1, longer, a2, fewer, a3})
	require.Equal(t, [][]*fullInput{{a1, a2, a3}}, groups, "groups of one are left out")
	require.Empty(t, seedGroups([]*fullInput{a1}))

	// A second seed that reran only some arms (BERT's fp32 and rns of six)
	// joins the first; the summary covers the arms both have.
	finished := func(label string, acc float64) armProgress {
		return armProgress{Arm: Arm{Label: label}, State: armFinished, Outcome: &Outcome{Status: OK, Summary: train.Summary{FinalTestAcc: acc}}}
	}
	first := plan(1, 3, append(arms, Arm{Label: "bfp", Backend: "bfp"}))
	first.arms = []armProgress{finished("fp32", 0.86), finished("rns", 0.856), finished("bfp", 0.856)}
	second := plan(2, 3, arms)
	second.arms = []armProgress{finished("fp32", 0.858), finished("rns", 0.86)}
	groups = seedGroups([]*fullInput{first, second})
	require.Equal(t, [][]*fullInput{{first, second}}, groups)
	runs := seedRuns(groups[0])
	require.Equal(t, []seedRun{{1, "fp32", 0.86, true}, {1, "rns", 0.856, true}, {2, "fp32", 0.858, true}, {2, "rns", 0.86, true}}, runs, "bfp ran for one seed only")
}
