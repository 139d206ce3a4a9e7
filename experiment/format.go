package experiment

// The cells of the Markdown documents: how a number, a status or a set of
// options is written. Each is a plain function, used by the templates
// through formatFuncs.

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/mirage-go/mirage/backend"
)

// formatFuncs are the functions the templates call.
func formatFuncs() template.FuncMap {
	return template.FuncMap{
		"pct":           func(x any) string { return pct(toFloat(x)) },
		"pctOrDash":     func(x any) string { return pctOrDash(toFloat(x)) },
		"num":           func(x any) string { return num(toFloat(x)) },
		"seconds":       func(x any) string { return seconds(toFloat(x)) },
		"rate":          func(x any) string { return rate(toFloat(x)) },
		"points":        func(x any) string { return pointsText(toFloat(x)) },
		"g":             func(x any) string { return fmt.Sprintf("%g", toFloat(x)) },
		"g3":            func(x any) string { return fmt.Sprintf("%.3g", toFloat(x)) },
		"f2":            func(x any) string { return fmt.Sprintf("%.2f", toFloat(x)) },
		"finite":        func(x any) bool { return finite(toFloat(x)) },
		"cell":          cellText,
		"status":        statusText,
		"upper":         func(s Status) string { return strings.ToUpper(string(s)) },
		"options":       optionsText,
		"short":         short,
		"anchor":        anchor,
		"join":          strings.Join,
		"stats":         func(stats any) string { return statsText(backendTotals(stats)) },
		"inc":           func(i int) int { return i + 1 },
		"oneLine":       func(s string) string { return strings.Join(strings.Fields(s), " ") },
		"trim":          strings.TrimSpace,
		"trimPNG":       func(s string) string { return strings.TrimSuffix(s, ".png") },
		"limit":         limitText,
		"resultStats":   resultStats,
		"lastTrainLoss": lastTrainLoss,
	}
}

// toFloat converts the numeric types of the typed rows for the templates.
func toFloat(x any) float64 {
	switch v := x.(type) {
	case float64:
		return v
	case jsonFloat:
		return float64(v)
	case float32:
		return float64(v)
	case int:
		return float64(v)
	}
	panic(fmt.Sprintf("toFloat: %T is not a number", x))
}

func statusText(s Status) string {
	if s == OK {
		return "ok"
	}
	return "**" + strings.ToUpper(string(s)) + "**"
}

func pct(x float64) string {
	if !finite(x) {
		return "NaN"
	}
	return fmt.Sprintf("%.2f%%", 100*x)
}

func num(x float64) string {
	switch {
	case !finite(x):
		return "NaN"
	case math.Abs(x) >= 1e4:
		return fmt.Sprintf("%.3g", x) // a loss that blew up
	}
	return fmt.Sprintf("%.4f", x)
}

func short(hash string) string {
	if len(hash) > 16 {
		return hash[:16]
	}
	return hash
}

func seconds(x float64) string {
	if !finite(x) {
		return "—"
	}
	return fmt.Sprintf("%.1f s", x)
}

func rate(x float64) string {
	if !finite(x) || x <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f", x)
}

// pointsText is a difference in percentage points, "—" when unknown.
func pointsText(d float64) string {
	if !finite(d) {
		return "—"
	}
	return fmt.Sprintf("%+.2f", d)
}

// deltaText is a−ref in percentage points, "—" when either is unknown.
func deltaText(a, ref float64) string {
	return pointsText(100 * (a - ref))
}

func pctOrDash(x float64) string {
	if !finite(x) {
		return "—"
	}
	return pct(x)
}

func optionsText(opts backend.Options) string {
	if len(opts) == 0 {
		return "defaults"
	}
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%s", k, opts[k])
	}
	return "`" + strings.Join(parts, " ") + "`"
}

// cellText keeps a value from breaking a Markdown table.
func cellText(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}

// anchor is the GitHub anchor of a heading.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// limitText is a training or test limit: 0 means the whole set.
func limitText(n int) string {
	if n == 0 {
		return "all"
	}
	return fmt.Sprintf("%d (spread evenly through the set)", n)
}

// resultStats is the backend error statistics cell of a sweep row.
func resultStats(got *ResultRow) string {
	return statsText(got.BackendStats)
}

