package cost

import (
	"fmt"
	"math"
	"sort"

	"github.com/mirage-go/mirage/backend"
)

// Row is the cost of one layer and role.
type Row struct {
	Layer string `json:"layer"`
	Role  string `json:"role"`
	Cost
}

// Result is a workload priced on one piece of hardware.
type Result struct {
	Hardware string  `json:"hardware"`
	Arrays   int     `json:"arrays"`
	AreaMM2  float64 `json:"area_mm2"`
	// Rows are per layer and role, sorted by layer then role.
	Rows []Row `json:"per_layer"`
	// GEMM is the sum of Rows; NonGEMM the digital host's share; Total
	// both (run one after the other).
	GEMM    Cost `json:"gemm"`
	NonGEMM Cost `json:"non_gemm"`
	Total   Cost `json:"total"`
}

// Evaluate prices every record of w on hw.
func Evaluate(hw Hardware, w Workload) (Result, error) {
	res := Result{Hardware: hw.Name(), Arrays: hw.Arrays(), AreaMM2: hw.AreaMM2()}
	type key struct {
		layer string
		role  backend.Role
	}
	per := map[key]*Cost{}
	for _, r := range w.Records {
		c, err := hw.GEMM(r, w.Format)
		if err != nil {
			return res, err
		}
		k := key{r.Layer, r.Role}
		if per[k] == nil {
			per[k] = &Cost{}
		}
		per[k].Add(c)
		res.GEMM.Add(c)
	}
	keys := make([]key, 0, len(per))
	for k := range per {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].layer != keys[j].layer {
			return keys[i].layer < keys[j].layer
		}
		return keys[i].role < keys[j].role
	})
	for _, k := range keys {
		res.Rows = append(res.Rows, Row{Layer: k.layer, Role: k.role.String(), Cost: *per[k]})
	}
	res.NonGEMM = hw.Host(w.NonGEMM.Ops)
	res.Total.Add(res.GEMM)
	res.Total.Add(res.NonGEMM)
	return res, nil
}

// Iso says how the baseline is scaled before a comparison.
type Iso int

const (
	// IsoNone compares the designs as their parameter files give them.
	IsoNone Iso = iota
	// IsoEnergy gives the baseline as many arrays as makes its average
	// power on the GEMMs closest to the accelerator's: the same energy
	// budget per unit time. (The energy of a step hardly depends on the
	// number of arrays, only how fast it is spent, so equal energy per
	// step cannot be reached by scaling; see COST.md.)
	IsoEnergy
	// IsoArea gives the baseline as many arrays as fit in the
	// accelerator's area.
	IsoArea
)

func (i Iso) String() string {
	switch i {
	case IsoEnergy:
		return "energy"
	case IsoArea:
		return "area"
	}
	return "none"
}

// ParseIso is the inverse of Iso.String.
func ParseIso(s string) (Iso, error) {
	for _, i := range []Iso{IsoNone, IsoEnergy, IsoArea} {
		if i.String() == s {
			return i, nil
		}
	}
	return 0, fmt.Errorf("unknown --iso %q (valid: none, energy, area)", s)
}

// Ratios are baseline over accelerator: above 1 the accelerator is faster,
// spends less energy, has a lower EDP, draws less power. A ratio whose
// accelerator figure is 0 (no work) is 0.
type Ratios struct {
	Speedup float64 `json:"speedup"`
	Energy  float64 `json:"energy"`
	EDP     float64 `json:"edp"`
	Power   float64 `json:"power"`
}

func ratios(base, acc Cost) Ratios {
	div := func(a, b float64) float64 {
		if b == 0 {
			return 0 // undefined (no work): 0 keeps the JSON valid
		}
		return a / b
	}
	return Ratios{
		Speedup: div(base.Seconds, acc.Seconds),
		Energy:  div(base.Joules, acc.Joules),
		EDP:     div(base.EDP(), acc.EDP()),
		Power:   div(base.Watts(), acc.Watts()),
	}
}

// Comparison is a workload priced on an accelerator and a baseline.
type Comparison struct {
	Iso         string `json:"iso"`
	Accelerator Result `json:"accelerator"`
	Baseline    Result `json:"baseline"`
	// GEMM compares the matrix products only; Total includes the non-GEMM
	// work, which costs the same on both.
	GEMM  Ratios `json:"gemm_ratios"`
	Total Ratios `json:"total_ratios"`
}

// maxArrays bounds the scaled baseline.
const maxArrays = 1 << 20

// Compare prices w on acc and on base, scaled as iso says.
func Compare(acc, base Hardware, w Workload, iso Iso) (Comparison, error) {
	a, err := Evaluate(acc, w)
	if err != nil {
		return Comparison{}, err
	}
	switch iso {
	case IsoArea:
		n := int(math.Floor(acc.AreaMM2() / (base.AreaMM2() / float64(base.Arrays()))))
		base = base.WithArrays(max(1, min(n, maxArrays)))
	case IsoEnergy:
		base, err = matchPower(base, w, a.GEMM.Watts())
		if err != nil {
			return Comparison{}, err
		}
	}
	b, err := Evaluate(base, w)
	if err != nil {
		return Comparison{}, err
	}
	return Comparison{Iso: iso.String(), Accelerator: a, Baseline: b, GEMM: ratios(b.GEMM, a.GEMM), Total: ratios(b.Total, a.Total)}, nil
}

// matchPower returns base with the number of arrays whose GEMM power is
// closest to watts. Power grows with the number of arrays (the same
// energy is spent in less time), so a bisection finds it.
func matchPower(base Hardware, w Workload, watts float64) (Hardware, error) {
	power := func(n int) (float64, error) {
		r, err := Evaluate(base.WithArrays(n), Workload{Records: w.Records, Format: w.Format})
		return r.GEMM.Watts(), err
	}
	lo, hi := 1, maxArrays
	for lo < hi {
		mid := (lo + hi) / 2
		p, err := power(mid)
		if err != nil {
			return nil, err
		}
		if p < watts {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	best := lo
	if lo > 1 {
		p1, err1 := power(lo)
		p0, err0 := power(lo - 1)
		if err0 == nil && err1 == nil && math.Abs(p0-watts) < math.Abs(p1-watts) {
			best = lo - 1
		}
	}
	return base.WithArrays(best), nil
}