// resultFuncs are the cells of the results document's sweep and
// comparison tables.
func resultFuncs() template.FuncMap {
	return template.FuncMap{
		"rowStatus":  rowStatusText,
		"rowAcc":     rowAccText,
		"rowDelta":   func(r rowResult) string { return pointsText(r.Delta()) },
		"rowCell":    rowCell,
		"rowWithin":  rowWithinText,
		"armCell":    armCell,
		"progress":   progressText,
		"moduli":     func(a *bitsAnalysis, r rowResult) string { return moduliText(a.ModuliName(r), a.Moduli(r)) },
		"widthText":  widthText,
		"maxModulus": maxModulus,
		"log2":       func(m int64) float64 { return math.Log2(float64(m)) },
		"otherKnobs": otherKnobs,
		"knobs": func(r Row) string {
			if len(r.Knobs) == 0 {
				return "—"
			}
			return r.Label()
		},
		"title":  compareTitle,
		"within": func() float64 { return Within },
		"answers": func(prefix string, a *bitsAnalysis) bitsAnswers {
			return bitsAnswers{Prefix: prefix, Within: Within, A: a}
		},
	}
}

func rowStatusText(r rowResult) string {
	if r.Got == nil {
		return "not run yet"
	}
	return statusText(r.Got.Status)
}

func rowAccText(r rowResult) string {
	if !r.HasOutcome() {
		return "—"
	}
	return pct(float64(r.Got.FinalTestAcc))
}

// rowCell is the row as one table cell: accuracy, Δ, and any bad status;
// "—" for no row.
func rowCell(r *rowResult) string {
	switch {
	case r == nil:
		return "—"
	case r.Got == nil:
		return "not run yet"
	}
	var parts []string
	if acc := float64(r.Got.FinalTestAcc); r.Got.Status != Failed && finite(acc) {
		parts = append(parts, pct(acc))
		if d := r.Delta(); finite(d) && !r.IsBaseline() {
			parts = append(parts, "("+pointsText(d)+")")
		}
	}
	if r.Got.Status != OK {
		parts = append(parts, statusText(r.Got.Status))
	}
	return strings.Join(parts, " ")
}

// rowWithinText answers "within Within points of FP32?" for a table: no
// for a run that did not train normally, — when Δ is unknown.
func rowWithinText(r rowResult) string {
	switch {
	case r.Got != nil && r.Got.Status != OK:
		return "no"
	case !finite(r.Delta()):
		return "—"
	case r.Within():
		return "yes"
	}
	return "no"
}

// armCell is an arm's accuracy, Δ and status for the overview table.
func armCell(a *ArmResult, ref *ArmResult) string {
	st := a.status()
	if a.Outcome == nil {
		return statusText(st)
	}
	var parts []string
	if acc := a.Outcome.Summary.FinalTestAcc; finite(acc) {
		parts = append(parts, pct(acc))
		switch {
		case ref != nil && ref.Label == a.Label:
			parts = append(parts, "(reference)")
		case ref != nil && ref.Outcome != nil:
			parts = append(parts, "("+deltaText(acc, ref.Outcome.Summary.FinalTestAcc)+")")
		}
	}
	if st != OK {
		parts = append(parts, statusText(st))
	}
	return strings.Join(parts, " ")
}

// progressText is a planned arm's status cell.
func progressText(a armProgress) string {
	switch a.State {
	case armNotStarted:
		return "not started"
	case armUnfinished:
		s := fmt.Sprintf("**unfinished**: %d of %d epochs done", a.EpochsDone, a.Epochs)
		if a.StateSaved {
			s += ", resumable state saved"
		}
		if a.Note != "" {
			s += "; " + a.Note
		}
		return s
	case armOther:
		return "**other settings**: " + a.Note
	}
	if a.Outcome.Status != OK {
		return statusText(a.Outcome.Status)
	}
	return "finished"
}

// moduliText names a moduli set: "special-k6 = {63, 64, 65}", or the set
// alone when name lists it.
func moduliText(name string, m []int64) string {
	if m == nil {
		return name + " (unparsable)"
	}
	parts := make([]string, len(m))
	for i, v := range m {
		parts[i] = strconv.FormatInt(v, 10)
	}
	set := "{" + strings.Join(parts, ", ") + "}"
	if strings.ReplaceAll(name, " ", "") == strings.Join(parts, ",") {
		return set
	}
	return name + " = " + set
}

// widthText is the bit width of the largest modulus, log2 of it: 6.02
// for 65, so the special-kK sets are about K bits wide.
func widthText(m []int64) string {
	if m == nil {
		return "?"
	}
	return fmt.Sprintf("%d (%.2f bits)", maxModulus(m), math.Log2(float64(maxModulus(m))))
}
